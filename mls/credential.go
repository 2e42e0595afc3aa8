package mls

// Credential binds an identity to a signature key (RFC 9420 §5.3). Basic
// credentials carry an identity only; x509 credentials a certificate chain
// whose validation belongs to the Authentication Service, not this package.
type Credential struct {
	Type         CredentialType
	Identity     []byte   // basic
	Certificates [][]byte // x509, leaf first
}

// NewBasicCredential returns a basic credential for identity.
func NewBasicCredential(identity []byte) Credential {
	return Credential{Type: CredentialTypeBasic, Identity: identity}
}

func (c *Credential) structName() string { return "Credential" }

func (c *Credential) marshal(w *writer) {
	w.u16(uint16(c.Type))
	switch c.Type {
	case CredentialTypeBasic:
		w.opaque(c.Identity)
	case CredentialTypeX509:
		w.vector(func(w *writer) {
			for _, cert := range c.Certificates {
				w.opaque(cert)
			}
		})
	default:
		w.err = ErrInvalidArgument
	}
}

func (c *Credential) unmarshal(r *reader) {
	c.Type = CredentialType(r.u16())
	switch c.Type {
	case CredentialTypeBasic:
		c.Identity = r.opaque()
	case CredentialTypeX509:
		r.vector(func(r *reader) { c.Certificates = append(c.Certificates, r.opaque()) })
	default:
		unknown(r, "credential_type", uint64(c.Type))
	}
}
