package mls

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// newDSRoom is a room of n members followed by a Delivery Service, which
// is external sender 0.
func newDSRoom(t *testing.T, n int) (*room, []byte) {
	t.Helper()
	cs, _ := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	dsPriv, dsPub, _ := cs.GenerateSignatureKeyPair()
	ext := ExternalSenders{{SignatureKey: dsPub, Credential: NewBasicCredential([]byte("ds"))}}
	extBytes, _ := Marshal(&ext)
	r := newRoom(t, Extensions{{Type: ExtensionTypeExternalSenders, Data: extBytes}})
	gi, err := r.members[0].GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	if r.ds, err = NewPublicGroup(cs, gi, nil, nil); err != nil {
		t.Fatal(err)
	}
	var joiners []*flowMember
	var props []*Proposal
	for range n - 1 {
		j := r.newMember()
		joiners = append(joiners, j)
		props = append(props, &Proposal{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *j.kp}})
	}
	r.commit(0, CommitOptions{Proposals: props}, joiners...)
	return r, dsPriv
}

// wireGroupInfo sends a GroupInfo over the wire.
func wireGroupInfo(t *testing.T, gi *GroupInfo) *GroupInfo {
	t.Helper()
	b, err := Marshal(gi)
	if err != nil {
		t.Fatal(err)
	}
	var out GroupInfo
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// acceptExternal has the DS and every member process an external commit
// and adds the joiner to the room.
func (r *room) acceptExternal(joiner *Group, res *CommitResult, wantRemoved bool) {
	t := r.t
	t.Helper()
	m := wire(t, res.Commit)
	if m.PublicMessage.Content.Sender.Type != SenderTypeNewMemberCommit || res.Welcome != nil {
		t.Fatal("not an external commit")
	}
	pr, err := r.ds.Process(m)
	if err != nil {
		t.Fatalf("DS: %v", err)
	}
	if len(pr.Added) != 1 || pr.Added[0] != joiner.OwnLeaf() || (len(pr.Removed) == 1) != wantRemoved {
		t.Fatalf("DS view: added %v removed %v", pr.Added, pr.Removed)
	}
	kept := []*Group{}
	for k, g := range r.members {
		if _, err := g.Process(m); errors.Is(err, ErrRemoved) {
			g.Close()
			continue
		} else if err != nil {
			t.Fatalf("member %d: %v", k, err)
		}
		kept = append(kept, g)
	}
	r.members = append(kept, joiner)
	r.agree()
	a, _ := Marshal(r.ds.Context())
	b, _ := Marshal(joiner.Context())
	if !bytes.Equal(a, b) {
		t.Fatal("DS GroupContext differs from the joiner's")
	}
}

// indexOf finds the member at leaf l; restores replace Group values.
func (r *room) indexOf(l LeafIndex) int {
	for i, m := range r.members {
		if m.OwnLeaf() == l {
			return i
		}
	}
	r.t.Fatal("not a member")
	return -1
}

// TestExternalCommitRejoin: a member loses its state and reconnects by
// external commit, first removing its own old leaf in the same Commit
// ("resync"), then, after the Delivery Service removed it, without. Each
// time the DS and all members accept, agree on the new epoch, exchange
// application messages and the rejoined member can commit.
func TestExternalCommitRejoin(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	r, dsPriv := newDSRoom(t, 3)
	cs := r.cs
	bob := r.members[1]
	bobLeaf := bob.OwnLeaf()
	params := ExternalJoinParams{SignPriv: bytes.Clone(bob.signPriv), Credential: bob.Tree().Leaf(bobLeaf).Credential}

	// Resync: Bob's old leaf goes in the Commit that brings him back; the
	// old state, still in the room here, learns it was removed.
	gi, err := r.members[0].GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	p := params
	p.Resync = &bobLeaf
	g, res, err := JoinExternal(cs, wireGroupInfo(t, gi), nil, p)
	if err != nil {
		t.Fatal(err)
	}
	if g.OwnLeaf() != bobLeaf {
		t.Fatalf("rejoined at leaf %d, want the freed leaf %d", g.OwnLeaf(), bobLeaf)
	}
	r.acceptExternal(g, res, true)
	if len(r.members) != 3 {
		t.Fatalf("%d members after resync", len(r.members))
	}
	r.checkMessages(rng)
	r.commit(r.indexOf(g.OwnLeaf()), CommitOptions{ForcePath: true})

	// Disconnect without resync: the DS removes Bob, a member commits, and
	// Bob joins again from a GroupInfo without the tree, passed apart.
	rm, err := NewExternalProposal(cs, r.members[0].Context().GroupID, r.members[0].Epoch(), 0,
		&Proposal{Type: ProposalTypeRemove, Remove: &Remove{Removed: bobLeaf}}, dsPriv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ds.Process(wire(t, rm)); err != nil {
		t.Fatal(err)
	}
	for _, m := range r.members {
		if _, err := m.Process(wire(t, rm)); err != nil {
			t.Fatal(err)
		}
	}
	r.commit(0, CommitOptions{})
	if len(r.members) != 2 {
		t.Fatalf("%d members after the removal", len(r.members))
	}
	gi, err = r.members[1].GroupInfo(false)
	if err != nil {
		t.Fatal(err)
	}
	g2, res, err := JoinExternal(cs, wireGroupInfo(t, gi), r.members[1].Tree().Nodes(), params)
	if err != nil {
		t.Fatal(err)
	}
	r.acceptExternal(g2, res, false)
	r.checkMessages(rng)
	r.commit(r.indexOf(g2.OwnLeaf()), CommitOptions{ForcePath: true})
	// A fresh outsider joins the same way, growing the tree.
	out := r.newMember()
	gi, _ = r.members[0].GroupInfo(true)
	g3, res, err := JoinExternal(cs, wireGroupInfo(t, gi), nil, ExternalJoinParams{SignPriv: out.sign, Credential: out.kp.LeafNode.Credential})
	if err != nil {
		t.Fatal(err)
	}
	r.acceptExternal(g3, res, false)
	r.checkMessages(rng)
	for _, m := range r.members {
		m.Close()
	}
}

// resign alters an external commit and signs it again with the joiner's
// key, so only the checks after the signature can catch it.
func resign(t *testing.T, cs *CipherSuite, m *MLSMessage, ctx *GroupContext, signPriv []byte, mutate func(*Commit)) *MLSMessage {
	t.Helper()
	m = wire(t, m)
	ac := m.PublicMessage.AuthenticatedContent()
	mutate(ac.Content.Commit)
	if err := ac.Sign(cs, signPriv, ctx); err != nil {
		t.Fatal(err)
	}
	pm, err := newPublicMessage(cs, ac, ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return wire(t, &MLSMessage{Version: ProtocolVersionMLS10, WireFormat: WireFormatPublicMessage, PublicMessage: pm})
}

// TestExternalCommitRejects: stale, forged and malformed external commits
// fail with a typed error at the DS and at every member and change
// nothing; the genuine commit is accepted afterwards.
func TestExternalCommitRejects(t *testing.T) {
	r, _ := newDSRoom(t, 3)
	cs := r.cs
	out := r.newMember()
	params := ExternalJoinParams{SignPriv: out.sign, Credential: out.kp.LeafNode.Credential}
	staleGI, _ := r.members[0].GroupInfo(true)
	r.commit(0, CommitOptions{ForcePath: true})
	gi, _ := r.members[0].GroupInfo(true)
	ctx := &gi.GroupContext

	// state fingerprints the DS and all members.
	state := func() []byte {
		var b []byte
		c, _ := Marshal(r.ds.Context())
		b = append(b, c...)
		for _, m := range r.members {
			b = append(b, m.EpochAuthenticator()...)
			s, err := m.MarshalState()
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, s...)
		}
		return b
	}
	before := state()
	reject := func(name string, m *MLSMessage, dsErr, memberErr error) {
		t.Helper()
		if dsErr != nil {
			if _, err := r.ds.Process(wire(t, m)); !errors.Is(err, dsErr) {
				t.Errorf("%s: DS: %v", name, err)
			}
		}
		for k, g := range r.members {
			if _, err := g.Process(wire(t, m)); !errors.Is(err, memberErr) {
				t.Errorf("%s: member %d: %v", name, k, err)
			}
		}
		if !bytes.Equal(before, state()) {
			t.Fatalf("%s changed the state", name)
		}
	}

	_, stale, err := JoinExternal(cs, wireGroupInfo(t, staleGI), nil, params)
	if err != nil {
		t.Fatal(err)
	}
	reject("stale epoch", stale.Commit, ErrWrongGroup, ErrWrongGroup)

	joiner, res, err := JoinExternal(cs, wireGroupInfo(t, gi), nil, params)
	if err != nil {
		t.Fatal(err)
	}
	forged := wire(t, res.Commit)
	forged.PublicMessage.Auth.Signature[0] ^= 1
	reject("bad signature", forged, ErrInvalidSignature, ErrInvalidSignature)

	forged = wire(t, res.Commit)
	forged.PublicMessage.Auth.ConfirmationTag[0] ^= 1
	// The DS holds no epoch secret and cannot check a confirmation tag.
	reject("bad confirmation tag", forged, nil, ErrInvalidConfirmationTag)

	kem := resign(t, cs, res.Commit, ctx, out.sign, func(c *Commit) {
		for _, p := range c.Proposals {
			if p.Proposal.Type == ProposalTypeExternalInit {
				p.Proposal.ExternalInit.KEMOutput = bytes.Clone(out.kp.InitKey)
			}
		}
	})
	reject("foreign kem_output", kem, nil, ErrInvalidConfirmationTag)

	inline := func(p *Proposal) func(*Commit) {
		return func(c *Commit) {
			c.Proposals = append(c.Proposals, ProposalOrRef{Type: ProposalOrRefTypeProposal, Proposal: p})
		}
	}
	for name, mutate := range map[string]func(*Commit){
		"remove of another member": inline(&Proposal{Type: ProposalTypeRemove, Remove: &Remove{Removed: 1}}),
		"add":                      inline(&Proposal{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *out.kp}}),
		"second external init":     inline(&Proposal{Type: ProposalTypeExternalInit, ExternalInit: &ExternalInit{KEMOutput: []byte{1}}}),
		"by reference": func(c *Commit) {
			c.Proposals = append(c.Proposals, ProposalOrRef{Type: ProposalOrRefTypeReference, Reference: make([]byte, 32)})
		},
		"no external init": func(c *Commit) { c.Proposals = nil },
	} {
		reject(name, resign(t, cs, res.Commit, ctx, out.sign, mutate), ErrInvalidExternalCommit, ErrInvalidExternalCommit)
	}

	// A joiner taking the signature key of a current member without
	// removing its leaf would leave two leaves with one key.
	m1 := r.members[1]
	_, dup, err := JoinExternal(cs, wireGroupInfo(t, gi), nil, ExternalJoinParams{SignPriv: m1.signPriv, Credential: out.kp.LeafNode.Credential})
	if err != nil {
		t.Fatal(err)
	}
	reject("duplicate signature key", dup.Commit, ErrInvalidTree, ErrInvalidTree)

	// The joiner itself refuses a resync of a leaf with another credential
	// and a GroupInfo without external_pub.
	other := LeafIndex(1)
	p := params
	p.Resync = &other
	if _, _, err := JoinExternal(cs, wireGroupInfo(t, gi), nil, p); !errors.Is(err, ErrInvalidExternalCommit) {
		t.Fatalf("resync of a foreign leaf: %v", err)
	}
	noPub := wireGroupInfo(t, gi)
	noPub.Extensions = noPub.Extensions[1:] // external_pub comes first
	if err := noPub.Sign(cs, r.members[0].signPriv); err != nil {
		t.Fatal(err)
	}
	if _, _, err := JoinExternal(cs, noPub, nil, params); !errors.Is(err, ErrInvalidExternalCommit) {
		t.Fatalf("GroupInfo without external_pub: %v", err)
	}
	tampered := wireGroupInfo(t, gi)
	tampered.GroupContext.Epoch++
	if _, _, err := JoinExternal(cs, tampered, nil, params); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("tampered GroupInfo: %v", err)
	}

	r.acceptExternal(joiner, res, false)
	for _, m := range r.members {
		m.Close()
	}
}
