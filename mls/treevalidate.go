package mls

import "slices"

// Validate checks a ratchet tree received from others, as a joiner must
// before trusting it (RFC 9420 §12.4.3.1, §7.9.2, §7.3) and as the Delivery
// Service does to track a room's public state:
//
//   - every non-blank leaf is signed for its position in groupID and lists
//     its own credential type and extensions in its capabilities;
//   - every unmerged leaf of a parent is a non-blank leaf below it, and every
//     non-blank node between that leaf and the parent lists it too;
//   - every non-blank parent is parent-hash valid;
//   - no HPKE encryption key appears twice, nor a signature key in two leaves.
//
// Leaf lifetimes are not checked: leaves that joined long ago legitimately
// carry expired KeyPackage lifetimes.
func (t *RatchetTree) Validate(cs *CipherSuite, groupID []byte) error {
	encKeys := map[string]NodeIndex{}
	sigKeys := map[string]LeafIndex{}
	for i, n := range t.nodes {
		if n == nil {
			continue
		}
		x := NodeIndex(i)
		var enc []byte
		if n.Leaf != nil {
			li := x.Leaf()
			ln := n.Leaf
			if err := ln.validateStatic(cs, groupID, li); err != nil {
				return treeErr("leaf %d: %v", li, err)
			}
			if prev, dup := sigKeys[string(ln.SignatureKey)]; dup {
				return treeErr("leaves %d and %d share a signature key", prev, li)
			}
			sigKeys[string(ln.SignatureKey)] = li
			enc = ln.EncryptionKey
		} else {
			enc = n.Parent.EncryptionKey
			if err := t.checkUnmerged(x); err != nil {
				return err
			}
		}
		if prev, dup := encKeys[string(enc)]; dup {
			return treeErr("nodes %d and %d share an encryption key", prev, x)
		}
		encKeys[string(enc)] = x
	}
	return t.VerifyParentHashes(cs)
}

// checkUnmerged applies the unmerged_leaves rule of RFC 9420 §7.9 / §12.4.3.1
// to parent p. Only nodes strictly between the leaf and p must list the leaf;
// nodes above p are not constrained by p's list.
func (t *RatchetTree) checkUnmerged(p NodeIndex) error {
	pn := t.nodes[p].Parent
	n := t.LeafCount()
	for _, l := range pn.UnmergedLeaves {
		x := l.NodeIndex()
		if uint64(x) >= uint64(len(t.nodes)) || !p.IsAncestorOf(x) || x == p || t.nodes[x] == nil {
			return treeErr("parent %d lists unmerged leaf %d that is blank or not below it", p, l)
		}
		for a, _ := x.Parent(n); a != p; a, _ = a.Parent(n) {
			if q := t.parent(a); q != nil && !slices.Contains(q.UnmergedLeaves, l) {
				return treeErr("node %d between leaf %d and parent %d does not list it as unmerged", a, l, p)
			}
		}
	}
	return nil
}

// validateStatic is the part of LeafNode validation that holds for a leaf
// already in a tree: signature for its position and capability coverage.
func (n *LeafNode) validateStatic(cs *CipherSuite, groupID []byte, leaf LeafIndex) error {
	if err := n.VerifySignature(cs, groupID, leaf); err != nil {
		return err
	}
	if !n.Capabilities.SupportsCredential(n.Credential.Type) {
		return leafErr("credential type not in capabilities", nil)
	}
	for _, e := range n.Extensions {
		if !n.Capabilities.SupportsExtension(e.Type) {
			return leafErr("extension not in capabilities", nil)
		}
	}
	return nil
}
