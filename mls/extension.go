package mls

// Extension is struct { ExtensionType extension_type; opaque extension_data<V>; }
// (RFC 9420 §13). Unknown types are kept opaque.
type Extension struct {
	Type ExtensionType
	Data []byte
}

func (e *Extension) structName() string { return "Extension" }

func (e *Extension) marshal(w *writer) {
	w.u16(uint16(e.Type))
	w.opaque(e.Data)
}

func (e *Extension) unmarshal(r *reader) {
	e.Type = ExtensionType(r.u16())
	e.Data = r.opaque()
}

// Extensions is an Extension list<V> as carried by GroupContext, LeafNode,
// KeyPackage and GroupInfo.
type Extensions []Extension

func (l *Extensions) structName() string  { return "Extensions" }
func (l *Extensions) marshal(w *writer)   { marshalList(w, *l) }
func (l *Extensions) unmarshal(r *reader) { *l = unmarshalList[Extension](r) }

// Find returns the data of the first extension of type t.
func (l Extensions) Find(t ExtensionType) ([]byte, bool) {
	for _, e := range l {
		if e.Type == t {
			return e.Data, true
		}
	}
	return nil, false
}

// hasDuplicates reports a type listed twice, which RFC 9420 §13 forbids.
func (l Extensions) hasDuplicates() bool {
	for i := range l {
		for j := i + 1; j < len(l); j++ {
			if l[i].Type == l[j].Type {
				return true
			}
		}
	}
	return false
}

// ExternalSender is an entry of the external_senders extension
// (RFC 9420 §12.1.8.1): a signer outside the group, such as the Delivery
// Service, allowed to send proposals.
type ExternalSender struct {
	SignatureKey []byte
	Credential   Credential
}

func (e *ExternalSender) marshal(w *writer) {
	w.opaque(e.SignatureKey)
	e.Credential.marshal(w)
}

func (e *ExternalSender) unmarshal(r *reader) {
	e.SignatureKey = r.opaque()
	e.Credential.unmarshal(r)
}

// ExternalSenders is the body of the external_senders extension.
type ExternalSenders []ExternalSender

func (l *ExternalSenders) structName() string  { return "ExternalSenders" }
func (l *ExternalSenders) marshal(w *writer)   { marshalList(w, *l) }
func (l *ExternalSenders) unmarshal(r *reader) { *l = unmarshalList[ExternalSender](r) }

// RequiredCapabilities is the body of the required_capabilities extension
// (RFC 9420 §11.1).
type RequiredCapabilities struct {
	ExtensionTypes  []ExtensionType
	ProposalTypes   []ProposalType
	CredentialTypes []CredentialType
}

func (c *RequiredCapabilities) structName() string { return "RequiredCapabilities" }

func (c *RequiredCapabilities) marshal(w *writer) {
	marshalU16List(w, c.ExtensionTypes)
	marshalU16List(w, c.ProposalTypes)
	marshalU16List(w, c.CredentialTypes)
}

func (c *RequiredCapabilities) unmarshal(r *reader) {
	c.ExtensionTypes = unmarshalU16List[ExtensionType](r)
	c.ProposalTypes = unmarshalU16List[ProposalType](r)
	c.CredentialTypes = unmarshalU16List[CredentialType](r)
}

// ExternalPub is the body of the external_pub extension (RFC 9420 §12.4.3.2).
type ExternalPub struct {
	PublicKey []byte
}

func (e *ExternalPub) structName() string  { return "ExternalPub" }
func (e *ExternalPub) marshal(w *writer)   { w.opaque(e.PublicKey) }
func (e *ExternalPub) unmarshal(r *reader) { e.PublicKey = r.opaque() }
