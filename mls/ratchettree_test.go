package mls

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func decodeTree(t *testing.T, b []byte) *RatchetTree {
	t.Helper()
	var nodes RatchetTreeNodes
	roundTrip(t, "ratchet_tree", b, &nodes)
	tree, err := NewRatchetTree(nodes)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestTreeValidationVectors(t *testing.T) {
	var vs []struct {
		CipherSuite uint16     `json:"cipher_suite"`
		Tree        hexBytes   `json:"tree"`
		GroupID     hexBytes   `json:"group_id"`
		TreeHashes  []hexBytes `json:"tree_hashes"`
		Resolutions [][]uint32 `json:"resolutions"`
	}
	loadVectors(t, "tree-validation.json", &vs)
	ran := 0
	for i, v := range vs {
		cs := testSuite(t, v.CipherSuite)
		if cs == nil {
			continue
		}
		ran++
		tree := decodeTree(t, v.Tree)
		for x, want := range v.TreeHashes {
			got, err := tree.NodeTreeHash(cs, NodeIndex(x))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("vector %d: tree hash of node %d mismatch (%v)", i, x, err)
			}
		}
		for x, want := range v.Resolutions {
			got := tree.Resolution(NodeIndex(x))
			w := make([]NodeIndex, len(want))
			for j := range want {
				w[j] = NodeIndex(want[j])
			}
			if !slices.Equal(got, w) {
				t.Fatalf("vector %d: resolution of %d = %v want %v", i, x, got, w)
			}
		}
		if err := tree.Validate(cs, v.GroupID); err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		// Binding to the group: another group ID breaks update/commit leaves.
		if err := tree.Validate(cs, append([]byte{1}, v.GroupID...)); err == nil && tree.hasBoundLeaves() {
			t.Fatalf("vector %d: accepted under another group ID", i)
		}
	}
	if ran == 0 {
		t.Fatal("no suite-1 vectors")
	}
}

func (t *RatchetTree) hasBoundLeaves() bool {
	for i := range t.LeafCount() {
		if l := t.Leaf(LeafIndex(i)); l != nil && l.Source != LeafNodeSourceKeyPackage {
			return true
		}
	}
	return false
}

func TestTreeOperationsVectors(t *testing.T) {
	var vs []struct {
		CipherSuite    uint16   `json:"cipher_suite"`
		TreeBefore     hexBytes `json:"tree_before"`
		Proposal       hexBytes `json:"proposal"`
		ProposalSender uint32   `json:"proposal_sender"`
		TreeHashBefore hexBytes `json:"tree_hash_before"`
		TreeAfter      hexBytes `json:"tree_after"`
		TreeHashAfter  hexBytes `json:"tree_hash_after"`
	}
	loadVectors(t, "tree-operations.json", &vs)
	ran := 0
	for i, v := range vs {
		cs := testSuite(t, v.CipherSuite)
		if cs == nil {
			continue
		}
		ran++
		tree := decodeTree(t, v.TreeBefore)
		h, err := tree.TreeHash(cs)
		if err != nil || !bytes.Equal(h, v.TreeHashBefore) {
			t.Fatalf("vector %d: tree hash before (%v)", i, err)
		}
		var p Proposal
		roundTrip(t, "proposal", v.Proposal, &p)
		switch p.Type {
		case ProposalTypeAdd:
			_, err = tree.AddLeaf(&p.Add.KeyPackage.LeafNode)
		case ProposalTypeUpdate:
			err = tree.UpdateLeaf(LeafIndex(v.ProposalSender), &p.Update.LeafNode)
		case ProposalTypeRemove:
			err = tree.RemoveLeaf(p.Remove.Removed)
		default:
			t.Fatalf("vector %d: proposal type %d", i, p.Type)
		}
		if err != nil {
			t.Fatalf("vector %d: apply: %v", i, err)
		}
		nodes := tree.Nodes()
		got, err := Marshal(&nodes)
		if err != nil || !bytes.Equal(got, v.TreeAfter) {
			t.Fatalf("vector %d (type %d): tree after mismatch (%v)", i, p.Type, err)
		}
		h, err = tree.TreeHash(cs)
		if err != nil || !bytes.Equal(h, v.TreeHashAfter) {
			t.Fatalf("vector %d: tree hash after (%v)", i, err)
		}
	}
	if ran == 0 {
		t.Fatal("no suite-1 vectors")
	}
}

func TestRatchetTreeLayoutErrors(t *testing.T) {
	leaf := &Node{Type: NodeTypeLeaf, Leaf: &LeafNode{}}
	parent := &Node{Type: NodeTypeParent, Parent: &ParentNode{}}
	for _, nodes := range []RatchetTreeNodes{
		{},
		{leaf, parent},
		{leaf, nil, nil},
		{parent},
		{leaf, leaf, leaf},
	} {
		if _, err := NewRatchetTree(nodes); !errors.Is(err, ErrInvalidTree) {
			t.Errorf("%d nodes: %v", len(nodes), err)
		}
	}
}
