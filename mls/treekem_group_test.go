package mls

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// simMember is one member's view in a simulated group: its own copy of the
// public tree and its private keys.
type simMember struct {
	signPriv []byte
	tree     *RatchetTree
	keys     *pathKeys
}

type simGroup struct {
	t       *testing.T
	cs      *CipherSuite
	groupID []byte
	epoch   uint64
	members map[LeafIndex]*simMember
	names   int
	// unmerged counts unmerged-leaf entries in trees joiners validated, to
	// show the tests reach the case ts-mls mishandles.
	unmerged int
}

func (g *simGroup) ctx(treeHash []byte) *GroupContext {
	return &GroupContext{Version: ProtocolVersionMLS10, CipherSuite: g.cs.ID(), GroupID: g.groupID,
		Epoch: g.epoch, TreeHash: treeHash, ConfirmedTranscriptHash: make([]byte, 32)}
}

func (g *simGroup) newKeyPackage() (*KeyPackage, *KeyPackageSecrets, []byte) {
	g.t.Helper()
	signPriv, _, err := g.cs.GenerateSignatureKeyPair()
	if err != nil {
		g.t.Fatal(err)
	}
	g.names++
	now := time.Unix(1_800_000_000, 0)
	kp, sec, err := NewKeyPackage(g.cs, signPriv, KeyPackageParams{
		Credential:   NewBasicCredential([]byte{byte(g.names)}),
		Capabilities: DefaultCapabilities(g.cs),
		NotBefore:    now, NotAfter: now.Add(time.Hour),
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return kp, sec, signPriv
}

func newSimGroup(t *testing.T) *simGroup {
	cs, err := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	g := &simGroup{t: t, cs: cs, groupID: []byte("room"), members: map[LeafIndex]*simMember{}}
	kp, sec, signPriv := g.newKeyPackage()
	tree, err := NewRatchetTree(RatchetTreeNodes{{Type: NodeTypeLeaf, Leaf: &kp.LeafNode}})
	if err != nil {
		t.Fatal(err)
	}
	g.members[0] = &simMember{signPriv: signPriv, tree: tree, keys: newPathKeys(0, sec.EncryptionPriv)}
	return g
}

// commit has committer remove some members and add n new ones in one Commit
// with a path, then checks that every member and joiner agrees.
func (g *simGroup) commit(committer LeafIndex, removes []LeafIndex, adds int) {
	g.commitPath(committer, removes, adds, true)
}

// commitPath is commit with the path optional: RFC 9420 §12.4 lets a Commit
// of only Add proposals omit it, which leaves the joiners unmerged in the
// parents above them.
func (g *simGroup) commitPath(committer LeafIndex, removes []LeafIndex, adds int, withPath bool) {
	t := g.t
	t.Helper()
	c := g.members[committer]
	type joiner struct {
		kp   *KeyPackage
		sec  *KeyPackageSecrets
		sign []byte
	}
	var joiners []*joiner
	for range adds {
		kp, sec, sign := g.newKeyPackage()
		joiners = append(joiners, &joiner{kp: kp, sec: sec, sign: sign})
	}
	// RFC 9420 §12.3: removes are applied before adds.
	apply := func(tree *RatchetTree) []LeafIndex {
		for _, r := range removes {
			if err := tree.RemoveLeaf(r); err != nil {
				t.Fatalf("remove %d: %v", r, err)
			}
		}
		var added []LeafIndex
		for _, j := range joiners {
			l, err := tree.AddLeaf(&j.kp.LeafNode)
			if err != nil {
				t.Fatal(err)
			}
			added = append(added, l)
		}
		return added
	}
	if !withPath && len(removes) > 0 {
		t.Fatal("a Commit with Remove proposals needs a path")
	}
	tree := cloneTree(c.tree)
	added := apply(tree)
	g.epoch++
	res := &updatePathResult{Keys: c.keys}
	if withPath {
		var err error
		res, err = tree.generateUpdatePath(g.cs, g.groupID, committer, *tree.Leaf(committer), c.signPriv, g.ctx, added)
		if err != nil {
			t.Fatalf("epoch %d: generate: %v", g.epoch, err)
		}
	}
	th, _ := tree.TreeHash(g.cs)
	ctx := g.ctx(th)

	for leaf, m := range g.members {
		if leaf == committer || slices.Contains(removes, leaf) {
			continue
		}
		mt := cloneTree(m.tree)
		if got := apply(mt); !slices.Equal(got, added) {
			t.Fatalf("epoch %d: member %d placed joiners at %v, committer at %v", g.epoch, leaf, got, added)
		}
		if !withPath {
			if h, _ := mt.TreeHash(g.cs); !bytes.Equal(h, th) {
				t.Fatalf("epoch %d: member %d: tree differs from committer's", g.epoch, leaf)
			}
			m.tree = mt
			continue
		}
		if err := mt.ApplyUpdatePath(g.cs, g.groupID, committer, res.Path); err != nil {
			t.Fatalf("epoch %d: member %d: apply: %v", g.epoch, leaf, err)
		}
		if h, _ := mt.TreeHash(g.cs); !bytes.Equal(h, th) {
			t.Fatalf("epoch %d: member %d: tree differs from committer's", g.epoch, leaf)
		}
		cs, _, err := mt.decryptUpdatePath(g.cs, m.keys, committer, res.Path, ctx, added)
		if err != nil || !bytes.Equal(cs, res.CommitSecret) {
			t.Fatalf("epoch %d: member %d: commit secret (%v)", g.epoch, leaf, err)
		}
		m.tree = mt
	}
	for _, r := range removes {
		g.members[r].keys.zero()
		delete(g.members, r)
	}
	c.tree, c.keys = tree, res.Keys

	for i, j := range joiners {
		jt := cloneTree(tree)
		// What a joiner checks before trusting the tree (§12.4.3.1); the
		// ts-mls defect rejected exactly these trees.
		if err := jt.Validate(g.cs, g.groupID); err != nil {
			t.Fatalf("epoch %d: joiner at %d rejects the tree: %v", g.epoch, added[i], err)
		}
		for _, n := range jt.nodes {
			if n != nil && n.Parent != nil {
				g.unmerged += len(n.Parent.UnmergedLeaves)
			}
		}
		keys := newPathKeys(added[i], j.sec.EncryptionPriv)
		if ps := res.joinerPathSecret(added[i]); ps != nil {
			if err := jt.importPathSecret(g.cs, keys, committer, ps); err != nil {
				t.Fatalf("epoch %d: joiner %d: %v", g.epoch, added[i], err)
			}
		}
		g.members[added[i]] = &simMember{signPriv: j.sign, tree: jt, keys: keys}
	}
	res.zero()
}

func (g *simGroup) leaves() []LeafIndex {
	var ls []LeafIndex
	for l := range g.members {
		ls = append(ls, l)
	}
	slices.Sort(ls)
	return ls
}

// TestJoinAfterRemovalsAndDoubleAdd is the history DESIGN.md reports ts-mls
// 1.6.4 rejecting: a group of 6, leaves 1 and 4 removed, then one commit
// adding two members. Both joiners must accept the tree.
func TestJoinAfterRemovalsAndDoubleAdd(t *testing.T) {
	g := newSimGroup(t)
	g.commit(0, nil, 5)
	g.commit(2, []LeafIndex{1, 4}, 0)
	g.commitPath(3, nil, 2, false)
	g.commit(1, nil, 1) // a joiner of the pathless commit commits next
	if got := g.leaves(); !slices.Equal(got, []LeafIndex{0, 1, 2, 3, 4, 5, 6}) {
		t.Fatalf("members at %v", got)
	}
	// Same history with the removals and the adds in one commit.
	h := newSimGroup(t)
	h.commit(0, nil, 5)
	h.commit(5, []LeafIndex{1, 4}, 2)
	h.commitPath(2, nil, 2, false)
	h.commitPath(0, nil, 1, false)
	if g.unmerged == 0 || h.unmerged == 0 {
		t.Fatal("the histories never produced unmerged leaves")
	}
	t.Logf("unmerged-leaf entries seen by joiners: %d, %d", g.unmerged, h.unmerged)
}

// TestRandomChurn runs 40 epochs of random removes, adds and path updates
// and checks at every step that all members agree on the tree and the
// commit secret and that joiners accept the tree.
func TestRandomChurn(t *testing.T) {
	rng := rand.New(rand.NewPCG(9420, 1))
	g := newSimGroup(t)
	g.commit(0, nil, 3)
	for range 40 {
		ls := g.leaves()
		committer := ls[rng.IntN(len(ls))]
		var removes []LeafIndex
		for _, l := range rng.Perm(len(ls))[:rng.IntN(min(3, len(ls)))] {
			if ls[l] != committer {
				removes = append(removes, ls[l])
			}
		}
		adds := rng.IntN(3)
		if len(ls)-len(removes)+adds < 2 {
			adds = 2
		}
		g.commitPath(committer, removes, adds, len(removes) > 0 || adds == 0 || rng.IntN(2) == 0)
	}
	for _, m := range g.members {
		if err := m.tree.Validate(g.cs, g.groupID); err != nil {
			t.Fatal(err)
		}
	}
	if g.unmerged == 0 {
		t.Fatal("no joiner ever saw an unmerged leaf")
	}
	t.Logf("unmerged-leaf entries seen by joiners: %d", g.unmerged)
}
