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
	keys    *PathKeys
	epoch   *EpochSecrets
	st      *SecretTree
	interim []byte
	confTag []byte
}

func (p *pendingCommit) zero() {
	if p == nil {
		return
	}
	p.keys.Zero()
	p.epoch.Zero()
	p.st.Zero()
}

// Commit creates a Commit over the pending and given proposals
// (RFC 9420 §12.4.1) and the Welcome for added members.
func (g *Group) Commit(opts CommitOptions) (*CommitResult, error) {
	wf := opts.WireFormat
	if wf == 0 {
		wf = WireFormatPublicMessage
	}
	self := Sender{Type: SenderTypeMember, LeafIndex: g.own}
	commit := &Commit{}
	var list []pendingProposal
	for _, p := range opts.Proposals {
		commit.Proposals = append(commit.Proposals, ProposalOrRef{Type: ProposalOrRefTypeProposal, Proposal: p})
		list = append(list, pendingProposal{proposal: p, sender: self})
	}
	if _, err := g.applyProposals(list, self); len(list) > 0 && err != nil {
		return nil, err
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
		return nil, err
	}
	if ap.reinit != nil || ap.external != nil {
		return nil, fmt.Errorf("%w: ReInit and ExternalInit commits are not supported", ErrInvalidArgument)
	}

	keys := g.keys.clone()
	commitSecret := make([]byte, g.cs.nh)
	var pathRes *UpdatePathResult
	if ap.needPath || opts.ForcePath {
		ctxFor := func(th []byte) *GroupContext {
			c := g.ctx
			c.Epoch++
			c.TreeHash = th
			c.Extensions = ap.extensions
			return &c
		}
		pathRes, err = ap.tree.GenerateUpdatePath(g.cs, g.ctx.GroupID, g.own, *ap.tree.Leaf(g.own), g.signPriv, ctxFor, ap.added)
		if err != nil {
			keys.Zero()
			return nil, err
		}
		defer pathRes.Zero()
		commit.Path = pathRes.Path
		keys.Zero()
		keys = pathRes.Keys
		commitSecret = append([]byte(nil), pathRes.CommitSecret...)
	}
	defer clear(commitSecret)
	fail := func(err error) (*CommitResult, error) {
		keys.Zero()
		return nil, err
	}

	ac := &AuthenticatedContent{WireFormat: wf, Content: g.framed(ContentTypeCommit, nil)}
	ac.Content.Commit = commit
	if err := ac.Sign(g.cs, g.signPriv, &g.ctx); err != nil {
		return fail(err)
	}
	confirmed, err := ConfirmedTranscriptHash(g.cs, g.interim, ac)
	if err != nil {
		return fail(err)
	}
	th, err := ap.tree.TreeHash(g.cs)
	if err != nil {
		return fail(err)
	}
	next := GroupContext{
		Version: g.ctx.Version, CipherSuite: g.ctx.CipherSuite, GroupID: g.ctx.GroupID,
		Epoch: g.ctx.Epoch + 1, TreeHash: th, ConfirmedTranscriptHash: confirmed, Extensions: ap.extensions,
	}
	pskSecret, err := g.pskSecret(ap.psks)
	if err != nil {
		return fail(err)
	}
	defer clear(pskSecret)
	es, err := g.cs.DeriveEpochSecrets(g.epoch.InitSecret, commitSecret, pskSecret, &next)
	if err != nil {
		return fail(err)
	}
	ac.Auth.ConfirmationTag = ConfirmationTag(g.cs, es.ConfirmationKey, confirmed)
	interim, err := InterimTranscriptHash(g.cs, confirmed, ac.Auth.ConfirmationTag)
	if err != nil {
		es.Zero()
		return fail(err)
	}
	// The Commit is protected with the keys of the epoch it ends.
	msg, err := g.protect(ac, 0)
	if err != nil {
		es.Zero()
		return fail(err)
	}

	gi := &GroupInfo{GroupContext: next, ConfirmationTag: ac.Auth.ConfirmationTag, Signer: g.own}
	if ep, err := es.ExternalPub(g.cs); err == nil {
		gi.Extensions = append(gi.Extensions, Extension{Type: ExtensionTypeExternalPub, Data: mustMarshal(&ExternalPub{PublicKey: ep})})
	}
	if opts.RatchetTreeInWelcome {
		nodes := ap.tree.Nodes()
		b, err := Marshal(&nodes)
		if err != nil {
			es.Zero()
			return fail(err)
		}
		gi.Extensions = append(gi.Extensions, Extension{Type: ExtensionTypeRatchetTree, Data: b})
	}
	if err := gi.Sign(g.cs, g.signPriv); err != nil {
		es.Zero()
		return fail(err)
	}
	res := &CommitResult{Commit: msg, GroupInfo: gi}
	if len(ap.added) > 0 {
		var to []WelcomeRecipient
		for _, l := range ap.added {
			r := WelcomeRecipient{KeyPackage: ap.addedKeyPackage(l)}
			if pathRes != nil {
				r.PathSecret = pathRes.JoinerPathSecret(l)
			}
			to = append(to, r)
		}
		res.Welcome, err = SealWelcome(g.cs, gi, es, ap.psks, to)
		for _, r := range to {
			clear(r.PathSecret)
		}
		if err != nil {
			es.Zero()
			return fail(err)
		}
	}
	st, err := NewSecretTree(g.cs, es.EncryptionSecret, ap.tree.LeafCount())
	if err != nil {
		es.Zero()
		return fail(err)
	}
	g.pendingCommit.zero()
	g.pendingCommit = &pendingCommit{ctx: next, tree: ap.tree, keys: keys, epoch: es, st: st, interim: interim, confTag: ac.Auth.ConfirmationTag}
	return res, nil
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

func mustMarshal(v WireStruct) []byte {
	b, err := Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
