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
	now := p.Now
	if now == nil {
		now = time.Now
	}
	ps, externalPub, err := externalJoinState(cs, gi, tree, now)
	if err != nil {
		return nil, nil, err
	}
	signPub, err := cs.SignaturePublicKey(p.SignPriv)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: signature key", ErrInvalidKey)
	}
	kemOutput, initSecret, err := cs.externalInitSend(externalPub)
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
	own, pathRes, err := ps.externalPath(ap, leaf, p.SignPriv)
	if err != nil {
		return nil, nil, err
	}
	defer pathRes.zero()

	// Every proposal goes by value: the joiner has seen none of the epoch's
	// proposals (§12.4.3.2).
	commit := &Commit{Path: pathRes.Path}
	for _, pp := range list {
		commit.Proposals = append(commit.Proposals, ProposalOrRef{Type: ProposalOrRefTypeProposal, Proposal: pp.proposal})
	}
	ac := &AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: FramedContent{
		GroupID: ps.ctx.GroupID, Epoch: ps.ctx.Epoch, Sender: self,
		ContentType: ContentTypeCommit, Commit: commit,
	}}
	next, err := buildCommit(commitInput{cs: cs, ctx: &ps.ctx, interim: ps.interim, ac: ac, signPriv: p.SignPriv,
		ap: ap, keys: pathRes.Keys, initSecret: initSecret, commitSecret: pathRes.CommitSecret})
	if err != nil {
		pathRes.Keys.zero()
		return nil, nil, err
	}
	g, res, err := ps.externalJoinResult(ac, next, own, p)
	if err != nil {
		next.zero()
		return nil, nil, err
	}
	return g, res, nil
}

// externalJoinState checks a GroupInfo as an external joiner must (RFC 9420
// §12.4.3.2) and returns the public state of its epoch and its external_pub.
func externalJoinState(cs *CipherSuite, gi *GroupInfo, tree RatchetTreeNodes, now func() time.Time) (*publicState, []byte, error) {
	if gi.GroupContext.CipherSuite != cs.ID() || gi.GroupContext.Version != ProtocolVersionMLS10 {
		return nil, nil, fmt.Errorf("%w: GroupInfo suite or version", ErrInvalidValue)
	}
	t, err := verifyGroupInfo(cs, gi, tree)
	if err != nil {
		return nil, nil, err
	}
	externalPub, err := externalPubOf(gi)
	if err != nil {
		return nil, nil, err
	}
	interim, err := InterimTranscriptHash(cs, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag)
	if err != nil {
		return nil, nil, err
	}
	return &publicState{cs: cs, ctx: gi.GroupContext, tree: t, interim: interim, confTag: gi.ConfirmationTag,
		pending: map[string]pendingProposal{}, now: now}, externalPub, nil
}

// externalPath places the joiner's leaf at the leftmost free leaf of ap's
// tree and generates a full path from it (RFC 9420 §12.4.3.2). No leaf is
// excluded from the path secrets: an external commit adds nobody by Add.
func (s *publicState) externalPath(ap *appliedProposals, leaf LeafNode, signPriv []byte) (LeafIndex, *updatePathResult, error) {
	// The placeholder is replaced by the signed commit leaf; it only
	// reserves the joiner's position, as the members' placeExternalJoiner
	// does with the received leaf.
	placeholder := leaf
	own, err := s.placeExternalLeaf(ap, &placeholder)
	if err != nil {
		return 0, nil, err
	}
	pathRes, err := ap.tree.generateUpdatePath(s.cs, s.ctx.GroupID, own, leaf, signPriv, provisionalContext(&s.ctx, ap.extensions), nil)
	if err != nil {
		return 0, nil, err
	}
	// Fail here rather than at every member if the leaf does not meet the
	// group's required capabilities.
	if err := pathRes.Path.LeafNode.Validate(s.cs, externalLeafCheck(s, ap, own)); err != nil {
		pathRes.Keys.zero()
		pathRes.zero()
		return 0, nil, err
	}
	return own, pathRes, nil
}

// externalJoinResult turns the joiner's built Commit into what JoinExternal
// returns: the Commit as a PublicMessage, the signed GroupInfo of the new
// epoch and the joiner's Group in that epoch. s is the epoch the Commit
// ends.
func (s *publicState) externalJoinResult(ac *AuthenticatedContent, next *pendingCommit, own LeafIndex, p ExternalJoinParams) (*Group, *CommitResult, error) {
	// No membership tag: the joiner has no membership_key of the epoch its
	// Commit ends, and members authenticate a new_member_commit by its
	// signature alone (RFC 9420 §6.2).
	pm, err := newPublicMessage(s.cs, ac, &s.ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	msg, err := NewMLSMessage(pm)
	if err != nil {
		return nil, nil, err
	}
	gi, err := newGroupInfo(s.cs, &next.ctx, next.confTag, next.epoch, nil, own, p.SignPriv)
	if err != nil {
		return nil, nil, err
	}
	g := &Group{
		publicState: publicState{cs: s.cs, ctx: next.ctx, tree: next.tree, interim: next.interim,
			confTag: next.confTag, pending: map[string]pendingProposal{}, now: s.now},
		own: own, signPriv: append([]byte(nil), p.SignPriv...), keys: next.keys, epoch: next.epoch, secretTree: next.st,
		resumption: map[uint64][]byte{next.ctx.Epoch: append([]byte(nil), next.epoch.ResumptionPSK...)},
		psk:        p.PSK,
	}
	return g, &CommitResult{Commit: msg, GroupInfo: gi}, nil
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

func externalLeafCheck(s *publicState, ap *appliedProposals, l LeafIndex) LeafNodeCheck {
	return LeafNodeCheck{Source: LeafNodeSourceCommit, GroupID: s.ctx.GroupID, Leaf: l, Required: s.requiredCapabilities(ap.extensions)}
}
