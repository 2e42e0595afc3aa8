package mls

import (
	"fmt"
	"slices"
)

// RatchetTree is the public state of a group's ratchet tree (RFC 9420 §7) in
// array representation, padded to a power-of-two number of leaves. It holds
// no private key, so the Delivery Service can track and validate the
// public tree of a room. Not safe for concurrent mutation.
type RatchetTree struct {
	nodes []*Node // length NodeWidth(leaves); nil is a blank node
}

// treeErr reports a structural or cryptographic defect of a tree.
func treeErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidTree}, args...)...)
}

// NewRatchetTree checks the layout of a decoded ratchet_tree (RFC 9420
// §12.4.3.3): leaves at even positions, parents at odd ones, and a non-blank
// last node. It copies the node pointers, not the nodes.
func NewRatchetTree(nodes RatchetTreeNodes) (*RatchetTree, error) {
	if len(nodes) == 0 || len(nodes)%2 == 0 {
		return nil, treeErr("node count %d", len(nodes))
	}
	if nodes[len(nodes)-1] == nil {
		return nil, treeErr("trailing blank node")
	}
	for i, n := range nodes {
		if n == nil {
			continue
		}
		isLeaf := NodeIndex(i).IsLeaf()
		if isLeaf != (n.Type == NodeTypeLeaf) || (isLeaf && n.Leaf == nil) || (!isLeaf && n.Parent == nil) {
			return nil, treeErr("node %d has the wrong type for its position", i)
		}
		if !isLeaf {
			// Keeps every later resolution inside the array; whether the
			// leaves are really below and non-blank is Validate's job.
			for _, l := range n.Parent.UnmergedLeaves {
				if uint64(l.NodeIndex()) >= uint64(len(nodes)) {
					return nil, treeErr("node %d lists unmerged leaf %d outside the tree", i, l)
				}
			}
		}
	}
	leaves := uint32(1)
	for NodeWidth(leaves) < uint32(len(nodes)) {
		leaves <<= 1
	}
	t := &RatchetTree{nodes: make([]*Node, NodeWidth(leaves))}
	copy(t.nodes, nodes)
	return t, nil
}

// Nodes returns the wire form with trailing blank nodes removed.
func (t *RatchetTree) Nodes() RatchetTreeNodes {
	end := len(t.nodes)
	for end > 0 && t.nodes[end-1] == nil {
		end--
	}
	return slices.Clone(RatchetTreeNodes(t.nodes[:end]))
}

// LeafCount is the number of leaf positions (a power of two).
func (t *RatchetTree) LeafCount() uint32 { return (uint32(len(t.nodes)) + 1) / 2 }

// Leaf returns the leaf node at i, or nil if it is blank or out of range.
func (t *RatchetTree) Leaf(i LeafIndex) *LeafNode {
	x := i.NodeIndex()
	if uint64(x) >= uint64(len(t.nodes)) || t.nodes[x] == nil {
		return nil
	}
	return t.nodes[x].Leaf
}

// parent returns the parent node at x, or nil if blank.
func (t *RatchetTree) parent(x NodeIndex) *ParentNode {
	if int(x) >= len(t.nodes) || t.nodes[x] == nil {
		return nil
	}
	return t.nodes[x].Parent
}

// Resolution returns the resolution of x (RFC 9420 §4.1.1): the node itself
// and its unmerged leaves if non-blank, nothing for a blank leaf, else the
// resolutions of its children.
func (t *RatchetTree) Resolution(x NodeIndex) []NodeIndex {
	return t.resolution(x, nil)
}

func (t *RatchetTree) resolution(x NodeIndex, out []NodeIndex) []NodeIndex {
	if n := t.nodes[x]; n != nil {
		out = append(out, x)
		if n.Parent != nil {
			for _, l := range n.Parent.UnmergedLeaves {
				out = append(out, l.NodeIndex())
			}
		}
		return out
	}
	if x.IsLeaf() {
		return out
	}
	l, _ := x.Left()
	r, _ := x.Right()
	return t.resolution(r, t.resolution(l, out))
}

// FilteredDirectPath is the direct path of a leaf without the nodes whose
// copath child has an empty resolution (RFC 9420 §4.1.2).
func (t *RatchetTree) FilteredDirectPath(leaf LeafIndex) []NodeIndex {
	x := leaf.NodeIndex()
	n := t.LeafCount()
	var out []NodeIndex
	for c := x; c != Root(n); {
		p, _ := c.Parent(n)
		s, _ := c.Sibling(n)
		if len(t.Resolution(s)) > 0 {
			out = append(out, p)
		}
		c = p
	}
	return out
}
