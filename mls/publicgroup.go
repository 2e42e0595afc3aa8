package mls

import (
	"fmt"
	"slices"
	"time"
)

// publicState is the part of a group's state that needs no secret: the
// GroupContext, the public tree, the interim transcript hash and the
// proposals received this epoch. Members and the Delivery Service share it.
type publicState struct {
	cs      *CipherSuite
	ctx     GroupContext
	tree    *RatchetTree
	interim []byte // interim transcript hash of this epoch
	confTag []byte // confirmation tag that opened this epoch
	// pending holds proposals received by reference this epoch, keyed by
	// ProposalRef (RFC 9420 §12.4).
	pending map[string]pendingProposal
	// now is the clock for KeyPackage lifetimes.
	now func() time.Time
	// policy, if set, is asked about every proposal and Commit (SetPolicy).
	policy Policy
}

// commitEffects is what a Commit does to the public state.
type commitEffects struct {
	applied   *appliedProposals
	proposals []pendingProposal
	next      GroupContext
	interim   []byte
	// pathLeaf is the committer's leaf: its own for a member, the leaf it
	// was placed at for an external joiner.
	pathLeaf LeafIndex
}

// commitPublic checks a Commit's public parts and computes the next public
// state (RFC 9420 §12.4.2): proposals resolved, validated and applied, the
// path merged with its parent hashes and leaf signature checked, and the
// transcript hashes advanced. The confirmation tag cannot be checked
// without the epoch secrets.
func (s *publicState) commitPublic(ac *AuthenticatedContent) (*commitEffects, error) {
	c := ac.Content.Commit
	committer := ac.Content.Sender
	switch committer.Type {
	case SenderTypeMember:
	case SenderTypeNewMemberCommit:
		if err := checkExternalCommit(c); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: commit from sender type %d", ErrInvalidSender, committer.Type)
	}
	if err := s.allowCommit(ac); err != nil {
		return nil, err
	}
	list, err := s.resolveProposals(c, committer)
	if err != nil {
		return nil, err
	}
	ap, err := s.applyProposals(list, committer)
	if err != nil {
		return nil, err
	}
	if ap.reinit != nil {
		return nil, fmt.Errorf("%w: ReInit commits are not supported", ErrInvalidArgument)
	}
	if ap.needPath && c.Path == nil {
		return nil, proposalErr("Commit needs a path")
	}
	pathLeaf := committer.LeafIndex
	if committer.Type == SenderTypeNewMemberCommit {
		if pathLeaf, err = s.placeExternalJoiner(ap, c.Path); err != nil {
			return nil, err
		}
	}
	if c.Path != nil {
		if err := ap.tree.ApplyUpdatePath(s.cs, s.ctx.GroupID, pathLeaf, c.Path); err != nil {
			return nil, err
		}
	}
	if committer.Type == SenderTypeNewMemberCommit {
		// The joiner's keys are new to the tree (RFC 9420 §7.3).
		if err := ap.tree.checkUniqueKeys(); err != nil {
			return nil, err
		}
	}
	if len(ac.Auth.ConfirmationTag) != s.cs.nh {
		return nil, fmt.Errorf("%w: confirmation tag length", ErrInvalidConfirmationTag)
	}
	confirmed, err := ConfirmedTranscriptHash(s.cs, s.interim, ac)
	if err != nil {
		return nil, err
	}
	interim, err := InterimTranscriptHash(s.cs, confirmed, ac.Auth.ConfirmationTag)
	if err != nil {
		return nil, err
	}
	next, err := nextContext(s.cs, &s.ctx, ap, confirmed)
	if err != nil {
		return nil, err
	}
	return &commitEffects{applied: ap, proposals: list, next: next, interim: interim, pathLeaf: pathLeaf}, nil
}

// PublicGroup is the Delivery Service's view of a group (DESIGN.md §3): it
// follows the GroupContext, the ratchet tree and the transcript from
// PublicMessage handshakes and checks every signature, proposal and path,
// without holding any group secret. It cannot check membership or
// confirmation tags (they need epoch secrets); members do. Not safe for
// concurrent use.
type PublicGroup struct {
	publicState
}

// NewPublicGroup starts tracking a group from a GroupInfo and its tree
// (nil if the GroupInfo carries the ratchet_tree extension). The GroupInfo
// must be signed by the leaf it names and match the validated tree.
func NewPublicGroup(cs *CipherSuite, gi *GroupInfo, nodes RatchetTreeNodes, now func() time.Time) (*PublicGroup, error) {
	if gi.GroupContext.CipherSuite != cs.ID() || gi.GroupContext.Version != ProtocolVersionMLS10 {
		return nil, fmt.Errorf("%w: GroupInfo suite or version", ErrInvalidValue)
	}
	tree, err := verifyGroupInfo(cs, gi, nodes)
	if err != nil {
		return nil, err
	}
	interim, err := InterimTranscriptHash(cs, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &PublicGroup{publicState{cs: cs, ctx: gi.GroupContext, tree: tree, interim: interim,
		confTag: gi.ConfirmationTag, pending: map[string]pendingProposal{}, now: now}}, nil
}

// PublicResult describes an accepted handshake message.
type PublicResult struct {
	Content *AuthenticatedContent
	// Proposals a Commit applied, with their senders, in Commit order.
	Proposals []*Proposal
	Senders   []Sender
	// Added are the leaves the Commit filled, in Add order, followed for
	// an external commit by the joiner's leaf; Removed the leaves it
	// emptied.
	Added   []LeafIndex
	Removed []LeafIndex
	// NewEpoch is true when a Commit advanced the group.
	NewEpoch bool
}

// Process checks a PublicMessage proposal or Commit for the current epoch
// and, for a Commit, advances the public state. Application messages and
// PrivateMessages are not for the Delivery Service to open: it checks their
// group and epoch with CheckEpoch and forwards them. On error nothing changes.
//
// A valid external commit (sender new_member_commit, RFC 9420 §12.4.3.2) is
// accepted like any Commit, with the joiner's leaf last in Added: anyone
// holding the GroupInfo can produce one, so the caller decides whether that
// leaf's credential may join the room before forwarding the Commit.
func (pg *PublicGroup) Process(m *MLSMessage) (*PublicResult, error) {
	if m.Version != ProtocolVersionMLS10 {
		return nil, ErrUnsupportedVersion
	}
	if m.WireFormat != WireFormatPublicMessage {
		return nil, ErrNotPublic
	}
	if m.PublicMessage == nil {
		return nil, fmt.Errorf("%w: empty MLSMessage", ErrInvalidArgument)
	}
	pm := m.PublicMessage
	if !bytesEqual(pm.Content.GroupID, pg.ctx.GroupID) || pm.Content.Epoch != pg.ctx.Epoch {
		return nil, ErrWrongGroup
	}
	ac := pm.AuthenticatedContent()
	key, err := pg.senderSignatureKey(ac)
	if err != nil {
		return nil, err
	}
	if err := ac.VerifySignature(pg.cs, key, &pg.ctx); err != nil {
		return nil, err
	}
	switch ac.Content.ContentType {
	case ContentTypeProposal:
		if err := pg.allowProposal(ProposalInfo{Proposal: ac.Content.Proposal, Sender: ac.Content.Sender}); err != nil {
			return nil, err
		}
		ref, err := ProposalRef(pg.cs, ac)
		if err != nil {
			return nil, err
		}
		pg.pending[string(ref)] = pendingProposal{proposal: ac.Content.Proposal, sender: ac.Content.Sender}
		return &PublicResult{Content: ac}, nil
	case ContentTypeCommit:
		eff, err := pg.commitPublic(ac)
		if err != nil {
			return nil, err
		}
		res := &PublicResult{Content: ac, Added: eff.applied.added, Removed: eff.applied.removed, NewEpoch: true}
		if ac.Content.Sender.Type == SenderTypeNewMemberCommit {
			res.Added = append(slices.Clone(res.Added), eff.pathLeaf)
		}
		for _, p := range eff.proposals {
			res.Proposals = append(res.Proposals, p.proposal)
			res.Senders = append(res.Senders, p.sender)
		}
		pg.ctx, pg.tree, pg.interim, pg.confTag = eff.next, eff.applied.tree, eff.interim, ac.Auth.ConfirmationTag
		clear(pg.pending)
		return res, nil
	default:
		return nil, fmt.Errorf("%w: application data in a PublicMessage", ErrInvalidValue)
	}
}

// CheckEpoch tells whether a message belongs to the group's current epoch,
// which is all the Delivery Service can check of a PrivateMessage.
func (pg *PublicGroup) CheckEpoch(m *MLSMessage) error {
	if m.body() == nil {
		return fmt.Errorf("%w: empty MLSMessage", ErrInvalidArgument)
	}
	var gid []byte
	var epoch uint64
	switch m.WireFormat {
	case WireFormatPublicMessage:
		gid, epoch = m.PublicMessage.Content.GroupID, m.PublicMessage.Content.Epoch
	case WireFormatPrivateMessage:
		gid, epoch = m.PrivateMessage.GroupID, m.PrivateMessage.Epoch
	default:
		return fmt.Errorf("%w: wire format %d", ErrInvalidArgument, m.WireFormat)
	}
	if !bytesEqual(gid, pg.ctx.GroupID) || epoch != pg.ctx.Epoch {
		return ErrWrongGroup
	}
	return nil
}

// Context returns the current GroupContext.
func (pg *PublicGroup) Context() *GroupContext { return &pg.ctx }

// Tree returns the public ratchet tree. Callers must not modify it.
func (pg *PublicGroup) Tree() *RatchetTree { return pg.tree }
