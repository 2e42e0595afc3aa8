package mls

import (
	"bytes"
	"testing"
)

type treeKEMVector struct {
	CipherSuite             uint16   `json:"cipher_suite"`
	GroupID                 hexBytes `json:"group_id"`
	Epoch                   uint64   `json:"epoch"`
	ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
	RatchetTree             hexBytes `json:"ratchet_tree"`
	LeavesPrivate           []struct {
		Index          uint32   `json:"index"`
		EncryptionPriv hexBytes `json:"encryption_priv"`
		SignaturePriv  hexBytes `json:"signature_priv"`
		PathSecrets    []struct {
			Node       uint32   `json:"node"`
			PathSecret hexBytes `json:"path_secret"`
		} `json:"path_secrets"`
	} `json:"leaves_private"`
	UpdatePaths []struct {
		Sender        uint32     `json:"sender"`
		UpdatePath    hexBytes   `json:"update_path"`
		PathSecrets   []hexBytes `json:"path_secrets"`
		CommitSecret  hexBytes   `json:"commit_secret"`
		TreeHashAfter hexBytes   `json:"tree_hash_after"`
	} `json:"update_paths"`
}

func (v *treeKEMVector) ctx(cs *CipherSuite, treeHash []byte) *GroupContext {
	return &GroupContext{Version: ProtocolVersionMLS10, CipherSuite: cs.ID(), GroupID: v.GroupID, Epoch: v.Epoch,
		TreeHash: treeHash, ConfirmedTranscriptHash: v.ConfirmedTranscriptHash}
}

// privateKeys builds each listed member's private view and checks the
// derived node keys against the tree's public keys.
func (v *treeKEMVector) privateKeys(t *testing.T, cs *CipherSuite, tree *RatchetTree) map[LeafIndex]*pathKeys {
	t.Helper()
	out := map[LeafIndex]*pathKeys{}
	for _, lp := range v.LeavesPrivate {
		k := newPathKeys(LeafIndex(lp.Index), lp.EncryptionPriv)
		for _, ps := range lp.PathSecrets {
			if err := k.setPathSecret(cs, NodeIndex(ps.Node), ps.PathSecret); err != nil {
				t.Fatal(err)
			}
			_, pub, _ := cs.deriveNodeKeyPair(ps.PathSecret)
			if want := tree.parent(NodeIndex(ps.Node)); want == nil || !bytes.Equal(want.EncryptionKey, pub) {
				t.Fatalf("leaf %d: path secret for node %d does not match the tree", lp.Index, ps.Node)
			}
		}
		out[LeafIndex(lp.Index)] = k
	}
	return out
}

func TestTreeKEMVectors(t *testing.T) {
	var vs []treeKEMVector
	loadVectors(t, "treekem.json", &vs)
	ran := 0
	for vi, v := range vs {
		cs := testSuite(t, v.CipherSuite)
		if cs == nil {
			continue
		}
		ran++
		base := decodeTree(t, v.RatchetTree)
		if err := base.Validate(cs, v.GroupID); err != nil {
			t.Fatalf("vector %d: tree: %v", vi, err)
		}
		for pi, up := range v.UpdatePaths {
			var path UpdatePath
			roundTrip(t, "update_path", up.UpdatePath, &path)
			tree := &RatchetTree{nodes: append([]*Node(nil), base.nodes...)}
			sender := LeafIndex(up.Sender)
			if err := tree.ApplyUpdatePath(cs, v.GroupID, sender, &path); err != nil {
				t.Fatalf("vector %d path %d: apply: %v", vi, pi, err)
			}
			th, err := tree.TreeHash(cs)
			if err != nil || !bytes.Equal(th, up.TreeHashAfter) {
				t.Fatalf("vector %d path %d: tree hash after (%v)", vi, pi, err)
			}
			if err := tree.VerifyParentHashes(cs); err != nil {
				t.Fatalf("vector %d path %d: %v", vi, pi, err)
			}
			ctx := v.ctx(cs, th)
			for leaf, k := range v.privateKeys(t, cs, base) {
				if leaf == sender {
					continue
				}
				commit, ps, err := tree.decryptUpdatePath(cs, k, sender, &path, ctx, nil)
				if err != nil {
					t.Fatalf("vector %d path %d leaf %d: %v", vi, pi, leaf, err)
				}
				if !bytes.Equal(ps, up.PathSecrets[leaf]) || !bytes.Equal(commit, up.CommitSecret) {
					t.Fatalf("vector %d path %d leaf %d: secrets differ", vi, pi, leaf)
				}
			}
		}

		// Each private member commits a fresh path; every other one must
		// reach the same commit secret.
		for _, lp := range v.LeavesPrivate {
			sender := LeafIndex(lp.Index)
			tree := &RatchetTree{nodes: append([]*Node(nil), base.nodes...)}
			res, err := tree.generateUpdatePath(cs, v.GroupID, sender, *base.Leaf(sender), lp.SignaturePriv,
				func(th []byte) *GroupContext { return v.ctx(cs, th) }, nil)
			if err != nil {
				t.Fatalf("vector %d: generate from %d: %v", vi, sender, err)
			}
			recv := &RatchetTree{nodes: append([]*Node(nil), base.nodes...)}
			if err := recv.ApplyUpdatePath(cs, v.GroupID, sender, res.Path); err != nil {
				t.Fatalf("vector %d: apply own path from %d: %v", vi, sender, err)
			}
			th, _ := recv.TreeHash(cs)
			want, _ := tree.TreeHash(cs)
			if !bytes.Equal(th, want) {
				t.Fatalf("vector %d: sender and receiver trees differ", vi)
			}
			if err := recv.Validate(cs, v.GroupID); err != nil {
				t.Fatalf("vector %d: tree after own path: %v", vi, err)
			}
			for leaf, k := range v.privateKeys(t, cs, base) {
				if leaf == sender {
					continue
				}
				commit, _, err := recv.decryptUpdatePath(cs, k, sender, res.Path, v.ctx(cs, th), nil)
				if err != nil || !bytes.Equal(commit, res.CommitSecret) {
					t.Fatalf("vector %d: leaf %d on path from %d: %v", vi, leaf, sender, err)
				}
			}
		}
	}
	if ran == 0 {
		t.Fatal("no suite-1 vectors")
	}
}
