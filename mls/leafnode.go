package mls

import (
	"bytes"
	"time"
)

// LeafNode is a member's leaf in the ratchet tree (RFC 9420 §7.2).
type LeafNode struct {
	EncryptionKey []byte
	SignatureKey  []byte
	Credential    Credential
	Capabilities  Capabilities
	Source        LeafNodeSource
	Lifetime      Lifetime // when Source is LeafNodeSourceKeyPackage
	ParentHash    []byte   // when Source is LeafNodeSourceCommit
	Extensions    Extensions
	Signature     []byte
}

func (n *LeafNode) structName() string { return "LeafNode" }

// marshalBody writes every field up to and including extensions: the shared
// prefix of LeafNode and LeafNodeTBS.
func (n *LeafNode) marshalBody(w *writer) {
	w.opaque(n.EncryptionKey)
	w.opaque(n.SignatureKey)
	n.Credential.marshal(w)
	n.Capabilities.marshal(w)
	w.u8(uint8(n.Source))
	switch n.Source {
	case LeafNodeSourceKeyPackage:
		n.Lifetime.marshal(w)
	case LeafNodeSourceUpdate:
	case LeafNodeSourceCommit:
		w.opaque(n.ParentHash)
	default:
		w.err = ErrInvalidArgument
	}
	n.Extensions.marshal(w)
}

func (n *LeafNode) marshal(w *writer) {
	n.marshalBody(w)
	w.opaque(n.Signature)
}

func (n *LeafNode) unmarshal(r *reader) {
	n.EncryptionKey = r.opaque()
	n.SignatureKey = r.opaque()
	n.Credential.unmarshal(r)
	n.Capabilities.unmarshal(r)
	n.Source = LeafNodeSource(r.u8())
	switch n.Source {
	case LeafNodeSourceKeyPackage:
		n.Lifetime.unmarshal(r)
	case LeafNodeSourceUpdate:
	case LeafNodeSourceCommit:
		n.ParentHash = r.opaque()
	default:
		unknown(r, "leaf_node_source", uint64(n.Source))
	}
	n.Extensions.unmarshal(r)
	n.Signature = r.opaque()
}

// tbs encodes LeafNodeTBS (RFC 9420 §7.2): update and commit leaves are bound
// to a group and a position, key_package leaves are not.
func (n *LeafNode) tbs(groupID []byte, leaf LeafIndex) ([]byte, error) {
	var w writer
	n.marshalBody(&w)
	if n.Source == LeafNodeSourceUpdate || n.Source == LeafNodeSourceCommit {
		w.opaque(groupID)
		w.u32(uint32(leaf))
	}
	return w.result()
}

// Sign sets n.Signature with SignWithLabel(., "LeafNodeTBS", LeafNodeTBS).
// groupID and leaf are ignored for key_package leaves.
func (n *LeafNode) Sign(cs *CipherSuite, signPriv, groupID []byte, leaf LeafIndex) error {
	tbs, err := n.tbs(groupID, leaf)
	if err != nil {
		return err
	}
	sig, err := cs.SignWithLabel(signPriv, "LeafNodeTBS", tbs)
	if err != nil {
		return err
	}
	n.Signature = sig
	return nil
}

// VerifySignature checks the leaf's signature under its own signature_key.
// It needs no group secret, so the Delivery Service can call it.
func (n *LeafNode) VerifySignature(cs *CipherSuite, groupID []byte, leaf LeafIndex) error {
	tbs, err := n.tbs(groupID, leaf)
	if err != nil {
		return err
	}
	return cs.VerifyWithLabel(n.SignatureKey, "LeafNodeTBS", tbs, n.Signature)
}

// LeafNodeCheck carries the context of a LeafNode validation (RFC 9420 §7.3).
// Checks that need the ratchet tree (key uniqueness, credential types of
// other members) belong to the tree code and take this as their base.
type LeafNodeCheck struct {
	// Source is the leaf_node_source the context demands.
	Source LeafNodeSource
	// Now is compared with the lifetime of key_package leaves.
	Now time.Time
	// GroupID and Leaf bind update and commit leaves.
	GroupID []byte
	Leaf    LeafIndex
	// Required, when non-nil, comes from the group's required_capabilities.
	Required *RequiredCapabilities
}

func leafErr(reason string, err error) error {
	return &ValidationError{Kind: ErrInvalidLeafNode, Reason: reason, Err: err}
}

// Validate performs the checks of RFC 9420 §7.3 that need no tree state:
// signature, source, lifetime, capabilities coverage of the leaf's own
// credential and extensions, and required_capabilities.
func (n *LeafNode) Validate(cs *CipherSuite, chk LeafNodeCheck) error {
	if n.Source != chk.Source {
		return leafErr("unexpected leaf_node_source", nil)
	}
	if err := n.VerifySignature(cs, chk.GroupID, chk.Leaf); err != nil {
		return leafErr("signature", err)
	}
	if n.Source == LeafNodeSourceKeyPackage {
		now := chk.Now.Unix()
		if now < 0 || uint64(now) < n.Lifetime.NotBefore || uint64(now) > n.Lifetime.NotAfter {
			return leafErr("outside lifetime", nil)
		}
	}
	if !n.Capabilities.SupportsCredential(n.Credential.Type) {
		return leafErr("credential type not in capabilities", nil)
	}
	if n.Extensions.hasDuplicates() {
		return leafErr("duplicate extension", nil)
	}
	for _, e := range n.Extensions {
		if !n.Capabilities.SupportsExtension(e.Type) {
			return leafErr("extension not in capabilities", nil)
		}
	}
	if rc := chk.Required; rc != nil {
		for _, t := range rc.ExtensionTypes {
			if !n.Capabilities.SupportsExtension(t) {
				return leafErr("required extension unsupported", nil)
			}
		}
		for _, p := range rc.ProposalTypes {
			if !n.Capabilities.SupportsProposal(p) {
				return leafErr("required proposal unsupported", nil)
			}
		}
		for _, c := range rc.CredentialTypes {
			if !n.Capabilities.SupportsCredential(c) {
				return leafErr("required credential unsupported", nil)
			}
		}
	}
	if len(n.EncryptionKey) == 0 || len(n.SignatureKey) == 0 {
		return leafErr("empty key", nil)
	}
	if bytes.Equal(n.EncryptionKey, n.SignatureKey) {
		return leafErr("encryption key equals signature key", nil)
	}
	return nil
}
