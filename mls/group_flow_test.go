package mls

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

type flowMember struct {
	kp   *KeyPackage
	sec  *KeyPackageSecrets
	sign []byte
}

func newTestMember(t testing.TB, cs *CipherSuite, name string) *flowMember {
	t.Helper()
	sign, _, err := cs.GenerateSignatureKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	kp, sec, err := NewKeyPackage(cs, sign, KeyPackageParams{
		Credential: NewBasicCredential([]byte(name)), Capabilities: DefaultCapabilities(cs),
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &flowMember{kp: kp, sec: sec, sign: sign}
}

func (m *flowMember) join(t *testing.T, cs *CipherSuite, w *Welcome) *Group {
	t.Helper()
	g, err := JoinFromWelcome(cs, w, JoinParams{KeyPackage: m.kp, Secrets: m.sec, SignPriv: m.sign})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	return g
}

// roundTripMsg sends a message over the "wire": encode and decode.
func roundTripMsg(t *testing.T, m *MLSMessage) *MLSMessage {
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

func sameEpoch(t *testing.T, gs ...*Group) {
	t.Helper()
	for _, g := range gs[1:] {
		if g.Epoch() != gs[0].Epoch() || !bytes.Equal(g.EpochAuthenticator(), gs[0].EpochAuthenticator()) {
			t.Fatalf("members disagree at epoch %d/%d", gs[0].Epoch(), g.Epoch())
		}
		a, _ := g.Export("SFrame 1.0 Base Key", nil, 16)
		b, _ := gs[0].Export("SFrame 1.0 Base Key", nil, 16)
		if !bytes.Equal(a, b) {
			t.Fatal("exporters differ")
		}
	}
}

// TestGroupLifecycle walks a room through the flows sealroom uses: create,
// add by commit + Welcome, application data, Delivery-Service proposals
// as external sender, concurrent commits of which one wins, and a forged
// Commit that must change nothing.
func TestGroupLifecycle(t *testing.T) {
	cs, _ := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	dsPriv, dsPub, _ := cs.GenerateSignatureKeyPair()
	ext := ExternalSenders{{SignatureKey: dsPub, Credential: NewBasicCredential([]byte("sealroom-ds"))}}
	extBytes, _ := Marshal(&ext)

	alice := newTestMember(t, cs, "alice")
	ga, err := NewGroup(cs, NewGroupParams{
		GroupID: []byte("room-42"), KeyPackage: alice.kp, Secrets: alice.sec, SignPriv: alice.sign,
		Extensions: Extensions{{Type: ExtensionTypeExternalSenders, Data: extBytes}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The Delivery Service follows the room from Alice's GroupInfo.
	gi0, err := ga.GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	gi0b, _ := Marshal(gi0)
	var giBack GroupInfo
	roundTrip(t, "group_info", gi0b, &giBack)
	ds, err := NewPublicGroup(cs, &giBack, nil, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Alice adds Bob and Carol.
	bob, carol := newTestMember(t, cs, "bob"), newTestMember(t, cs, "carol")
	res, err := ga.Commit(CommitOptions{
		Proposals:            []*Proposal{{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *bob.kp}}, {Type: ProposalTypeAdd, Add: &Add{KeyPackage: *carol.kp}}},
		ForcePath:            true,
		RatchetTreeInWelcome: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ga.MergeCommit(); err != nil {
		t.Fatal(err)
	}
	dsTrack(t, ds, res.Commit, ga)
	wm := roundTripMsg(t, &MLSMessage{Version: ProtocolVersionMLS10, WireFormat: WireFormatWelcome, Welcome: res.Welcome})
	gb, gc := bob.join(t, cs, wm.Welcome), carol.join(t, cs, wm.Welcome)
	sameEpoch(t, ga, gb, gc)

	// Application data from Bob.
	am, err := gb.EncryptApplication([]byte("hello room"), nil, 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []*Group{ga, gc} {
		r, err := g.Process(roundTripMsg(t, am))
		if err != nil || string(r.ApplicationData) != "hello room" {
			t.Fatalf("application: %v", err)
		}
	}

	// The Delivery Service, holding no group secret, removes Carol and adds Dave.
	dave := newTestMember(t, cs, "dave")
	rm, err := NewExternalProposal(cs, ga.Context().GroupID, ga.Epoch(), 0, &Proposal{Type: ProposalTypeRemove, Remove: &Remove{Removed: gc.OwnLeaf()}}, dsPriv)
	if err != nil {
		t.Fatal(err)
	}
	add, err := NewExternalProposal(cs, ga.Context().GroupID, ga.Epoch(), 0, &Proposal{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *dave.kp}}, dsPriv)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []*PublicGroup{ds} {
		for _, m := range []*MLSMessage{rm, add} {
			if _, err := g.Process(roundTripMsg(t, m)); err != nil {
				t.Fatalf("DS own proposal: %v", err)
			}
		}
	}
	for _, g := range []*Group{ga, gb, gc} {
		for _, m := range []*MLSMessage{rm, add} {
			if _, err := g.Process(roundTripMsg(t, m)); err != nil {
				t.Fatalf("external proposal: %v", err)
			}
		}
	}
	// A proposal signed by someone else posing as the DS is rejected.
	forged, _ := NewExternalProposal(cs, ga.Context().GroupID, ga.Epoch(), 0, &Proposal{Type: ProposalTypeRemove, Remove: &Remove{Removed: 0}}, bob.sign)
	if _, err := ga.Process(roundTripMsg(t, forged)); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("forged DS proposal: %v", err)
	}
	if _, err := ds.Process(roundTripMsg(t, forged)); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("DS accepted a forged DS proposal: %v", err)
	}
	res, err = gb.Commit(CommitOptions{RatchetTreeInWelcome: true})
	if err != nil {
		t.Fatal(err)
	}
	cm := roundTripMsg(t, res.Commit)

	// A forged copy (signature flipped) changes nothing at Alice.
	bad := roundTripMsg(t, res.Commit)
	bad.PublicMessage.Auth.Signature[0] ^= 1
	before := ga.EpochAuthenticator()
	if _, err := ga.Process(bad); err == nil {
		t.Fatal("forged commit accepted")
	}
	if _, err := ds.Process(bad); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("DS accepted a forged commit: %v", err)
	}
	if !bytes.Equal(before, ga.EpochAuthenticator()) {
		t.Fatal("forged commit changed the state")
	}
	if _, err := ga.Process(cm); err != nil {
		t.Fatal(err)
	}
	if err := gb.MergeCommit(); err != nil {
		t.Fatal(err)
	}
	if r := dsTrack(t, ds, cm, gb); len(r.Proposals) != 2 || r.Senders[0].Type != SenderTypeExternal || len(r.Added) != 1 {
		t.Fatalf("DS view of the commit: %+v", r)
	}
	if _, err := gc.Process(roundTripMsg(t, res.Commit)); !errors.Is(err, ErrRemoved) {
		t.Fatalf("removed member: %v", err)
	}
	gd := dave.join(t, cs, res.Welcome)
	sameEpoch(t, ga, gb, gd)

	// Alice and Bob commit concurrently; the DS orders Alice's first.
	ra, err := ga.Commit(CommitOptions{ForcePath: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gb.Commit(CommitOptions{ForcePath: true}); err != nil {
		t.Fatal(err)
	}
	if err := ga.MergeCommit(); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*Group{gb, gd} {
		if _, err := g.Process(roundTripMsg(t, ra.Commit)); err != nil {
			t.Fatal(err)
		}
	}
	if err := gb.MergeCommit(); err == nil {
		t.Fatal("loser could merge its stale commit")
	}
	dsTrack(t, ds, ra.Commit, ga)
	sameEpoch(t, ga, gb, gd)

	// A message from the old epoch is rejected as stale.
	if _, err := ga.Process(roundTripMsg(t, am)); !errors.Is(err, ErrWrongGroup) {
		t.Fatalf("stale epoch: %v", err)
	}
	// Private handshake messages work too.
	rp, err := gd.Commit(CommitOptions{ForcePath: true, WireFormat: WireFormatPrivateMessage})
	if err != nil {
		t.Fatal(err)
	}
	if err := gd.MergeCommit(); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*Group{ga, gb} {
		if _, err := g.Process(roundTripMsg(t, rp.Commit)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ds.CheckEpoch(rp.Commit); err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Process(rp.Commit); !errors.Is(err, ErrNotPublic) {
		t.Fatalf("DS and a private commit: %v", err)
	}
	sameEpoch(t, ga, gb, gd)
	for _, g := range []*Group{ga, gb, gc, gd} {
		g.Close()
	}
}

// dsTrack has the Delivery Service process a handshake and checks that its
// public view matches a member's.
func dsTrack(t *testing.T, ds *PublicGroup, m *MLSMessage, member *Group) *PublicResult {
	t.Helper()
	r, err := ds.Process(roundTripMsg(t, m))
	if err != nil {
		t.Fatalf("DS: %v", err)
	}
	a, _ := Marshal(ds.Context())
	b, _ := Marshal(member.Context())
	if !bytes.Equal(a, b) {
		t.Fatal("DS GroupContext differs from the members'")
	}
	return r
}

// TestCommitSkipsInvalidPendingProposals: the DS sends the same Remove
// twice (say, after a retry); the committer must include only one and the
// room moves on.
func TestCommitSkipsInvalidPendingProposals(t *testing.T) {
	cs, _ := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	dsPriv, dsPub, _ := cs.GenerateSignatureKeyPair()
	ext := ExternalSenders{{SignatureKey: dsPub, Credential: NewBasicCredential([]byte("ds"))}}
	extBytes, _ := Marshal(&ext)
	alice, bob, carol := newTestMember(t, cs, "alice"), newTestMember(t, cs, "bob"), newTestMember(t, cs, "carol")
	ga, err := NewGroup(cs, NewGroupParams{GroupID: []byte("room"), KeyPackage: alice.kp, Secrets: alice.sec, SignPriv: alice.sign,
		Extensions: Extensions{{Type: ExtensionTypeExternalSenders, Data: extBytes}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ga.Commit(CommitOptions{RatchetTreeInWelcome: true, Proposals: []*Proposal{
		{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *bob.kp}}, {Type: ProposalTypeAdd, Add: &Add{KeyPackage: *carol.kp}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ga.MergeCommit(); err != nil {
		t.Fatal(err)
	}
	gb := bob.join(t, cs, res.Welcome)
	for i := range 2 {
		rm, err := NewExternalProposal(cs, ga.Context().GroupID, ga.Epoch(), 0,
			&Proposal{Type: ProposalTypeRemove, Remove: &Remove{Removed: 2}}, dsPriv)
		if err != nil {
			t.Fatal(err)
		}
		// Ed25519 is deterministic: vary the authenticated data so the two
		// copies get distinct ProposalRefs.
		rm.PublicMessage.Content.AuthenticatedData = []byte{byte(i)}
		ac := rm.PublicMessage.AuthenticatedContent()
		if err := ac.Sign(cs, dsPriv, nil); err != nil {
			t.Fatal(err)
		}
		rm.PublicMessage.Auth = ac.Auth
		for _, g := range []*Group{ga, gb} {
			if _, err := g.Process(roundTripMsg(t, rm)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cr, err := gb.Commit(CommitOptions{})
	if err != nil {
		t.Fatalf("commit with a duplicate pending Remove: %v", err)
	}
	if n := len(cr.Commit.PublicMessage.Content.Commit.Proposals); n != 1 {
		t.Fatalf("commit carries %d proposals, want 1", n)
	}
	if err := gb.MergeCommit(); err != nil {
		t.Fatal(err)
	}
	if _, err := ga.Process(roundTripMsg(t, cr.Commit)); err != nil {
		t.Fatal(err)
	}
	sameEpoch(t, ga, gb)
}
