package mls

import (
	"bytes"
	"fmt"
	"time"
)

// ExternalJoinParams is what a client brings to an external commit: its
// signature key and the content of its new leaf.
type ExternalJoinParams struct {
	SignPriv   []byte
	Credential Credential
	// Capabilities of the new leaf; DefaultCapabilities if zero.
	Capabilities Capabilities
	// Extensions of the new leaf.
	Extensions Extensions
	// Resync, when set, is the joiner's own old leaf, removed in the same
	// Commit (RFC 9420 §12.4.3.2): how a member that lost its state
	// reconnects. Its credential must equal Credential.
	Resync *LeafIndex
	// PSK resolves external pre-shared keys in later PreSharedKey proposals.
	PSK func(PreSharedKeyID) ([]byte, error)
	// Now is the clock for KeyPackage lifetimes; time.Now if nil.
	Now func() time.Time
}

// JoinExternal joins a group by external commit (RFC 9420 §12.4.3.2). It
// checks the GroupInfo (signature by a member, tree hash, tree validity)
// and its external_pub, then builds a Commit sent by new_member_commit with
// an ExternalInit proposal, the optional Remove of Resync and a full path
// from the leftmost free leaf. tree is the ratchet tree when the GroupInfo
// has no ratchet_tree extension.
//
// The returned Group is already in the new epoch. The Commit must reach the
// Delivery Service before any other Commit of the GroupInfo's epoch; if
// another one wins, discard the Group and join again from a fresh
// GroupInfo. The result carries the Commit (a PublicMessage) and the new
// epoch's signed GroupInfo without the tree; there is no Welcome.
func JoinExternal(cs *CipherSuite, gi *GroupInfo, tree RatchetTreeNodes, p ExternalJoinParams) (*Group, *CommitResult, error) {
	if gi.GroupContext.CipherSuite != cs.ID() || gi.GroupContext.Version != ProtocolVersionMLS10 {
		return nil, nil, fmt.Errorf("%w: GroupInfo suite or version", ErrInvalidValue)
	}
	t, err := verifyGroupInfo(cs, gi, tree)
	if err != nil {
		return nil, nil, err
	}
	data, ok := gi.Extensions.Find(ExtensionTypeExternalPub)
	if !ok {
		return nil, nil, externalErr("GroupInfo has no external_pub")
	}
	var ep ExternalPub
	if err := Unmarshal(data, &ep); err != nil {
		return nil, nil, err
	}
	signPub, err := cs.SignaturePublicKey(p.SignPriv)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: signature key", ErrInvalidKey)
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	interim, err := InterimTranscriptHash(cs, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag)
	if err != nil {
		return nil, nil, err
	}
	ps := publicState{cs: cs, ctx: gi.GroupContext, tree: t, interim: interim, confTag: gi.ConfirmationTag,
		pending: map[string]pendingProposal{}, now: now}

	kemOutput, initSecret, err := cs.externalInitSend(ep.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	defer clear(initSecret)
	self := Sender{Type: SenderTypeNewMemberCommit}
	list := []pendingProposal{{proposal: &Proposal{Type: ProposalTypeExternalInit, ExternalInit: &ExternalInit{KEMOutput: kemOutput}}, sender: self}}
	if p.Resync != nil {
		list = append(list, pendingProposal{proposal: &Proposal{Type: ProposalTypeRemove, Remove: &Remove{Removed: *p.Resync}}, sender: self})
	}
	ap, err := ps.applyProposals(list, self)
	if err != nil {
		return nil, nil, err
	}
	caps := p.Capabilities
	if caps.Versions == nil && caps.CipherSuites == nil && caps.Credentials == nil {
		caps = DefaultCapabilities(cs)
	}
	leaf := LeafNode{SignatureKey: signPub, Credential: p.Credential, Capabilities: caps, Extensions: p.Extensions}
	// The placeholder is replaced by the signed commit leaf; it only
	// reserves the joiner's position, as the members' placeExternalJoiner
	// does with the received leaf.
	placeholder := leaf
	own, err := ps.placeExternalLeaf(ap, &placeholder)
	if err != nil {
		return nil, nil, err
	}
	ctxFor := func(th []byte) *GroupContext {
		c := gi.GroupContext
		c.Epoch++
		c.TreeHash = th
		c.Extensions = ap.extensions
		return &c
	}
	pathRes, err := ap.tree.GenerateUpdatePath(cs, gi.GroupContext.GroupID, own, leaf, p.SignPriv, ctxFor, nil)
	if err != nil {
		return nil, nil, err
	}
	defer pathRes.Zero()
	keys := pathRes.Keys
	fail := func(err error) (*Group, *CommitResult, error) {
		keys.Zero()
		return nil, nil, err
	}
	// Fail here rather than at every member if the leaf does not meet the
	// group's required capabilities.
	if err := pathRes.Path.LeafNode.Validate(cs, externalLeafCheck(&ps, ap, own)); err != nil {
		return fail(err)
	}

	commit := &Commit{Path: pathRes.Path}
	for _, pp := range list {
		commit.Proposals = append(commit.Proposals, ProposalOrRef{Type: ProposalOrRefTypeProposal, Proposal: pp.proposal})
	}
	ac := &AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: FramedContent{
		GroupID: gi.GroupContext.GroupID, Epoch: gi.GroupContext.Epoch, Sender: self,
		ContentType: ContentTypeCommit, Commit: commit,
	}}
	if err := ac.Sign(cs, p.SignPriv, &gi.GroupContext); err != nil {
		return fail(err)
	}
	confirmed, err := ConfirmedTranscriptHash(cs, interim, ac)
	if err != nil {
		return fail(err)
	}
	th, err := ap.tree.TreeHash(cs)
	if err != nil {
		return fail(err)
	}
	next := GroupContext{
		Version: gi.GroupContext.Version, CipherSuite: gi.GroupContext.CipherSuite, GroupID: gi.GroupContext.GroupID,
		Epoch: gi.GroupContext.Epoch + 1, TreeHash: th, ConfirmedTranscriptHash: confirmed, Extensions: ap.extensions,
	}
	es, err := cs.DeriveEpochSecrets(initSecret, pathRes.CommitSecret, nil, &next)
	if err != nil {
		return fail(err)
	}
	failES := func(err error) (*Group, *CommitResult, error) {
		es.Zero()
		return fail(err)
	}
	ac.Auth.ConfirmationTag = ConfirmationTag(cs, es.ConfirmationKey, confirmed)
	nextInterim, err := InterimTranscriptHash(cs, confirmed, ac.Auth.ConfirmationTag)
	if err != nil {
		return failES(err)
	}
	pm, err := NewPublicMessage(cs, ac, &gi.GroupContext, nil)
	if err != nil {
		return failES(err)
	}
	msg, err := NewMLSMessage(pm)
	if err != nil {
		return failES(err)
	}
	st, err := NewSecretTree(cs, es.EncryptionSecret, ap.tree.LeafCount())
	if err != nil {
		return failES(err)
	}
	g := &Group{
		publicState: publicState{cs: cs, ctx: next, tree: ap.tree, interim: nextInterim,
			confTag: ac.Auth.ConfirmationTag, pending: map[string]pendingProposal{}, now: now},
		own: own, signPriv: append([]byte(nil), p.SignPriv...), keys: keys, epoch: es, secretTree: st,
		resumption: map[uint64][]byte{next.Epoch: append([]byte(nil), es.ResumptionPSK...)},
		psk:        p.PSK,
	}
	newGI, err := g.GroupInfo(false)
	if err != nil {
		g.Close()
		return nil, nil, err
	}
	return g, &CommitResult{Commit: msg, GroupInfo: newGI}, nil
}

// placeExternalLeaf reserves the joiner's leftmost free leaf in ap's tree
// after checking that a Resync Remove removes a leaf of the same
// credential.
func (s *publicState) placeExternalLeaf(ap *appliedProposals, ln *LeafNode) (LeafIndex, error) {
	for _, r := range ap.removed {
		a, errA := Marshal(&s.tree.Leaf(r).Credential)
		b, errB := Marshal(&ln.Credential)
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			return 0, externalErr("Resync leaf %d has another credential", r)
		}
	}
	return ap.tree.AddLeaf(ln)
}

// verifyGroupInfo checks a GroupInfo from outside the group, as a joiner
// must (RFC 9420 §12.4.3.1, §12.4.3.2): the tree (from the ratchet_tree
// extension or nodes) is well formed, the signer is a member whose key
// verifies the signature, the tree hash is the GroupContext's and the tree
// validates.
func verifyGroupInfo(cs *CipherSuite, gi *GroupInfo, nodes RatchetTreeNodes) (*RatchetTree, error) {
	if data, ok := gi.Extensions.Find(ExtensionTypeRatchetTree); ok {
		if err := Unmarshal(data, &nodes); err != nil {
			return nil, err
		}
	}
	if nodes == nil {
		return nil, treeErr("no ratchet tree in the GroupInfo or the parameters")
	}
	tree, err := NewRatchetTree(nodes)
	if err != nil {
		return nil, err
	}
	signer := tree.Leaf(gi.Signer)
	if signer == nil {
		return nil, fmt.Errorf("%w: GroupInfo signer is not a member", ErrInvalidSender)
	}
	if err := gi.VerifySignature(cs, signer.SignatureKey); err != nil {
		return nil, err
	}
	th, err := tree.TreeHash(cs)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(th, gi.GroupContext.TreeHash) {
		return nil, treeErr("tree hash differs from the GroupContext")
	}
	if err := tree.Validate(cs, gi.GroupContext.GroupID); err != nil {
		return nil, err
	}
	return tree, nil
}

func externalLeafCheck(s *publicState, ap *appliedProposals, l LeafIndex) LeafNodeCheck {
	return LeafNodeCheck{Source: LeafNodeSourceCommit, GroupID: s.ctx.GroupID, Leaf: l, Required: s.requiredCapabilities(ap.extensions)}
}
