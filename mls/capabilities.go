package mls

import "slices"

// Capabilities lists what a client supports (RFC 9420 §7.2). Lists may hold
// values unknown to this package, including GREASE values (§13.5).
type Capabilities struct {
	Versions     []ProtocolVersion
	CipherSuites []CipherSuiteID
	Extensions   []ExtensionType
	Proposals    []ProposalType
	Credentials  []CredentialType
}

func (c *Capabilities) structName() string { return "Capabilities" }

func (c *Capabilities) marshal(w *writer) {
	marshalU16List(w, c.Versions)
	marshalU16List(w, c.CipherSuites)
	marshalU16List(w, c.Extensions)
	marshalU16List(w, c.Proposals)
	marshalU16List(w, c.Credentials)
}

func (c *Capabilities) unmarshal(r *reader) {
	c.Versions = unmarshalU16List[ProtocolVersion](r)
	c.CipherSuites = unmarshalU16List[CipherSuiteID](r)
	c.Extensions = unmarshalU16List[ExtensionType](r)
	c.Proposals = unmarshalU16List[ProposalType](r)
	c.Credentials = unmarshalU16List[CredentialType](r)
}

// SupportsExtension reports whether t is a default extension or listed.
func (c *Capabilities) SupportsExtension(t ExtensionType) bool {
	return isDefaultExtension(t) || slices.Contains(c.Extensions, t)
}

// SupportsProposal reports whether p is a default proposal type (§7.2: types
// 1 to 7 need not be listed) or listed.
func (c *Capabilities) SupportsProposal(p ProposalType) bool {
	return (p >= ProposalTypeAdd && p <= ProposalTypeGroupContextExtensions) || slices.Contains(c.Proposals, p)
}

// SupportsCredential reports whether t is listed. Credential types have no
// default set: a leaf must list the type it uses (§7.2).
func (c *Capabilities) SupportsCredential(t CredentialType) bool {
	return slices.Contains(c.Credentials, t)
}

// Lifetime bounds the validity of a KeyPackage's leaf, in seconds since the
// Unix epoch (RFC 9420 §7.2).
type Lifetime struct {
	NotBefore uint64
	NotAfter  uint64
}

func (l *Lifetime) structName() string { return "Lifetime" }

func (l *Lifetime) marshal(w *writer) {
	w.u64(l.NotBefore)
	w.u64(l.NotAfter)
}

func (l *Lifetime) unmarshal(r *reader) {
	l.NotBefore = r.u64()
	l.NotAfter = r.u64()
}
