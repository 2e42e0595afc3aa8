package mls

import "fmt"

// HandshakeWireFormat selects how this member sends proposals and commits.
// sealroom sends them as PublicMessage so the Delivery Service can check
// them against the room's access list (DESIGN.md §3); PrivateMessage hides
// them from it.

// framed builds member-sent content for the current epoch.
func (g *Group) framed(ct ContentType, authData []byte) FramedContent {
	return FramedContent{
		GroupID: g.ctx.GroupID, Epoch: g.ctx.Epoch,
		Sender:            Sender{Type: SenderTypeMember, LeafIndex: g.own},
		AuthenticatedData: authData, ContentType: ct,
	}
}

// protect signs content and wraps it in the requested wire format with the
// current epoch's keys.
func (g *Group) protect(ac *AuthenticatedContent, padding int) (*MLSMessage, error) {
	switch ac.WireFormat {
	case WireFormatPublicMessage:
		pm, err := newPublicMessage(g.cs, ac, &g.ctx, g.epoch.MembershipKey)
		if err != nil {
			return nil, err
		}
		return NewMLSMessage(pm)
	case WireFormatPrivateMessage:
		pm, err := encryptPrivateMessage(g.cs, privateMessageKeys{SecretTree: g.secretTree, SenderDataSecret: g.epoch.SenderDataSecret}, ac, padding)
		if err != nil {
			return nil, err
		}
		return NewMLSMessage(pm)
	}
	return nil, fmt.Errorf("%w: wire format %d", ErrInvalidArgument, ac.WireFormat)
}

// EncryptApplication protects application data as a PrivateMessage
// (RFC 9420 §6.3). padding zero bytes hide the length.
func (g *Group) EncryptApplication(data, authData []byte, padding int) (*MLSMessage, error) {
	ac := &AuthenticatedContent{WireFormat: WireFormatPrivateMessage, Content: g.framed(ContentTypeApplication, authData)}
	ac.Content.ApplicationData = data
	if err := ac.Sign(g.cs, g.signPriv, &g.ctx); err != nil {
		return nil, err
	}
	return g.protect(ac, padding)
}

// Propose sends a proposal and keeps it for this member's next Commit
// (RFC 9420 §12.1).
func (g *Group) Propose(p *Proposal, wf WireFormat) (*MLSMessage, error) {
	if p.Type == ProposalTypeUpdate || p.Type == ProposalTypeExternalInit {
		return nil, fmt.Errorf("%w: proposal type %d is not supported here", ErrInvalidArgument, p.Type)
	}
	ac := &AuthenticatedContent{WireFormat: wf, Content: g.framed(ContentTypeProposal, nil)}
	ac.Content.Proposal = p
	if err := ac.Sign(g.cs, g.signPriv, &g.ctx); err != nil {
		return nil, err
	}
	ref, err := ProposalRef(g.cs, ac)
	if err != nil {
		return nil, err
	}
	m, err := g.protect(ac, 0)
	if err != nil {
		return nil, err
	}
	g.pending[string(ref)] = pendingProposal{proposal: p, sender: ac.Content.Sender}
	return m, nil
}

// NewExternalProposal builds a proposal from an external sender listed at
// senderIndex in the group's external_senders extension (RFC 9420 §12.1.8.1):
// the Delivery Service's way to add and remove members without any group
// secret. It is a PublicMessage without membership tag, for the given group
// and epoch.
func NewExternalProposal(cs *CipherSuite, groupID []byte, epoch uint64, senderIndex uint32, p *Proposal, signPriv []byte) (*MLSMessage, error) {
	switch p.Type {
	case ProposalTypeAdd, ProposalTypeRemove, ProposalTypePSK, ProposalTypeReInit, ProposalTypeGroupContextExtensions:
	default:
		return nil, fmt.Errorf("%w: external senders cannot send proposal type %d", ErrInvalidArgument, p.Type)
	}
	ac := &AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: FramedContent{
		GroupID: groupID, Epoch: epoch, Sender: Sender{Type: SenderTypeExternal, SenderIndex: senderIndex},
		ContentType: ContentTypeProposal, Proposal: p,
	}}
	if err := ac.Sign(cs, signPriv, nil); err != nil {
		return nil, err
	}
	pm, err := newPublicMessage(cs, ac, nil, nil)
	if err != nil {
		return nil, err
	}
	return NewMLSMessage(pm)
}
