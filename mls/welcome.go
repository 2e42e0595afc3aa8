package mls

// GroupInfo is what a joiner needs to know about the group (RFC 9420 §12.4.3).
type GroupInfo struct {
	GroupContext    GroupContext
	Extensions      Extensions
	ConfirmationTag []byte
	Signer          LeafIndex
	Signature       []byte
}

func (g *GroupInfo) structName() string { return "GroupInfo" }

func (g *GroupInfo) marshalTBS(w *writer) {
	g.GroupContext.marshal(w)
	g.Extensions.marshal(w)
	w.opaque(g.ConfirmationTag)
	w.u32(uint32(g.Signer))
}

func (g *GroupInfo) marshal(w *writer) {
	g.marshalTBS(w)
	w.opaque(g.Signature)
}

func (g *GroupInfo) unmarshal(r *reader) {
	g.GroupContext.unmarshal(r)
	g.Extensions.unmarshal(r)
	g.ConfirmationTag = r.opaque()
	g.Signer = LeafIndex(r.u32())
	g.Signature = r.opaque()
}

func (g *GroupInfo) tbs() ([]byte, error) {
	var w writer
	g.marshalTBS(&w)
	return w.result()
}

// Sign sets g.Signature with SignWithLabel(., "GroupInfoTBS", GroupInfoTBS).
func (g *GroupInfo) Sign(cs *CipherSuite, signPriv []byte) error {
	tbs, err := g.tbs()
	if err != nil {
		return err
	}
	sig, err := cs.SignWithLabel(signPriv, "GroupInfoTBS", tbs)
	if err != nil {
		return err
	}
	g.Signature = sig
	return nil
}

// VerifySignature checks the signature under the signer's signature key,
// which the caller takes from the signer's leaf in the ratchet tree.
func (g *GroupInfo) VerifySignature(cs *CipherSuite, signerPub []byte) error {
	tbs, err := g.tbs()
	if err != nil {
		return err
	}
	return cs.VerifyWithLabel(signerPub, "GroupInfoTBS", tbs, g.Signature)
}

// groupPathSecret is struct { opaque path_secret<V>; } (RFC 9420 §12.4.3.1).
type groupPathSecret struct {
	Secret []byte
}

// groupSecrets is the plaintext of an EncryptedGroupSecrets (RFC 9420 §12.4.3.1).
type groupSecrets struct {
	JoinerSecret []byte
	PathSecret   *groupPathSecret
	PSKs         []PreSharedKeyID
}

func (g *groupSecrets) structName() string { return "GroupSecrets" }

func (g *groupSecrets) marshal(w *writer) {
	w.opaque(g.JoinerSecret)
	w.optional(g.PathSecret != nil)
	if g.PathSecret != nil {
		w.opaque(g.PathSecret.Secret)
	}
	marshalList(w, g.PSKs)
}

func (g *groupSecrets) unmarshal(r *reader) {
	g.JoinerSecret = r.opaque()
	if r.optional() {
		g.PathSecret = &groupPathSecret{Secret: r.opaque()}
	}
	g.PSKs = unmarshalList[PreSharedKeyID](r)
}

// zero overwrites the secrets once they have been used.
func (g *groupSecrets) zero() {
	clear(g.JoinerSecret)
	if g.PathSecret != nil {
		clear(g.PathSecret.Secret)
	}
}

// EncryptedGroupSecrets is one joiner's share of a Welcome (RFC 9420 §12.4.3.1).
type EncryptedGroupSecrets struct {
	NewMember             []byte // KeyPackageRef
	EncryptedGroupSecrets HPKECiphertext
}

func (e *EncryptedGroupSecrets) marshal(w *writer) {
	w.opaque(e.NewMember)
	e.EncryptedGroupSecrets.marshal(w)
}

func (e *EncryptedGroupSecrets) unmarshal(r *reader) {
	e.NewMember = r.opaque()
	e.EncryptedGroupSecrets.unmarshal(r)
}

// Welcome invites new members into the group (RFC 9420 §12.4.3.1).
type Welcome struct {
	CipherSuite        CipherSuiteID
	Secrets            []EncryptedGroupSecrets
	EncryptedGroupInfo []byte
}

func (wl *Welcome) structName() string { return "Welcome" }

func (wl *Welcome) marshal(w *writer) {
	w.u16(uint16(wl.CipherSuite))
	marshalList(w, wl.Secrets)
	w.opaque(wl.EncryptedGroupInfo)
}

func (wl *Welcome) unmarshal(r *reader) {
	wl.CipherSuite = CipherSuiteID(r.u16())
	wl.Secrets = unmarshalList[EncryptedGroupSecrets](r)
	wl.EncryptedGroupInfo = r.opaque()
}
