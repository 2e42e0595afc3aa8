package mls

import "fmt"

// PublicMessage carries signed, unencrypted content (RFC 9420 §6.2). Members
// add a membership tag; the Delivery Service reads and verifies signatures
// without any group secret.
type PublicMessage struct {
	Content       FramedContent
	Auth          FramedContentAuthData
	MembershipTag []byte // member senders only
}

func (m *PublicMessage) structName() string { return "PublicMessage" }

func (m *PublicMessage) marshal(w *writer) {
	m.Content.marshal(w)
	m.Auth.marshal(w, m.Content.ContentType)
	if m.Content.Sender.Type == SenderTypeMember {
		w.opaque(m.MembershipTag)
	}
}

func (m *PublicMessage) unmarshal(r *reader) {
	m.Content.unmarshal(r)
	m.Auth.unmarshal(r, m.Content.ContentType)
	if m.Content.Sender.Type == SenderTypeMember {
		m.MembershipTag = r.opaque()
	}
}

// AuthenticatedContent returns the message's content as AuthenticatedContent
// with wire format mls_public_message. It shares slices with m.
func (m *PublicMessage) AuthenticatedContent() *AuthenticatedContent {
	return &AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: m.Content, Auth: m.Auth}
}

// authenticatedContentTBM encodes AuthenticatedContentTBM = { FramedContentTBS
// content_tbs; FramedContentAuthData auth; } (RFC 9420 §6.2).
func (m *PublicMessage) authenticatedContentTBM(ctx *GroupContext) ([]byte, error) {
	var w writer
	marshalTBS(&w, WireFormatPublicMessage, &m.Content, ctx)
	m.Auth.marshal(&w, m.Content.ContentType)
	return w.result()
}

// newPublicMessage wraps signed content for sending. For member senders it
// computes membership_tag = MAC(membership_key, AuthenticatedContentTBM)
// (RFC 9420 §6.2); membershipKey is ignored for other senders.
func newPublicMessage(cs *CipherSuite, ac *AuthenticatedContent, ctx *GroupContext, membershipKey []byte) (*PublicMessage, error) {
	if ac.WireFormat != WireFormatPublicMessage {
		return nil, fmt.Errorf("%w: wire format %d for a PublicMessage", ErrInvalidArgument, ac.WireFormat)
	}
	m := &PublicMessage{Content: ac.Content, Auth: ac.Auth}
	if ac.Content.Sender.Type == SenderTypeMember {
		tbm, err := m.authenticatedContentTBM(ctx)
		if err != nil {
			return nil, err
		}
		m.MembershipTag = cs.mac(membershipKey, tbm)
	}
	return m, nil
}

// verifyMembershipTag checks the membership tag of a member's message in
// constant time (RFC 9420 §6.2). It is a group member's check; the Delivery
// Service holds no membership key and relies on signatures instead.
func (m *PublicMessage) verifyMembershipTag(cs *CipherSuite, ctx *GroupContext, membershipKey []byte) error {
	if m.Content.Sender.Type != SenderTypeMember {
		return nil
	}
	tbm, err := m.authenticatedContentTBM(ctx)
	if err != nil {
		return err
	}
	if !cs.verifyMAC(membershipKey, tbm, m.MembershipTag) {
		return ErrInvalidMembershipTag
	}
	return nil
}

// unprotect is a member's full check of a received PublicMessage: group and
// epoch match ctx, membership tag, and signature under signPub. It returns
// the AuthenticatedContent for further processing.
func (m *PublicMessage) unprotect(cs *CipherSuite, ctx *GroupContext, membershipKey, signPub []byte) (*AuthenticatedContent, error) {
	if !bytesEqual(m.Content.GroupID, ctx.GroupID) || m.Content.Epoch != ctx.Epoch {
		return nil, ErrWrongGroup
	}
	if m.Content.ContentType == ContentTypeApplication {
		// Application data must be encrypted (RFC 9420 §6.2).
		return nil, fmt.Errorf("%w: application data in a PublicMessage", ErrInvalidValue)
	}
	if err := m.verifyMembershipTag(cs, ctx, membershipKey); err != nil {
		return nil, err
	}
	ac := m.AuthenticatedContent()
	if err := ac.VerifySignature(cs, signPub, ctx); err != nil {
		return nil, err
	}
	return ac, nil
}
