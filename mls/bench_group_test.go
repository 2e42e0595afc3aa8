package mls

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

// groupFixture is a group of n members of which two are real: the creator
// at leaf 0, who commits, and a receiver at the last leaf. The others
// exist only as leaves of the tree.
type groupFixture struct {
	n         int
	committer *Group
	receiver  *Group
	// sparse is the creator right after the Commit of Adds: every parent
	// node is blank, so a path is encrypted to each of the n-1 leaves.
	sparse   *Group
	newcomer *flowMember // KeyPackage for the add-one-member case
}

// newGroupFixture builds the group with one Commit of n-1 Adds, then lets
// one member in each subtree on the creator's copath (leaves 1, 2, 4, ...)
// commit with a path. That fills the creator's copath with parent keys, as
// in a room that has been running for a while, so the creator's next path
// is encrypted to one node per level rather than to every leaf.
func newGroupFixture(b *testing.B, n int) *groupFixture {
	b.Helper()
	cs, _ := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	creator := newTestMember(b, cs, "member-0")
	g0, err := NewGroup(cs, NewGroupParams{GroupID: []byte("bench-room"), KeyPackage: creator.kp, Secrets: creator.sec, SignPriv: creator.sign})
	if err != nil {
		b.Fatal(err)
	}
	ms := make([]*flowMember, n)
	props := make([]*Proposal, 0, n-1)
	for i := 1; i < n; i++ {
		ms[i] = newTestMember(b, cs, fmt.Sprintf("member-%d", i))
		props = append(props, &Proposal{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *ms[i].kp}})
	}
	fix := &groupFixture{n: n, committer: g0, newcomer: newTestMember(b, cs, "newcomer")}
	res, err := g0.Commit(CommitOptions{Proposals: props, RatchetTreeInWelcome: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := g0.MergeCommit(); err != nil {
		b.Fatal(err)
	}
	fix.sparse = cloneGroup(g0)
	leaves := []int{}
	for l := 1; l < n; l *= 2 {
		leaves = append(leaves, l)
	}
	if leaves[len(leaves)-1] != n-1 {
		leaves = append(leaves, n-1)
	}
	live := map[int]*Group{0: g0}
	for _, l := range leaves {
		g, err := JoinFromWelcome(cs, res.Welcome, JoinParams{KeyPackage: ms[l].kp, Secrets: ms[l].sec, SignPriv: ms[l].sign})
		if err != nil {
			b.Fatal(err)
		}
		live[l] = g
	}
	for _, l := range leaves[:len(leaves)-1] {
		cr, err := live[l].Commit(CommitOptions{ForcePath: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := live[l].MergeCommit(); err != nil {
			b.Fatal(err)
		}
		for k, g := range live {
			if k != l {
				if _, err := g.Process(cr.Commit); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	fix.receiver = live[n-1]
	for k, g := range live {
		if k != 0 && k != n-1 {
			g.Close()
		}
	}
	return fix
}

// cloneGroup copies a member's state deeply enough that processing a
// Commit on the copy leaves the original usable: the tree is shared (it is
// never mutated in place), every secret is copied.
func cloneGroup(g *Group) *Group {
	c := *g
	c.pending = maps.Clone(g.pending)
	c.signPriv = slices.Clone(g.signPriv)
	c.keys = g.keys.clone()
	es := *g.epoch
	for _, s := range []*[]byte{&es.JoinerSecret, &es.WelcomeSecret, &es.InitSecret, &es.SenderDataSecret, &es.EncryptionSecret,
		&es.ExporterSecret, &es.ExternalSecret, &es.ConfirmationKey, &es.MembershipKey, &es.ResumptionPSK, &es.EpochAuthenticator} {
		*s = slices.Clone(*s)
	}
	c.epoch = &es
	st := *g.secretTree
	st.nodes = make([][]byte, len(st.nodes))
	for i, s := range g.secretTree.nodes {
		st.nodes[i] = slices.Clone(s)
	}
	st.hs, st.app = cloneRatchets(st.hs), cloneRatchets(st.app)
	c.secretTree = &st
	c.resumption = make(map[uint64][]byte, len(g.resumption))
	for e, s := range g.resumption {
		c.resumption[e] = slices.Clone(s)
	}
	c.pendingCommit = nil
	return &c
}

func cloneRatchets(rs []*ratchet) []*ratchet {
	out := make([]*ratchet, len(rs))
	for i, r := range rs {
		if r == nil {
			continue
		}
		skipped := make(map[uint32]keyNonce, len(r.skipped))
		for gen, kn := range r.skipped {
			skipped[gen] = keyNonce{key: slices.Clone(kn.key), nonce: slices.Clone(kn.nonce)}
		}
		out[i] = &ratchet{secret: slices.Clone(r.secret), next: r.next, skipped: skipped}
	}
	return out
}

// BenchmarkGroupOps measures the member operations of a room of 2, 16, 128
// and 1000 members: a Commit with a fresh path (an Update of the
// committer's own leaf, as ForcePath) in a tree whose copath is filled and
// in a tree of blank parents (worst case, right after one Commit of n-1
// Adds), its processing by another member,
// adding one member (Commit with one Add and the Welcome with the tree,
// then the joiner's JoinFromWelcome), saving and restoring a member's
// state, and one 1 KiB application message protected and unprotected. The baseline is one HPKE seal
// (EncryptWithLabel of 32 bytes), the unit of TreeKEM work.
//
// Groups are built once per size outside the timers (about 2 s for 1000
// members on a 2-core machine). The whole run takes about 15 s with:
//
//	go test ./mls/ -run '^$' -bench BenchmarkGroupOps -benchtime=200ms
//
// and less with -benchtime=1x for a quick look.
func BenchmarkGroupOps(b *testing.B) {
	cs, _ := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	_, pub, _ := cs.generateHPKEKeyPair()
	secret := make([]byte, 32)
	base := baseline(b, "baseline-hpke-seal", func(b *testing.B) {
		for b.Loop() {
			if _, err := cs.EncryptWithLabel(pub, "UpdatePathNode", nil, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, n := range []int{2, 16, 128, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			fix := newGroupFixture(b, n)
			defer fix.committer.Close()
			defer fix.receiver.Close()
			defer fix.sparse.Close()
			fix.bench(b, base)
		})
	}
}

func (fix *groupFixture) bench(b *testing.B, base float64) {
	g0, gr := fix.committer, fix.receiver
	b.Run("commit-create", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := g0.Commit(CommitOptions{ForcePath: true}); err != nil {
				b.Fatal(err)
			}
			g0.DiscardCommit()
		}
		reportRatio(b, base, "x-hpkeseal")
	})
	b.Run("commit-create-blank-tree", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := fix.sparse.Commit(CommitOptions{ForcePath: true}); err != nil {
				b.Fatal(err)
			}
			fix.sparse.DiscardCommit()
		}
		reportRatio(b, base, "x-hpkeseal")
	})
	b.Run("commit-process", func(b *testing.B) {
		res, err := g0.Commit(CommitOptions{ForcePath: true})
		if err != nil {
			b.Fatal(err)
		}
		g0.DiscardCommit()
		wireBytes, err := Marshal(res.Commit)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			g := cloneGroup(gr)
			b.StartTimer()
			var m MLSMessage
			if err := Unmarshal(wireBytes, &m); err != nil {
				b.Fatal(err)
			}
			if _, err := g.Process(&m); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, base, "x-hpkeseal")
	})
	add := &Proposal{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *fix.newcomer.kp}}
	b.Run("add-member-commit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := g0.Commit(CommitOptions{Proposals: []*Proposal{add}, RatchetTreeInWelcome: true}); err != nil {
				b.Fatal(err)
			}
			g0.DiscardCommit()
		}
		reportRatio(b, base, "x-hpkeseal")
	})
	b.Run("add-member-join", func(b *testing.B) {
		res, err := g0.Commit(CommitOptions{Proposals: []*Proposal{add}, RatchetTreeInWelcome: true})
		if err != nil {
			b.Fatal(err)
		}
		g0.DiscardCommit()
		wireBytes, err := Marshal(&MLSMessage{Version: ProtocolVersionMLS10, WireFormat: WireFormatWelcome, Welcome: res.Welcome})
		if err != nil {
			b.Fatal(err)
		}
		nc := fix.newcomer
		b.ReportAllocs()
		for b.Loop() {
			var m MLSMessage
			if err := Unmarshal(wireBytes, &m); err != nil {
				b.Fatal(err)
			}
			g, err := JoinFromWelcome(g0.cs, m.Welcome, JoinParams{KeyPackage: nc.kp, Secrets: nc.sec, SignPriv: nc.sign})
			if err != nil {
				b.Fatal(err)
			}
			g.Close()
		}
		reportRatio(b, base, "x-hpkeseal")
	})
	b.Run("state-marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := gr.MarshalState(); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, base, "x-hpkeseal")
	})
	b.Run("state-restore", func(b *testing.B) {
		state, err := gr.MarshalState()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			g, err := RestoreGroup(state, RestoreParams{})
			if err != nil {
				b.Fatal(err)
			}
			g.Close()
		}
		reportRatio(b, base, "x-hpkeseal")
	})
	payload := make([]byte, 1024)
	// The unprotect case needs a sender whose ratchet starts where the
	// receiver's does, before app-protect advances the committer's.
	fresh := cloneGroup(g0)
	defer fresh.Close()
	b.Run("app-protect", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := g0.EncryptApplication(payload, nil, 0); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, base, "x-hpkeseal")
	})
	b.Run("app-unprotect", func(b *testing.B) {
		sender := cloneGroup(fresh)
		defer sender.Close()
		msgs := make([][]byte, b.N)
		for i := range msgs {
			m, err := sender.EncryptApplication(payload, nil, 0)
			if err != nil {
				b.Fatal(err)
			}
			if msgs[i], err = Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
		recv := cloneGroup(gr)
		defer recv.Close()
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			var m MLSMessage
			if err := Unmarshal(msgs[i], &m); err != nil {
				b.Fatal(err)
			}
			if _, err := recv.Process(&m); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, base, "x-hpkeseal")
	})
}
