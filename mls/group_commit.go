package mls

import (
	"fmt"
	"slices"
)

// CommitOptions controls a Commit created by this member.
type CommitOptions struct {
	// Proposals are sent inline (by value), in addition to every pending
	// proposal received this epoch, which is included by reference.
	Proposals []*Proposal
	// ForcePath refreshes the committer's path even when not required,
	// for post-compromise security.
	ForcePath bool
	// WireFormat of the Commit: PublicMessage (default) or PrivateMessage.
	WireFormat WireFormat
	// RatchetTreeInWelcome puts the tree in the GroupInfo's ratchet_tree
	// extension so joiners need no other source for it.
	RatchetTreeInWelcome bool
}

// CommitResult is a Commit ready to send. The group does not move to the
// next epoch until MergeCommit is called: the Delivery Service may order
// another member's Commit first, after which this one is stale and
// DiscardCommit (or processing the winner) drops it.
type CommitResult struct {
	Commit  *MLSMessage
	Welcome *Welcome // nil when nobody is added
	// GroupInfo of the new epoch, signed, for external joins or the DS.
	GroupInfo *GroupInfo
}

// pendingCommit is the next epoch as the committer computed it.
type pendingCommit struct {
	ctx     GroupContext
	tree    *RatchetTree
	keys    *pathKeys
	epoch   *epochSecrets
	st      *secretTree
	interim []byte
	confTag []byte
}

func (p *pendingCommit) zero() {
	if p == nil {
		return
	}
	p.keys.zero()
	p.epoch.zero()
	p.st.zero()
}

// Commit creates a Commit over the pending and given proposals
// (RFC 9420 §12.4.1) and the Welcome for added members.
func (g *Group) Commit(opts CommitOptions) (*CommitResult, error) {
	wf := opts.WireFormat
	if wf == 0 {
		wf = WireFormatPublicMessage
	}
	commit, ap, err := g.commitProposals(opts.Proposals)
	if err != nil {
		return nil, err
	}
	keys, pathRes, err := g.commitPath(ap, opts.ForcePath)
	if err != nil {
		return nil, err
	}
	var commitSecret []byte // without a path, the all-zero commit_secret (RFC 9420 §8)
	if pathRes != nil {
		defer pathRes.zero()
		commit.Path = pathRes.Path
		commitSecret = pathRes.CommitSecret
	}
	pskSecret, err := g.pskSecret(ap.psks)
	if err != nil {
		keys.zero()
		return nil, err
	}
	defer clear(pskSecret)

	ac := &AuthenticatedContent{WireFormat: wf, Content: g.framed(ContentTypeCommit, nil)}
	ac.Content.Commit = commit
	next, err := buildCommit(commitInput{cs: g.cs, ctx: &g.ctx, interim: g.interim, ac: ac, signPriv: g.signPriv,
		ap: ap, keys: keys, initSecret: g.epoch.InitSecret, commitSecret: commitSecret, pskSecret: pskSecret})
	if err != nil {
		keys.zero()
		return nil, err
	}
	res, err := g.commitMessages(ac, next, ap, pathRes, opts.RatchetTreeInWelcome)
	if err != nil {
		next.zero()
		return nil, err
	}
	g.pendingCommit.zero()
	g.pendingCommit = next
	return res, nil
}

// commitProposals chooses the proposals of this member's Commit: the given
// ones by value, then every pending proposal by reference that keeps the
// list valid, and applies them to a copy of the tree (RFC 9420 §12.2,
// §12.3).
func (g *Group) commitProposals(byValue []*Proposal) (*Commit, *appliedProposals, error) {
	self := Sender{Type: SenderTypeMember, LeafIndex: g.own}
	commit := &Commit{}
	var list []pendingProposal
	for _, p := range byValue {
		commit.Proposals = append(commit.Proposals, ProposalOrRef{Type: ProposalOrRefTypeProposal, Proposal: p})
		list = append(list, pendingProposal{proposal: p, sender: self})
	}
	if _, err := g.applyProposals(list, self); len(list) > 0 && err != nil {
		return nil, nil, err
	}
	// Pending proposals go in by reference, in a stable order, skipping any
	// that would make the list invalid (RFC 9420 §12.2: a committer must not
	// include invalid proposals), so one bad proposal cannot stall the room.
	refs := make([]string, 0, len(g.pending))
	for ref := range g.pending {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	for _, ref := range refs {
		cand := append(slices.Clone(list), g.pending[ref])
		if _, err := g.applyProposals(cand, self); err != nil {
			continue
		}
		list = cand
		commit.Proposals = append(commit.Proposals, ProposalOrRef{Type: ProposalOrRefTypeReference, Reference: []byte(ref)})
	}
	ap, err := g.applyProposals(list, self)
	if err != nil {
		return nil, nil, err
	}
	if ap.reinit != nil || ap.external != nil {
		return nil, nil, fmt.Errorf("%w: ReInit and ExternalInit commits are not supported", ErrInvalidArgument)
	}
	return commit, ap, nil
}

// commitPath refreshes the committer's leaf and direct path in ap.tree when
// the proposals require it or force is set (RFC 9420 §12.4.1), encrypting
// the path secrets to everyone but the members the Commit adds: they get
// theirs in the Welcome. It returns the committer's private view of
// ap.tree, and the path with its secrets, or nil when the Commit has none.
func (g *Group) commitPath(ap *appliedProposals, force bool) (*pathKeys, *updatePathResult, error) {
	if !ap.needPath && !force {
		return g.keys.clone(), nil, nil
	}
	res, err := ap.tree.generateUpdatePath(g.cs, g.ctx.GroupID, g.own, *ap.tree.Leaf(g.own), g.signPriv,
		provisionalContext(&g.ctx, ap.extensions), ap.added)
	if err != nil {
		return nil, nil, err
	}
	return res.Keys, res, nil
}

// commitMessages protects the built Commit and produces what goes out with
// it: the signed GroupInfo of the new epoch and the Welcome for the added
// members.
func (g *Group) commitMessages(ac *AuthenticatedContent, next *pendingCommit, ap *appliedProposals, pathRes *updatePathResult, treeInWelcome bool) (*CommitResult, error) {
	// The Commit is protected with the keys of the epoch it ends (RFC 9420
	// §6): the members process it before they know the new epoch.
	msg, err := g.protect(ac, 0)
	if err != nil {
		return nil, err
	}
	var tree *RatchetTree
	if treeInWelcome {
		tree = next.tree
	}
	gi, err := newGroupInfo(g.cs, &next.ctx, next.confTag, next.epoch, tree, g.own, g.signPriv)
	if err != nil {
		return nil, err
	}
	res := &CommitResult{Commit: msg, GroupInfo: gi}
	if len(ap.added) > 0 {
		if res.Welcome, err = sealCommitWelcome(g.cs, gi, next.epoch, ap, pathRes); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// sealCommitWelcome seals the Welcome for the members a Commit adds
// (RFC 9420 §12.4.3.1): each gets joiner_secret and, when the committer's
// path covers it, the path secret of the lowest node of that path above its
// leaf.
func sealCommitWelcome(cs *CipherSuite, gi *GroupInfo, es *epochSecrets, ap *appliedProposals, pathRes *updatePathResult) (*Welcome, error) {
	to := make([]welcomeRecipient, 0, len(ap.added))
	for _, l := range ap.added {
		r := welcomeRecipient{KeyPackage: ap.addedKeyPackage(l)}
		if pathRes != nil {
			r.PathSecret = pathRes.joinerPathSecret(l)
		}
		to = append(to, r)
	}
	defer func() {
		for _, r := range to {
			clear(r.PathSecret)
		}
	}()
	return sealWelcome(cs, gi, es, ap.psks, to)
}

// MergeCommit moves the group to the epoch of its own pending Commit, once
// the Delivery Service has accepted it.
func (g *Group) MergeCommit() error {
	p := g.pendingCommit
	if p == nil {
		return fmt.Errorf("%w: no pending commit", ErrInvalidArgument)
	}
	g.pendingCommit = nil
	g.advance(p.ctx, p.tree, p.keys, p.epoch, p.st, p.interim, p.confTag)
	return nil
}

// DiscardCommit drops the pending Commit, as when another one won the epoch.
func (g *Group) DiscardCommit() {
	g.pendingCommit.zero()
	g.pendingCommit = nil
}
