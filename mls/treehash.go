package mls

import "slices"

// TreeHash returns the tree hash of the root (RFC 9420 §7.8).
func (t *RatchetTree) TreeHash(cs *CipherSuite) ([]byte, error) {
	return t.NodeTreeHash(cs, Root(t.LeafCount()))
}

// NodeTreeHash returns the tree hash of the subtree rooted at x.
func (t *RatchetTree) NodeTreeHash(cs *CipherSuite, x NodeIndex) ([]byte, error) {
	return t.treeHash(cs, x, nil)
}

// allTreeHashes computes the tree hash of every node in one bottom-up pass,
// so checks that need many subtree hashes stay linear in the tree size.
func (t *RatchetTree) allTreeHashes(cs *CipherSuite) ([][]byte, error) {
	hashes := make([][]byte, len(t.nodes))
	var walk func(x NodeIndex) error
	walk = func(x NodeIndex) error {
		if !x.IsLeaf() {
			l, _ := x.Left()
			r, _ := x.Right()
			if err := walk(l); err != nil {
				return err
			}
			if err := walk(r); err != nil {
				return err
			}
		}
		h, err := t.nodeHash(cs, x, nil, hashes)
		hashes[x] = h
		return err
	}
	return hashes, walk(Root(t.LeafCount()))
}

// treeHash computes tree_hash(x) = Hash(TreeHashInput) (RFC 9420 §7.8). Leaves
// in exclude are treated as blank and dropped from unmerged_leaves, which is
// how the original sibling tree hash of §7.9.1 sees the tree.
func (t *RatchetTree) treeHash(cs *CipherSuite, x NodeIndex, exclude []LeafIndex) ([]byte, error) {
	return t.nodeHash(cs, x, exclude, nil)
}

// nodeHash hashes node x; children's hashes come from known when it is
// non-nil (no exclusions), else they are computed recursively.
func (t *RatchetTree) nodeHash(cs *CipherSuite, x NodeIndex, exclude []LeafIndex, known [][]byte) ([]byte, error) {
	var w writer
	if x.IsLeaf() {
		// struct { uint32 leaf_index; optional<LeafNode> leaf_node; } LeafNodeHashInput
		w.u8(uint8(NodeTypeLeaf))
		w.u32(uint32(x.Leaf()))
		n := t.nodes[x]
		present := n != nil && !slices.Contains(exclude, x.Leaf())
		w.optional(present)
		if present {
			n.Leaf.marshal(&w)
		}
	} else {
		// struct { optional<ParentNode> parent_node; opaque left_hash<V>;
		//          opaque right_hash<V>; } ParentNodeHashInput
		l, _ := x.Left()
		r, _ := x.Right()
		var lh, rh []byte
		if known != nil {
			lh, rh = known[l], known[r]
		} else {
			var err error
			if lh, err = t.treeHash(cs, l, exclude); err != nil {
				return nil, err
			}
			if rh, err = t.treeHash(cs, r, exclude); err != nil {
				return nil, err
			}
		}
		w.u8(uint8(NodeTypeParent))
		p := t.parent(x)
		w.optional(p != nil)
		if p != nil {
			if len(exclude) > 0 {
				q := *p
				q.UnmergedLeaves = slices.DeleteFunc(slices.Clone(p.UnmergedLeaves), func(l LeafIndex) bool {
					return slices.Contains(exclude, l)
				})
				p = &q
			}
			p.marshal(&w)
		}
		w.opaque(lh)
		w.opaque(rh)
	}
	b, err := w.result()
	if err != nil {
		return nil, err
	}
	return cs.Hash(b), nil
}

// parentHash computes ParentHash(P) as seen from P's child on the side
// opposite sibling (RFC 9420 §7.9):
//
//	Hash(struct { HPKEPublicKey encryption_key; opaque parent_hash<V>;
//	              opaque original_sibling_tree_hash<V>; })
func (t *RatchetTree) parentHash(cs *CipherSuite, p, sibling NodeIndex) ([]byte, error) {
	return t.parentHashCached(cs, p, sibling, nil)
}

// parentHashCached uses precomputed tree hashes when P has no unmerged
// leaves, the common case, where the original sibling is the sibling as is.
func (t *RatchetTree) parentHashCached(cs *CipherSuite, p, sibling NodeIndex, hashes [][]byte) ([]byte, error) {
	pn := t.parent(p)
	if pn == nil {
		return nil, treeErr("parent hash of blank node %d", p)
	}
	var sh []byte
	if hashes != nil && len(pn.UnmergedLeaves) == 0 {
		sh = hashes[sibling]
	} else {
		var err error
		if sh, err = t.treeHash(cs, sibling, pn.UnmergedLeaves); err != nil {
			return nil, err
		}
	}
	var w writer
	w.opaque(pn.EncryptionKey)
	w.opaque(pn.ParentHash)
	w.opaque(sh)
	b, err := w.result()
	if err != nil {
		return nil, err
	}
	return cs.Hash(b), nil
}

// nodeParentHash returns the parent_hash field of a node: a parent's, or a
// commit-sourced leaf's.
func (t *RatchetTree) nodeParentHash(x NodeIndex) ([]byte, bool) {
	if int(x) >= len(t.nodes) {
		return nil, false
	}
	n := t.nodes[x]
	switch {
	case n == nil:
		return nil, false
	case n.Parent != nil:
		return n.Parent.ParentHash, true
	case n.Leaf.Source == LeafNodeSourceCommit:
		return n.Leaf.ParentHash, true
	}
	return nil, false
}

// parentHashValid reports whether P is parent-hash valid with respect to
// its child c (RFC 9420 §7.9.2): some D in resolution(c) carries
// ParentHash(P), and the rest of resolution(c) is exactly P's unmerged
// leaves below c.
func (t *RatchetTree) parentHashValid(cs *CipherSuite, p, c, sibling NodeIndex, hashes [][]byte) (bool, error) {
	ph, err := t.parentHashCached(cs, p, sibling, hashes)
	if err != nil {
		return false, err
	}
	res := t.Resolution(c)
	var below []NodeIndex
	for _, l := range t.parent(p).UnmergedLeaves {
		if x := l.NodeIndex(); c.IsAncestorOf(x) {
			below = append(below, x)
		}
	}
	for i, d := range res {
		got, ok := t.nodeParentHash(d)
		if !ok || !bytesEqual(got, ph) {
			continue
		}
		rest := slices.Delete(slices.Clone(res), i, i+1)
		slices.Sort(rest)
		sorted := slices.Clone(below)
		slices.Sort(sorted)
		if slices.Equal(rest, sorted) {
			return true, nil
		}
	}
	return false, nil
}

// VerifyParentHashes checks that every non-blank parent node is parent-hash
// valid with respect to one of its children (RFC 9420 §7.9.2).
func (t *RatchetTree) VerifyParentHashes(cs *CipherSuite) error {
	hashes, err := t.allTreeHashes(cs)
	if err != nil {
		return err
	}
	for i := range t.nodes {
		x := NodeIndex(i)
		if x.IsLeaf() || t.nodes[x] == nil {
			continue
		}
		l, _ := x.Left()
		r, _ := x.Right()
		okL, err := t.parentHashValid(cs, x, l, r, hashes)
		if err != nil {
			return err
		}
		okR, err := t.parentHashValid(cs, x, r, l, hashes)
		if err != nil {
			return err
		}
		if !okL && !okR {
			return treeErr("parent node %d is not parent-hash valid", x)
		}
	}
	return nil
}
