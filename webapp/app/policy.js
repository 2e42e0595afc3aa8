// The room's group policy in the browser: the same four rules as keyservice/policy in Go
// (docs/protocol.md, "Who may change the group"), as a ts-mls IncomingMessageCallback. The
// page never relies on the server having checked: a commit or proposal the policy refuses
// is not applied, and the refusal is reported (onViolation) so the page can raise its alarm.
//
//  1. Add and Remove come only from the server (the group's external sender) and are
//     committed by reference; no member proposes them, no Commit carries one by value.
//  2. A member proposes only an Update of its own leaf; a Commit may carry its own path.
//  3. An external Commit only replaces the joiner's own earlier leaf: one ExternalInit and one
//     Remove, by value, of a leaf with the joiner's identity, and nothing else.
//  4. No GroupContextExtensions, ReInit or PreSharedKey proposal, ever.

const dec = new TextDecoder();

const identityAt = (tree, leaf) => {
  const node = tree?.[leaf * 2];
  return node?.nodeType === 'leaf' && node.leaf.credential.credentialType === 'basic' ? dec.decode(node.leaf.credential.identity) : null;
};

// forbidden returns the rule-4 violation of a proposal, or ''.
function forbidden(p) {
  switch (p.proposalType) {
    case 'add':
    case 'update':
    case 'remove':
    case 'external_init':
      return '';
    case 'group_context_extensions':
    case 'reinit':
    case 'psk':
      return `rule 4: ${p.proposalType} proposals are not allowed`;
  }
  return `rule 4: proposal type ${p.proposalType} is not allowed`;
}

// proposalViolation judges a proposal on its own; sender is the proposer's leaf index, or
// undefined for the external sender (the server).
function proposalViolation(p, sender) {
  const f = forbidden(p);
  if (f) return f;
  if ((p.proposalType === 'add' || p.proposalType === 'remove') && sender !== undefined) return `rule 1: only the server proposes ${p.proposalType}`;
  if (p.proposalType === 'update' && sender === undefined) return 'rule 2: an update comes from the member whose leaf it updates';
  if (p.proposalType === 'external_init') return 'rule 3: external_init travels only inside an external commit';
  return '';
}

// memberCommitViolation judges a member's commit from the proposals ts-mls resolved: each
// carries its proposer, the committer itself for one carried by value.
function memberCommitViolation(committer, proposals) {
  for (const { proposal, senderLeafIndex } of proposals) {
    const f = forbidden(proposal);
    if (f) return f;
    if (senderLeafIndex === committer) return `rule 1: a member's commit carries no proposal of its own (${proposal.proposalType})`;
    const why = proposalViolation(proposal, senderLeafIndex);
    if (why) return why;
  }
  return '';
}

// externalCommitViolation judges an external commit (always a PublicMessage, RFC 9420
// §12.4.3.2) from its content, against the group state it would apply to.
export function externalCommitViolation(content, state) {
  if (content?.contentType !== 'commit') return 'rule 3: an external commit travels as a PublicMessage';
  const commit = content.commit;
  let inits = 0;
  let removed = -1;
  for (const por of commit.proposals) {
    if (por.proposalOrRefType !== 'proposal') return 'rule 3: an external commit covers no proposal by reference';
    const p = por.proposal;
    const f = forbidden(p);
    if (f) return f;
    if (p.proposalType === 'external_init') inits++;
    else if (p.proposalType === 'remove' && removed < 0) removed = p.remove.removed;
    else return `rule 3: an external commit carries no further ${p.proposalType}`;
  }
  if (inits !== 1 || removed < 0) return 'rule 3: an external commit replaces exactly one earlier leaf of its own';
  const joiner = commit.path?.leafNode?.credential;
  const old = identityAt(state.ratchetTree, removed);
  if (!joiner || joiner.credentialType !== 'basic' || old === null || old !== dec.decode(joiner.identity)) {
    return "rule 3: an external commit may remove only the joiner's own earlier leaf";
  }
  return '';
}

// roomPolicy is the IncomingMessageCallback for one incoming message: message is the decoded
// MLSMessage, state the group state it applies to. onViolation(reason) hears every refusal.
export function roomPolicy(message, state, onViolation) {
  return (incoming) => {
    let why;
    if (incoming.kind === 'proposal') why = proposalViolation(incoming.proposal.proposal, incoming.proposal.senderLeafIndex);
    else if (incoming.senderLeafIndex === undefined) why = externalCommitViolation(message?.publicMessage?.content, state);
    else why = memberCommitViolation(incoming.senderLeafIndex, incoming.proposals);
    if (why) onViolation?.(why);
    return why ? 'reject' : 'accept';
  };
}
