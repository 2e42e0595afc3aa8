package mls

import (
	"errors"
	"testing"
)

// FuzzRatchetTreeValidate runs the joiner's and the Delivery Service's tree
// checks on arbitrary trees: any outcome but a panic is acceptable, and a
// rejection must be typed.
func FuzzRatchetTreeValidate(f *testing.F) {
	var vs []treeKEMVector
	loadVectors(f, "treekem.json", &vs)
	if len(vs) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, v := range vs[:min(3, len(vs))] {
		f.Add([]byte(v.RatchetTree))
	}
	cs, err := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		f.Fatal(err)
	}
	groupID := []byte(vs[0].GroupID)
	f.Fuzz(func(t *testing.T, b []byte) {
		var nodes RatchetTreeNodes
		if Unmarshal(b, &nodes) != nil {
			return
		}
		tree, err := NewRatchetTree(nodes)
		if err != nil {
			if !errors.Is(err, ErrInvalidTree) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if _, err := tree.TreeHash(cs); err != nil {
			t.Fatal(err)
		}
		for l := range min(tree.LeafCount(), 8) {
			tree.FilteredDirectPath(LeafIndex(l))
		}
		_ = tree.Validate(cs, groupID)
	})
}

// FuzzApplyUpdatePath feeds arbitrary UpdatePaths to a receiver holding a
// vector tree and private keys: no panic, and a rejected path leaves the
// tree as it was.
func FuzzApplyUpdatePath(f *testing.F) {
	var vs []treeKEMVector
	loadVectors(f, "treekem.json", &vs)
	if len(vs) == 0 || len(vs[0].UpdatePaths) == 0 {
		f.Fatal("empty seed corpus")
	}
	v := vs[0]
	cs, err := CipherSuiteByID(CipherSuiteID(v.CipherSuite))
	if err != nil {
		f.Fatal(err)
	}
	for _, up := range v.UpdatePaths {
		f.Add(uint32(up.Sender), []byte(up.UpdatePath))
	}
	var nodes RatchetTreeNodes
	if err := Unmarshal(v.RatchetTree, &nodes); err != nil {
		f.Fatal(err)
	}
	base, err := NewRatchetTree(nodes)
	if err != nil {
		f.Fatal(err)
	}
	baseHash, _ := base.TreeHash(cs)
	f.Fuzz(func(t *testing.T, sender uint32, b []byte) {
		var path UpdatePath
		if Unmarshal(b, &path) != nil {
			return
		}
		tree := cloneTree(base)
		if err := tree.ApplyUpdatePath(cs, v.GroupID, LeafIndex(sender), &path); err != nil {
			if h, _ := tree.TreeHash(cs); string(h) != string(baseHash) {
				t.Fatal("rejected path changed the tree")
			}
			return
		}
		th, _ := tree.TreeHash(cs)
		for _, lp := range v.LeavesPrivate {
			if lp.Index == sender {
				continue
			}
			k := newPathKeys(LeafIndex(lp.Index), lp.EncryptionPriv)
			for _, ps := range lp.PathSecrets {
				_ = k.setPathSecret(cs, NodeIndex(ps.Node), ps.PathSecret)
			}
			_, _, _ = tree.decryptUpdatePath(cs, k, LeafIndex(sender), &path, v.ctx(cs, th), nil)
		}
	})
}
