package mls

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// room is a test group of real members that commit, join and leave, for
// tests that need several epochs of churn.
type room struct {
	t       testing.TB
	cs      *CipherSuite
	members []*Group
	names   int
	ds      *PublicGroup // follows the room when set
}

func newRoom(t testing.TB, ext Extensions) *room {
	t.Helper()
	cs, _ := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	r := &room{t: t, cs: cs}
	m := r.newMember()
	g, err := NewGroup(cs, NewGroupParams{GroupID: []byte("room-churn"), KeyPackage: m.kp, Secrets: m.sec, SignPriv: m.sign, Extensions: ext})
	if err != nil {
		t.Fatal(err)
	}
	r.members = []*Group{g}
	return r
}

func (r *room) newMember() *flowMember {
	r.names++
	return newTestMember(r.t, r.cs, fmt.Sprintf("member-%d", r.names))
}

// wire encodes and decodes a message, as the network would.
func wire(t testing.TB, m *MLSMessage) *MLSMessage {
	t.Helper()
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out MLSMessage
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// commit has member i commit opts, everyone else process it, and joiners
// join from the Welcome. Removed members are dropped.
func (r *room) commit(i int, opts CommitOptions, joiners ...*flowMember) {
	t := r.t
	t.Helper()
	opts.RatchetTreeInWelcome = true
	res, err := r.members[i].Commit(opts)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := r.members[i].MergeCommit(); err != nil {
		t.Fatal(err)
	}
	m := wire(t, res.Commit)
	if r.ds != nil {
		if _, err := r.ds.Process(m); err != nil {
			t.Fatalf("DS: %v", err)
		}
	}
	kept := []*Group{}
	for j, g := range r.members {
		if j != i {
			if _, err := g.Process(m); errors.Is(err, ErrRemoved) {
				g.Close()
				continue
			} else if err != nil {
				t.Fatalf("member %d processing: %v", j, err)
			}
		}
		kept = append(kept, g)
	}
	r.members = kept
	for _, j := range joiners {
		g, err := JoinFromWelcome(r.cs, res.Welcome, JoinParams{KeyPackage: j.kp, Secrets: j.sec, SignPriv: j.sign})
		if err != nil {
			t.Fatalf("join: %v", err)
		}
		r.members = append(r.members, g)
	}
	r.agree()
}

// agree checks that all members share the epoch authenticator and exporter.
func (r *room) agree() {
	r.t.Helper()
	a0 := r.members[0].EpochAuthenticator()
	x0, _ := r.members[0].Export("sealroom test", nil, 16)
	for _, g := range r.members[1:] {
		x, _ := g.Export("sealroom test", nil, 16)
		if g.Epoch() != r.members[0].Epoch() || !bytes.Equal(g.EpochAuthenticator(), a0) || !bytes.Equal(x, x0) {
			r.t.Fatalf("members disagree at epoch %d", r.members[0].Epoch())
		}
	}
}

// restore replaces member i by a Group restored from its marshaled state
// and checks the round trip is exact.
func (r *room) restore(i int) {
	t := r.t
	t.Helper()
	old := r.members[i]
	b, err := old.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	g, err := RestoreGroup(bytes.Clone(b), RestoreParams{})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	b2, err := g.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatal("restored state marshals differently")
	}
	if !bytes.Equal(g.EpochAuthenticator(), old.EpochAuthenticator()) || g.OwnLeaf() != old.OwnLeaf() || g.Epoch() != old.Epoch() {
		t.Fatal("restored group differs")
	}
	old.Close()
	r.members[i] = g
}

// TestStateRestoreRandomChurn walks a group through random adds, removes,
// updates and proposals; at every epoch one member is saved and restored
// and carries on with the restored state, including in the middle of an
// epoch with pending proposals and with out-of-order application messages.
func TestStateRestoreRandomChurn(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := newRoom(t, nil)
	// Start from three members.
	j1, j2 := r.newMember(), r.newMember()
	r.commit(0, CommitOptions{Proposals: []*Proposal{
		{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *j1.kp}}, {Type: ProposalTypeAdd, Add: &Add{KeyPackage: *j2.kp}}}}, j1, j2)

	var actions [4]int
	for range 24 {
		n := len(r.members)
		committer := rng.IntN(n)
		other := func() int {
			for {
				if j := rng.IntN(n); j != committer {
					return j
				}
			}
		}
		a := rng.IntN(4)
		if n < 3 {
			a = 0
		}
		actions[a]++
		switch a {
		case 0:
			j := r.newMember()
			r.commit(committer, CommitOptions{Proposals: []*Proposal{{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *j.kp}}}}, j)
		case 1:
			victim := r.members[other()].OwnLeaf()
			r.commit(committer, CommitOptions{Proposals: []*Proposal{{Type: ProposalTypeRemove, Remove: &Remove{Removed: victim}}}})
		case 2:
			r.commit(committer, CommitOptions{ForcePath: true})
		default:
			// A proposal by reference, with a restore while it is pending.
			proposer := other()
			j := r.newMember()
			pm, err := r.members[proposer].Propose(&Proposal{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *j.kp}}, WireFormatPublicMessage)
			if err != nil {
				t.Fatal(err)
			}
			for k, g := range r.members {
				if k != proposer {
					if _, err := g.Process(wire(t, pm)); err != nil {
						t.Fatal(err)
					}
				}
			}
			r.restore(committer)
			r.commit(committer, CommitOptions{}, j)
		}
		r.restore(rng.IntN(len(r.members)))
		r.agree()
		r.checkMessages(rng)
	}
	t.Logf("epoch %d, %d members; adds, removes, updates, proposals: %v", r.members[0].Epoch(), len(r.members), actions)
	if slices.Contains(actions[:], 0) {
		t.Fatalf("some action never ran: %v", actions)
	}
	for _, g := range r.members {
		g.Close()
	}
}

// checkMessages has a random member send three application messages; one
// receiver gets the last first, is restored, then gets the other two (its
// out-of-order keys must survive) and rejects a replay; the sender is
// restored between its messages and must not reuse a generation.
func (r *room) checkMessages(rng *rand.Rand) {
	t := r.t
	t.Helper()
	n := len(r.members)
	s := rng.IntN(n)
	late := (s + 1 + rng.IntN(n-1)) % n
	var msgs []*MLSMessage
	for k := range 3 {
		m, err := r.members[s].EncryptApplication(fmt.Appendf(nil, "message %d", k), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
		if k == 0 {
			r.restore(s)
		}
	}
	for j := range r.members {
		if j == s {
			continue
		}
		order := []int{0, 1, 2}
		if j == late {
			order = []int{2, 0, 1}
		}
		for i, k := range order {
			got, err := r.members[j].Process(wire(t, msgs[k]))
			if err != nil || string(got.ApplicationData) != fmt.Sprintf("message %d", k) {
				t.Fatalf("member %d, message %d: %v", j, k, err)
			}
			if j == late && i == 0 {
				r.restore(j)
			}
		}
		if j == late {
			if _, err := r.members[j].Process(wire(t, msgs[2])); !errors.Is(err, ErrGenerationExpired) {
				t.Fatalf("replay after restore: %v", err)
			}
		}
	}
}

func stateSeed(t testing.TB) [][]byte {
	r := newRoom(t, nil)
	j1, j2 := r.newMember(), r.newMember()
	r.commit(0, CommitOptions{Proposals: []*Proposal{
		{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *j1.kp}}, {Type: ProposalTypeAdd, Add: &Add{KeyPackage: *j2.kp}}}}, j1, j2)
	// Member 0 receives only the second message: the first one's key stays
	// in its state as an out-of-order key.
	if _, err := r.members[1].EncryptApplication([]byte("x"), nil, 0); err != nil {
		t.Fatal(err)
	}
	m2, _ := r.members[1].EncryptApplication([]byte("y"), nil, 0)
	if _, err := r.members[0].Process(wire(t, m2)); err != nil {
		t.Fatal(err)
	}
	pm, err := r.members[2].Propose(&Proposal{Type: ProposalTypeRemove, Remove: &Remove{Removed: 1}}, WireFormatPublicMessage)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.members[0].Process(wire(t, pm)); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, g := range r.members {
		b, err := g.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestRestoreRejects: every truncation, a trailing byte, a flipped byte in
// each secret-bearing region and an unknown version fail with
// ErrInvalidState.
func TestRestoreRejects(t *testing.T) {
	b := stateSeed(t)[0]
	check := func(name string, in []byte) {
		t.Helper()
		g, err := RestoreGroup(in, RestoreParams{})
		if !errors.Is(err, ErrInvalidState) || g != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for n := 0; n < len(b); n += 1 + n/64 {
		check(fmt.Sprintf("cut at %d", n), b[:n])
	}
	check("trailing byte", append(slices.Clone(b), 0))
	v := slices.Clone(b)
	v[0] = 2
	check("version 2", v)
	// Any single-bit flip either fails with ErrInvalidState or yields a
	// state that marshals back to the flipped bytes (secrets that nothing
	// public can vouch for, like the exporter secret, cannot be checked).
	for i := range b {
		c := slices.Clone(b)
		c[i] ^= 0x01
		g, err := RestoreGroup(c, RestoreParams{})
		if err != nil {
			if !errors.Is(err, ErrInvalidState) {
				t.Fatalf("flip at %d: untyped %v", i, err)
			}
			continue
		}
		if re, _ := g.MarshalState(); !bytes.Equal(re, c) {
			t.Fatalf("flip at %d accepted but not round-tripped", i)
		}
		g.Close()
	}

	// Inconsistent secrets are caught by the checks against public values.
	cs, _ := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	otherSign, _, _ := cs.GenerateSignatureKeyPair()
	otherHPKE, _, _ := cs.generateHPKEKeyPair()
	for name, corrupt := range map[string]func(g *Group){
		"foreign signature key": func(g *Group) { g.signPriv = otherSign },
		"foreign leaf key":      func(g *Group) { g.keys.keys[g.own.NodeIndex()] = otherHPKE },
		"no leaf key":           func(g *Group) { delete(g.keys.keys, g.own.NodeIndex()) },
		"confirmation key":      func(g *Group) { g.epoch.ConfirmationKey = make([]byte, 32) },
		"interim hash":          func(g *Group) { g.interim = make([]byte, 32) },
		"tree hash":             func(g *Group) { g.ctx.TreeHash = make([]byte, 32) },
		"short exporter secret": func(g *Group) { g.epoch.ExporterSecret = g.epoch.ExporterSecret[:16] },
	} {
		g, err := RestoreGroup(b, RestoreParams{})
		if err != nil {
			t.Fatal(err)
		}
		corrupt(g)
		c, err := g.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		check(name, c)
	}
}

// FuzzRestoreGroup: RestoreGroup never panics, fails only with
// ErrInvalidState, and what it accepts marshals back to the same bytes.
func FuzzRestoreGroup(f *testing.F) {
	seeds := stateSeed(f)
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := RestoreGroup(b, RestoreParams{})
		if err != nil {
			if !errors.Is(err, ErrInvalidState) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		defer g.Close()
		re, err := g.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(re, b) {
			t.Fatal("round trip differs")
		}
	})
}
