package mls

import (
	"bytes"
	"time"
)

// KeyPackage advertises a client's keys for being added to groups
// (RFC 9420 §10).
type KeyPackage struct {
	Version     ProtocolVersion
	CipherSuite CipherSuiteID
	InitKey     []byte
	LeafNode    LeafNode
	Extensions  Extensions
	Signature   []byte
}

func (kp *KeyPackage) structName() string { return "KeyPackage" }

func (kp *KeyPackage) marshalTBS(w *writer) {
	w.u16(uint16(kp.Version))
	w.u16(uint16(kp.CipherSuite))
	w.opaque(kp.InitKey)
	kp.LeafNode.marshal(w)
	kp.Extensions.marshal(w)
}

func (kp *KeyPackage) marshal(w *writer) {
	kp.marshalTBS(w)
	w.opaque(kp.Signature)
}

func (kp *KeyPackage) unmarshal(r *reader) {
	kp.Version = ProtocolVersion(r.u16())
	kp.CipherSuite = CipherSuiteID(r.u16())
	kp.InitKey = r.opaque()
	kp.LeafNode.unmarshal(r)
	kp.Extensions.unmarshal(r)
	kp.Signature = r.opaque()
}

func (kp *KeyPackage) tbs() ([]byte, error) {
	var w writer
	kp.marshalTBS(&w)
	return w.result()
}

// Sign sets kp.Signature with SignWithLabel(., "KeyPackageTBS", KeyPackageTBS)
// (RFC 9420 §10). The leaf node must already be signed.
func (kp *KeyPackage) Sign(cs *CipherSuite, signPriv []byte) error {
	tbs, err := kp.tbs()
	if err != nil {
		return err
	}
	sig, err := cs.SignWithLabel(signPriv, "KeyPackageTBS", tbs)
	if err != nil {
		return err
	}
	kp.Signature = sig
	return nil
}

// Ref is MakeKeyPackageRef: RefHash("MLS 1.0 KeyPackage Reference", KeyPackage)
// (RFC 9420 §5.2).
func (kp *KeyPackage) Ref(cs *CipherSuite) ([]byte, error) {
	b, err := Marshal(kp)
	if err != nil {
		return nil, err
	}
	return cs.RefHash("MLS 1.0 KeyPackage Reference", b)
}

func kpErr(reason string, err error) error {
	return &ValidationError{Kind: ErrInvalidKeyPackage, Reason: reason, Err: err}
}

// Validate performs the KeyPackage checks of RFC 9420 §10.1 that need no
// group state: version, suite, leaf node (§7.3, with source key_package and
// lifetime against now), the KeyPackage signature under the leaf's
// signature_key, and init_key differing from the leaf's encryption_key. It
// holds no secret and is what the Delivery Service runs on upload; it returns
// the suite so callers need not look it up again.
func (kp *KeyPackage) Validate(now time.Time) (*CipherSuite, error) {
	if kp.Version != ProtocolVersionMLS10 {
		return nil, kpErr("protocol version", ErrUnsupportedVersion)
	}
	cs, err := CipherSuiteByID(kp.CipherSuite)
	if err != nil {
		return nil, kpErr("cipher suite", err)
	}
	if err := kp.LeafNode.Validate(cs, LeafNodeCheck{Source: LeafNodeSourceKeyPackage, Now: now}); err != nil {
		return nil, kpErr("leaf node", err)
	}
	if kp.Extensions.hasDuplicates() {
		return nil, kpErr("duplicate extension", nil)
	}
	tbs, err := kp.tbs()
	if err != nil {
		return nil, err
	}
	if err := cs.VerifyWithLabel(kp.LeafNode.SignatureKey, "KeyPackageTBS", tbs, kp.Signature); err != nil {
		return nil, kpErr("signature", err)
	}
	if bytes.Equal(kp.InitKey, kp.LeafNode.EncryptionKey) {
		return nil, kpErr("init_key equals encryption_key", nil)
	}
	return cs, nil
}
