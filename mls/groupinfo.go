package mls

import (
	"bytes"
	"fmt"
)

// Every GroupInfo this package signs comes from newGroupInfo, and every one
// it accepts from outside the group goes through verifyGroupInfo, so a
// member's Commit, a member's GroupInfo for the Delivery Service, an
// external joiner's first GroupInfo, a Welcome and a PublicGroup all agree on
// what a GroupInfo holds.

// newGroupInfo builds and signs the GroupInfo of an epoch (RFC 9420
// §12.4.3): its GroupContext, the confirmation tag that opened it and the
// signer's leaf. external_pub is always included, because a member that
// lost its state can only come back by external commit (§12.4.3.2) and needs
// no other member online for it; the ratchet_tree extension (§12.4.3.3) is
// included when tree is not nil.
func newGroupInfo(cs *CipherSuite, ctx *GroupContext, confTag []byte, es *epochSecrets, tree *RatchetTree, signer LeafIndex, signPriv []byte) (*GroupInfo, error) {
	ext, err := externalPubExtension(cs, es)
	if err != nil {
		return nil, err
	}
	gi := &GroupInfo{GroupContext: *ctx, Extensions: Extensions{ext}, ConfirmationTag: confTag, Signer: signer}
	if tree != nil {
		nodes := tree.Nodes()
		b, err := Marshal(&nodes)
		if err != nil {
			return nil, err
		}
		gi.Extensions = append(gi.Extensions, Extension{Type: ExtensionTypeRatchetTree, Data: b})
	}
	if err := gi.Sign(cs, signPriv); err != nil {
		return nil, err
	}
	return gi, nil
}

// externalPubExtension is the external_pub extension of an epoch: the public
// half of KEM.DeriveKeyPair(external_secret) (RFC 9420 §8.3, §12.4.3.2).
func externalPubExtension(cs *CipherSuite, es *epochSecrets) (Extension, error) {
	pub, err := es.externalPub(cs)
	if err != nil {
		return Extension{}, fmt.Errorf("mls: external_pub: %w", err)
	}
	data, err := Marshal(&ExternalPub{PublicKey: pub})
	if err != nil {
		return Extension{}, err
	}
	return Extension{Type: ExtensionTypeExternalPub, Data: data}, nil
}

// externalPubOf reads the key an external joiner encapsulates its
// init_secret to (RFC 9420 §8.3) from a GroupInfo's external_pub extension
// (§12.4.3.2).
func externalPubOf(gi *GroupInfo) ([]byte, error) {
	data, ok := gi.Extensions.Find(ExtensionTypeExternalPub)
	if !ok {
		return nil, externalErr("GroupInfo has no external_pub")
	}
	var ep ExternalPub
	if err := Unmarshal(data, &ep); err != nil {
		return nil, err
	}
	return ep.PublicKey, nil
}

// verifyGroupInfo checks a GroupInfo from outside the group, as a joiner
// must (RFC 9420 §12.4.3.1, §12.4.3.2): the tree (from the ratchet_tree
// extension or nodes) is well formed, the signer is a member whose key
// verifies the signature, the tree hash is the GroupContext's and the tree
// validates.
func verifyGroupInfo(cs *CipherSuite, gi *GroupInfo, nodes RatchetTreeNodes) (*RatchetTree, error) {
	if data, ok := gi.Extensions.Find(ExtensionTypeRatchetTree); ok {
		if err := Unmarshal(data, &nodes); err != nil {
			return nil, err
		}
	}
	if nodes == nil {
		return nil, treeErr("no ratchet tree in the GroupInfo or the parameters")
	}
	tree, err := NewRatchetTree(nodes)
	if err != nil {
		return nil, err
	}
	signer := tree.Leaf(gi.Signer)
	if signer == nil {
		return nil, fmt.Errorf("%w: GroupInfo signer is not a member", ErrInvalidSender)
	}
	if err := gi.VerifySignature(cs, signer.SignatureKey); err != nil {
		return nil, err
	}
	th, err := tree.TreeHash(cs)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(th, gi.GroupContext.TreeHash) {
		return nil, treeErr("tree hash differs from the GroupContext")
	}
	if err := tree.Validate(cs, gi.GroupContext.GroupID); err != nil {
		return nil, err
	}
	return tree, nil
}
