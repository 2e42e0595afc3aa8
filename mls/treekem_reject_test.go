package mls

import (
	"bytes"
	"errors"
	"testing"
)

func firstTreeKEMVector(t *testing.T) (*CipherSuite, *treeKEMVector) {
	t.Helper()
	var vs []treeKEMVector
	loadVectors(t, "treekem.json", &vs)
	for i := range vs {
		if cs := testSuite(t, vs[i].CipherSuite); cs != nil && len(vs[i].UpdatePaths) > 2 {
			return cs, &vs[i]
		}
	}
	t.Fatal("no suite-1 vector with three members")
	return nil, nil
}

func TestUpdatePathRejects(t *testing.T) {
	cs, v := firstTreeKEMVector(t)
	base := decodeTree(t, v.RatchetTree)
	up := v.UpdatePaths[0]
	sender := LeafIndex(up.Sender)
	fresh := func() *UpdatePath {
		var p UpdatePath
		if err := Unmarshal(up.UpdatePath, &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	before, _ := base.TreeHash(cs)

	p := fresh()
	p.Nodes[0].EncryptionKey = bytes.Clone(p.Nodes[1].EncryptionKey)
	if err := base.ApplyUpdatePath(cs, v.GroupID, sender, p); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("swapped key: %v", err)
	}
	p = fresh()
	p.LeafNode.Signature[0] ^= 1
	if err := base.ApplyUpdatePath(cs, v.GroupID, sender, p); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("bad leaf signature: %v", err)
	}
	p = fresh()
	p.Nodes = p.Nodes[:len(p.Nodes)-1]
	if err := base.ApplyUpdatePath(cs, v.GroupID, sender, p); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("short path: %v", err)
	}
	if err := base.ApplyUpdatePath(cs, v.GroupID, sender+1, fresh()); err == nil {
		t.Fatal("path accepted for another sender")
	}
	if after, _ := base.TreeHash(cs); !bytes.Equal(before, after) {
		t.Fatal("a rejected path changed the tree")
	}

	// A receiver given a corrupted ciphertext or a wrong context fails
	// without learning a commit secret.
	tree := cloneTree(base)
	if err := tree.ApplyUpdatePath(cs, v.GroupID, sender, fresh()); err != nil {
		t.Fatal(err)
	}
	th, _ := tree.TreeHash(cs)
	keys := v.privateKeys(t, cs, base)
	var recv LeafIndex
	for l := range keys {
		if l != sender {
			recv = l
			break
		}
	}
	p = fresh()
	wrongCtx := v.ctx(cs, th)
	wrongCtx.Epoch++
	if _, _, err := tree.decryptUpdatePath(cs, keys[recv], sender, p, wrongCtx, nil); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong context: %v", err)
	}
	for i := range p.Nodes {
		for j := range p.Nodes[i].EncryptedPathSecret {
			p.Nodes[i].EncryptedPathSecret[j].Ciphertext[0] ^= 1
		}
	}
	if _, _, err := tree.decryptUpdatePath(cs, keys[recv], sender, p, v.ctx(cs, th), nil); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("corrupted ciphertext: %v", err)
	}
}

func TestTreeValidateRejects(t *testing.T) {
	cs, v := firstTreeKEMVector(t)
	base := decodeTree(t, v.RatchetTree)
	if err := base.Validate(cs, v.GroupID); err != nil {
		t.Fatal(err)
	}
	var parent NodeIndex
	for i, n := range base.nodes {
		if n != nil && n.Parent != nil {
			parent = NodeIndex(i)
			break
		}
	}
	mutate := func(f func(tr *RatchetTree)) *RatchetTree {
		tr := decodeTree(t, v.RatchetTree)
		f(tr)
		return tr
	}
	for name, tr := range map[string]*RatchetTree{
		"parent key changed": mutate(func(tr *RatchetTree) {
			q := *tr.nodes[parent].Parent
			q.EncryptionKey = bytes.Clone(tr.Leaf(0).EncryptionKey)
			q.EncryptionKey[0] ^= 1
			tr.nodes[parent] = &Node{Type: NodeTypeParent, Parent: &q}
		}),
		"duplicate encryption key": mutate(func(tr *RatchetTree) {
			q := *tr.nodes[parent].Parent
			q.EncryptionKey = tr.Leaf(0).EncryptionKey
			tr.nodes[parent] = &Node{Type: NodeTypeParent, Parent: &q}
		}),
		"unmerged leaf not below": mutate(func(tr *RatchetTree) {
			q := *tr.nodes[parent].Parent
			q.UnmergedLeaves = []LeafIndex{LeafIndex(tr.LeafCount() - 1)}
			tr.nodes[parent] = &Node{Type: NodeTypeParent, Parent: &q}
		}),
		"leaf signature": mutate(func(tr *RatchetTree) {
			ln := *tr.Leaf(1)
			ln.Signature = bytes.Clone(ln.Signature)
			ln.Signature[5] ^= 1
			tr.nodes[LeafIndex(1).NodeIndex()] = &Node{Type: NodeTypeLeaf, Leaf: &ln}
		}),
	} {
		if err := tr.Validate(cs, v.GroupID); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
