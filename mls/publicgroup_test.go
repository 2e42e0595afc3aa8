package mls

import (
	"bytes"
	"errors"
	"testing"
)

// signedCommit has member g sign an arbitrary Commit as a PublicMessage,
// bypassing Group.Commit's own checks, to see what receivers reject.
func signedCommit(t *testing.T, g *Group, c *Commit) *MLSMessage {
	t.Helper()
	ac := &AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: g.framed(ContentTypeCommit, nil)}
	ac.Content.Commit = c
	if err := ac.Sign(g.cs, g.signPriv, &g.ctx); err != nil {
		t.Fatal(err)
	}
	ac.Auth.ConfirmationTag = make([]byte, g.cs.HashLength())
	m, err := g.protect(ac, 0)
	if err != nil {
		t.Fatal(err)
	}
	return roundTripMsg(t, m)
}

func TestPublicGroupRejectsInvalidCommits(t *testing.T) {
	cs, _ := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	alice, bob := newTestMember(t, cs, "alice"), newTestMember(t, cs, "bob")
	ga, err := NewGroup(cs, NewGroupParams{GroupID: []byte("room"), KeyPackage: alice.kp, Secrets: alice.sec, SignPriv: alice.sign})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ga.Commit(CommitOptions{Proposals: []*Proposal{{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *bob.kp}}}, RatchetTreeInWelcome: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ga.MergeCommit(); err != nil {
		t.Fatal(err)
	}
	gi, _ := ga.GroupInfo(true)
	ds, err := NewPublicGroup(cs, gi, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	gb := bob.join(t, cs, res.Welcome)

	remove := func(l LeafIndex) ProposalOrRef {
		return ProposalOrRef{Type: ProposalOrRefTypeProposal, Proposal: &Proposal{Type: ProposalTypeRemove, Remove: &Remove{Removed: l}}}
	}
	cases := map[string]*Commit{
		"committer removes itself":  {Proposals: []ProposalOrRef{remove(0)}},
		"remove of a blank leaf":    {Proposals: []ProposalOrRef{remove(5)}},
		"same leaf removed twice":   {Proposals: []ProposalOrRef{remove(1), remove(1)}},
		"unknown reference":         {Proposals: []ProposalOrRef{{Type: ProposalOrRefTypeReference, Reference: make([]byte, 32)}}},
		"remove without a path":     {Proposals: []ProposalOrRef{remove(1)}},
		"empty commit without path": {},
		"committer's inline update": {Proposals: []ProposalOrRef{{Type: ProposalOrRefTypeProposal, Proposal: &Proposal{Type: ProposalTypeUpdate, Update: &Update{LeafNode: *ga.tree.Leaf(0)}}}}},
	}
	before, _ := Marshal(ds.Context())
	for name, c := range cases {
		m := signedCommit(t, ga, c)
		if _, err := ds.Process(m); !errors.Is(err, ErrInvalidProposal) {
			t.Errorf("DS, %s: %v", name, err)
		}
		if _, err := gb.Process(m); !errors.Is(err, ErrInvalidProposal) {
			t.Errorf("member, %s: %v", name, err)
		}
	}
	after, _ := Marshal(ds.Context())
	if !bytes.Equal(before, after) {
		t.Fatal("rejected commits changed the DS state")
	}
	// A well-formed commit whose confirmation tag was altered by an insider
	// (membership tag recomputed) passes the DS, which cannot check the
	// tag, but a member rejects it and stays in its epoch.
	cr, err := ga.Commit(CommitOptions{ForcePath: true})
	if err != nil {
		t.Fatal(err)
	}
	ac := cr.Commit.PublicMessage.AuthenticatedContent()
	ac.Auth.ConfirmationTag = bytes.Clone(ac.Auth.ConfirmationTag)
	ac.Auth.ConfirmationTag[0] ^= 1
	pm, err := newPublicMessage(cs, ac, ga.Context(), ga.epoch.MembershipKey)
	if err != nil {
		t.Fatal(err)
	}
	auth := gb.EpochAuthenticator()
	if _, err := gb.Process(&MLSMessage{Version: ProtocolVersionMLS10, WireFormat: WireFormatPublicMessage, PublicMessage: pm}); !errors.Is(err, ErrInvalidConfirmationTag) {
		t.Fatalf("altered confirmation tag: %v", err)
	}
	if !bytes.Equal(auth, gb.EpochAuthenticator()) {
		t.Fatal("rejected commit changed the member")
	}
	if _, err := gb.Process(roundTripMsg(t, cr.Commit)); err != nil {
		t.Fatalf("genuine commit after the forged one: %v", err)
	}
}
