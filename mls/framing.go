package mls

// Sender identifies who produced a FramedContent (RFC 9420 §6).
type Sender struct {
	Type SenderType
	// LeafIndex is the sender's leaf when Type is SenderTypeMember.
	LeafIndex LeafIndex
	// SenderIndex indexes the external_senders extension when Type is
	// SenderTypeExternal.
	SenderIndex uint32
}

func (s *Sender) marshal(w *writer) {
	w.u8(uint8(s.Type))
	switch s.Type {
	case SenderTypeMember:
		w.u32(uint32(s.LeafIndex))
	case SenderTypeExternal:
		w.u32(s.SenderIndex)
	case SenderTypeNewMemberProposal, SenderTypeNewMemberCommit:
	default:
		w.err = ErrInvalidArgument
	}
}

func (s *Sender) unmarshal(r *reader) {
	s.Type = SenderType(r.u8())
	switch s.Type {
	case SenderTypeMember:
		s.LeafIndex = LeafIndex(r.u32())
	case SenderTypeExternal:
		s.SenderIndex = r.u32()
	case SenderTypeNewMemberProposal, SenderTypeNewMemberCommit:
	default:
		unknown(r, "sender_type", uint64(s.Type))
	}
}

// FramedContent is the authenticated content of a handshake or application
// message before protection (RFC 9420 §6).
type FramedContent struct {
	GroupID           []byte
	Epoch             uint64
	Sender            Sender
	AuthenticatedData []byte
	ContentType       ContentType
	ApplicationData   []byte    // ContentTypeApplication
	Proposal          *Proposal // ContentTypeProposal
	Commit            *Commit   // ContentTypeCommit
}

func (c *FramedContent) structName() string { return "FramedContent" }

// marshalBody writes the content-type-selected body shared by FramedContent
// and PrivateMessageContent.
func (c *FramedContent) marshalBody(w *writer) {
	switch {
	case c.ContentType == ContentTypeApplication:
		w.opaque(c.ApplicationData)
	case c.ContentType == ContentTypeProposal && c.Proposal != nil:
		c.Proposal.marshal(w)
	case c.ContentType == ContentTypeCommit && c.Commit != nil:
		c.Commit.marshal(w)
	default:
		w.err = ErrInvalidArgument
	}
}

func (c *FramedContent) unmarshalBody(r *reader) {
	switch c.ContentType {
	case ContentTypeApplication:
		c.ApplicationData = r.opaque()
	case ContentTypeProposal:
		c.Proposal = new(Proposal)
		c.Proposal.unmarshal(r)
	case ContentTypeCommit:
		c.Commit = new(Commit)
		c.Commit.unmarshal(r)
	default:
		unknown(r, "content_type", uint64(c.ContentType))
	}
}

func (c *FramedContent) marshal(w *writer) {
	w.opaque(c.GroupID)
	w.u64(c.Epoch)
	c.Sender.marshal(w)
	w.opaque(c.AuthenticatedData)
	w.u8(uint8(c.ContentType))
	c.marshalBody(w)
}

func (c *FramedContent) unmarshal(r *reader) {
	c.GroupID = r.opaque()
	c.Epoch = r.u64()
	c.Sender.unmarshal(r)
	c.AuthenticatedData = r.opaque()
	c.ContentType = ContentType(r.u8())
	c.unmarshalBody(r)
}

// FramedContentAuthData is the signature and, for commits, the confirmation
// tag (RFC 9420 §6.1). Its layout depends on the content type.
type FramedContentAuthData struct {
	Signature       []byte
	ConfirmationTag []byte // commits only
}

func (a *FramedContentAuthData) marshal(w *writer, ct ContentType) {
	w.opaque(a.Signature)
	if ct == ContentTypeCommit {
		w.opaque(a.ConfirmationTag)
	}
}

func (a *FramedContentAuthData) unmarshal(r *reader, ct ContentType) {
	a.Signature = r.opaque()
	if ct == ContentTypeCommit {
		a.ConfirmationTag = r.opaque()
	}
}

// AuthenticatedContent is FramedContent with its wire format and
// authentication data (RFC 9420 §6.1): what a PublicMessage or a decrypted
// PrivateMessage yields, and the input to transcript hashes and proposal refs.
type AuthenticatedContent struct {
	WireFormat WireFormat
	Content    FramedContent
	Auth       FramedContentAuthData
}

func (a *AuthenticatedContent) structName() string { return "AuthenticatedContent" }

func (a *AuthenticatedContent) marshal(w *writer) {
	w.u16(uint16(a.WireFormat))
	a.Content.marshal(w)
	a.Auth.marshal(w, a.Content.ContentType)
}

func (a *AuthenticatedContent) unmarshal(r *reader) {
	a.WireFormat = WireFormat(r.u16())
	if a.WireFormat != WireFormatPublicMessage && a.WireFormat != WireFormatPrivateMessage {
		unknown(r, "wire_format", uint64(a.WireFormat))
	}
	a.Content.unmarshal(r)
	a.Auth.unmarshal(r, a.Content.ContentType)
}

// senderHasContext reports whether FramedContentTBS includes the
// GroupContext: it does for members and new-member commits (RFC 9420 §6.1).
func senderHasContext(t SenderType) bool {
	return t == SenderTypeMember || t == SenderTypeNewMemberCommit
}

// marshalTBS writes FramedContentTBS (RFC 9420 §6.1).
func marshalTBS(w *writer, wf WireFormat, c *FramedContent, ctx *GroupContext) {
	w.u16(uint16(ProtocolVersionMLS10))
	w.u16(uint16(wf))
	c.marshal(w)
	if senderHasContext(c.Sender.Type) {
		if ctx == nil {
			w.err = ErrInvalidArgument
			return
		}
		ctx.marshal(w)
	}
}

func framedContentTBS(wf WireFormat, c *FramedContent, ctx *GroupContext) ([]byte, error) {
	var w writer
	marshalTBS(&w, wf, c, ctx)
	return w.result()
}

// Sign sets a.Auth.Signature with SignWithLabel(., "FramedContentTBS",
// FramedContentTBS) (RFC 9420 §6.1). ctx is required for member and
// new-member-commit senders and ignored otherwise. For commits the caller
// sets the confirmation tag after signing (it depends on the signature
// through the confirmed transcript hash, §8.2).
func (a *AuthenticatedContent) Sign(cs *CipherSuite, signPriv []byte, ctx *GroupContext) error {
	tbs, err := framedContentTBS(a.WireFormat, &a.Content, ctx)
	if err != nil {
		return err
	}
	sig, err := cs.SignWithLabel(signPriv, "FramedContentTBS", tbs)
	if err != nil {
		return err
	}
	a.Auth.Signature = sig
	return nil
}

// VerifySignature checks the signature under the sender's signature key,
// which the caller resolves from the tree (member), the external_senders
// extension (external) or the message itself (new member). No group secret
// is involved, so the Delivery Service uses it to authenticate PublicMessages.
func (a *AuthenticatedContent) VerifySignature(cs *CipherSuite, signPub []byte, ctx *GroupContext) error {
	tbs, err := framedContentTBS(a.WireFormat, &a.Content, ctx)
	if err != nil {
		return err
	}
	return cs.VerifyWithLabel(signPub, "FramedContentTBS", tbs, a.Auth.Signature)
}
