package mls

// Tree changes applied by proposals (RFC 9420 §7.7, §12.1). Each validates
// its indices first and leaves the tree unchanged on error.

// AddLeaf places a new member's leaf at the leftmost blank leaf, extending
// the tree if there is none, and adds it to the unmerged_leaves of every
// non-blank parent on its direct path (RFC 9420 §7.7, §12.1.1).
func (t *RatchetTree) AddLeaf(ln *LeafNode) (LeafIndex, error) {
	n := t.LeafCount()
	leaf := LeafIndex(n)
	for i := range n {
		if t.nodes[LeafIndex(i).NodeIndex()] == nil {
			leaf = LeafIndex(i)
			break
		}
	}
	if uint32(leaf) == n {
		if n >= 1<<30 {
			return 0, treeErr("tree full")
		}
		// Doubling keeps the old tree as the left subtree of the new root.
		t.nodes = append(t.nodes, make([]*Node, len(t.nodes)+1)...)
		n *= 2
	}
	x := leaf.NodeIndex()
	t.nodes[x] = &Node{Type: NodeTypeLeaf, Leaf: ln}
	for _, p := range x.DirectPath(n) {
		if pn := t.parent(p); pn != nil {
			q := *pn
			q.UnmergedLeaves = append(append([]LeafIndex(nil), pn.UnmergedLeaves...), leaf)
			t.nodes[p] = &Node{Type: NodeTypeParent, Parent: &q}
		}
	}
	return leaf, nil
}

// UpdateLeaf replaces a member's leaf and blanks its direct path
// (RFC 9420 §12.1.2).
func (t *RatchetTree) UpdateLeaf(leaf LeafIndex, ln *LeafNode) error {
	if t.Leaf(leaf) == nil {
		return ErrInvalidLeafIndex
	}
	x := leaf.NodeIndex()
	t.nodes[x] = &Node{Type: NodeTypeLeaf, Leaf: ln}
	t.blankDirectPath(x)
	return nil
}

// RemoveLeaf blanks a member's leaf and direct path, then truncates the tree
// while its right half is blank (RFC 9420 §12.1.3).
func (t *RatchetTree) RemoveLeaf(leaf LeafIndex) error {
	if t.Leaf(leaf) == nil {
		return ErrInvalidLeafIndex
	}
	x := leaf.NodeIndex()
	t.nodes[x] = nil
	t.blankDirectPath(x)
	t.truncate()
	return nil
}

func (t *RatchetTree) blankDirectPath(x NodeIndex) {
	for _, p := range x.DirectPath(t.LeafCount()) {
		t.nodes[p] = nil
	}
}

// truncate halves the tree while every node right of the root is blank.
func (t *RatchetTree) truncate() {
	for len(t.nodes) > 1 {
		root := int(Root(t.LeafCount()))
		for _, n := range t.nodes[root+1:] {
			if n != nil {
				return
			}
		}
		t.nodes = t.nodes[:root]
	}
}
