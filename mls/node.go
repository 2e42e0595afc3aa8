package mls

// ParentNode is an intermediate node of the ratchet tree (RFC 9420 §7.1).
type ParentNode struct {
	EncryptionKey  []byte
	ParentHash     []byte
	UnmergedLeaves []LeafIndex
}

func (p *ParentNode) marshal(w *writer) {
	w.opaque(p.EncryptionKey)
	w.opaque(p.ParentHash)
	w.vector(func(w *writer) {
		for _, l := range p.UnmergedLeaves {
			w.u32(uint32(l))
		}
	})
}

func (p *ParentNode) unmarshal(r *reader) {
	p.EncryptionKey = r.opaque()
	p.ParentHash = r.opaque()
	r.vector(func(r *reader) { p.UnmergedLeaves = append(p.UnmergedLeaves, LeafIndex(r.u32())) })
}

// Node is a non-blank ratchet tree node (RFC 9420 §7.8): exactly one of Leaf
// and Parent is set, as Type says.
type Node struct {
	Type   NodeType
	Leaf   *LeafNode
	Parent *ParentNode
}

func (n *Node) marshal(w *writer) {
	w.u8(uint8(n.Type))
	switch {
	case n.Type == NodeTypeLeaf && n.Leaf != nil:
		n.Leaf.marshal(w)
	case n.Type == NodeTypeParent && n.Parent != nil:
		n.Parent.marshal(w)
	default:
		w.err = ErrInvalidArgument
	}
}

func (n *Node) unmarshal(r *reader) {
	n.Type = NodeType(r.u8())
	switch n.Type {
	case NodeTypeLeaf:
		n.Leaf = new(LeafNode)
		n.Leaf.unmarshal(r)
	case NodeTypeParent:
		n.Parent = new(ParentNode)
		n.Parent.unmarshal(r)
	default:
		unknown(r, "node_type", uint64(n.Type))
	}
}

// RatchetTreeNodes is the wire form of a ratchet tree, optional<Node>
// ratchet_tree<V> (RFC 9420 §12.4.3.3), in array order; nil entries are
// blank nodes. Structural checks (leaf/parent parity, trailing blanks,
// power-of-two width) belong to the tree code that imports it.
type RatchetTreeNodes []*Node

func (t *RatchetTreeNodes) structName() string { return "RatchetTree" }

func (t *RatchetTreeNodes) marshal(w *writer) {
	w.vector(func(w *writer) {
		for _, n := range *t {
			w.optional(n != nil)
			if n != nil {
				n.marshal(w)
			}
		}
	})
}

func (t *RatchetTreeNodes) unmarshal(r *reader) {
	var nodes []*Node
	r.vector(func(r *reader) {
		var n *Node
		if r.optional() {
			n = new(Node)
			n.unmarshal(r)
		}
		nodes = append(nodes, n)
	})
	*t = nodes
}
