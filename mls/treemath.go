package mls

import "math/bits"

// Tree math for the array representation of a left-balanced binary tree
// (RFC 9420 §4.2, Appendix C). Leaves sit at even node indices; a tree of n
// leaves has 2n-1 nodes. MLS trees always have a power-of-two leaf count
// (the tree doubles when it grows, §7.7), which the functions assume.

// LeafIndex numbers the leaves of a ratchet tree from 0.
type LeafIndex uint32

// NodeIndex numbers all nodes of the array representation.
type NodeIndex uint32

// NodeIndex returns the node index of a leaf: 2*leaf.
func (l LeafIndex) NodeIndex() NodeIndex { return NodeIndex(2 * uint64(l)) }

// IsLeaf reports whether the node is a leaf (even index).
func (x NodeIndex) IsLeaf() bool { return x&1 == 0 }

// Leaf returns the leaf index of a leaf node.
func (x NodeIndex) Leaf() LeafIndex { return LeafIndex(x >> 1) }

// Level is the height of the node above the leaves: its number of trailing
// one bits.
func (x NodeIndex) Level() uint { return uint(bits.TrailingZeros32(^uint32(x))) }

// NodeWidth is the number of nodes in a tree of n leaves.
func NodeWidth(nLeaves uint32) uint32 {
	if nLeaves == 0 {
		return 0
	}
	return 2*(nLeaves-1) + 1
}

// Root returns the root node of a tree of n leaves.
func Root(nLeaves uint32) NodeIndex {
	w := NodeWidth(nLeaves)
	return NodeIndex(uint32(1)<<log2(w) - 1)
}

// log2 is floor(log2(x)) with log2(0) = 0.
func log2(x uint32) uint {
	if x == 0 {
		return 0
	}
	return uint(bits.Len32(x) - 1)
}

// Left returns the left child of an intermediate node; ok is false for a leaf.
func (x NodeIndex) Left() (NodeIndex, bool) {
	k := x.Level()
	if k == 0 {
		return 0, false
	}
	return x ^ (1 << (k - 1)), true
}

// Right returns the right child of an intermediate node; ok is false for a leaf.
func (x NodeIndex) Right() (NodeIndex, bool) {
	k := x.Level()
	if k == 0 {
		return 0, false
	}
	return x ^ (3 << (k - 1)), true
}

// Parent returns the parent of x in a tree of n leaves; ok is false for the
// root and for nodes outside the tree.
func (x NodeIndex) Parent(nLeaves uint32) (NodeIndex, bool) {
	if uint32(x) >= NodeWidth(nLeaves) || x == Root(nLeaves) {
		return 0, false
	}
	k := x.Level()
	b := (x >> (k + 1)) & 1
	return (x | (1 << k)) ^ (b << (k + 1)), true
}

// Sibling returns the other child of x's parent; ok is false for the root.
func (x NodeIndex) Sibling(nLeaves uint32) (NodeIndex, bool) {
	p, ok := x.Parent(nLeaves)
	if !ok {
		return 0, false
	}
	if x < p {
		return p.Right()
	}
	return p.Left()
}

// DirectPath returns the parents of x from its parent up to the root.
func (x NodeIndex) DirectPath(nLeaves uint32) []NodeIndex {
	var path []NodeIndex
	for p, ok := x.Parent(nLeaves); ok; p, ok = p.Parent(nLeaves) {
		path = append(path, p)
	}
	return path
}

// Copath returns the siblings of x and of each node of its direct path
// except the root (RFC 9420 §4.1).
func (x NodeIndex) Copath(nLeaves uint32) []NodeIndex {
	var cp []NodeIndex
	for n := x; n != Root(nLeaves); {
		s, ok := n.Sibling(nLeaves)
		if !ok {
			break
		}
		cp = append(cp, s)
		n, _ = n.Parent(nLeaves)
	}
	return cp
}

// IsAncestorOf reports whether x is an ancestor of y (or y itself) in the
// array layout: the subtree under x covers indices within 2^level-1 of x.
func (x NodeIndex) IsAncestorOf(y NodeIndex) bool {
	span := uint32(1)<<x.Level() - 1
	return uint32(y) >= uint32(x)-span && uint32(y) <= uint32(x)+span
}
