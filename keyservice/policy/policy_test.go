package policy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sealroom/sealroom/keyservice/policy"
	"github.com/sealroom/sealroom/mls"
)

// room is a group of alice, bob and carol with the server as external sender, built the
// way sealroom builds it: the server proposes each Add, alice commits it by reference.
// Every member holds the room's policy.
type room struct {
	t      *testing.T
	cs     *mls.CipherSuite
	server []byte // the external sender's signing key
	signs  map[string][]byte
	groups map[string]*mls.Group
}

func keyPackage(t *testing.T, cs *mls.CipherSuite, sign []byte, identity string) (*mls.KeyPackage, *mls.KeyPackageSecrets) {
	t.Helper()
	now := time.Now()
	kp, sec, err := mls.NewKeyPackage(cs, sign, mls.KeyPackageParams{Credential: mls.NewBasicCredential([]byte(identity)),
		Capabilities: mls.DefaultCapabilities(cs), NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return kp, sec
}

func wire(t *testing.T, m *mls.MLSMessage) *mls.MLSMessage {
	t.Helper()
	b, err := mls.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out mls.MLSMessage
	if err := mls.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func newRoom(t *testing.T) *room {
	t.Helper()
	cs, err := mls.CipherSuiteByID(mls.X25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	r := &room{t: t, cs: cs, signs: map[string][]byte{}, groups: map[string]*mls.Group{}}
	var serverPub []byte
	r.server, serverPub, err = cs.GenerateSignatureKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	senders := mls.ExternalSenders{{SignatureKey: serverPub, Credential: mls.NewBasicCredential([]byte("server"))}}
	ext, err := mls.Marshal(&senders)
	if err != nil {
		t.Fatal(err)
	}
	r.signs["alice"], _, _ = cs.GenerateSignatureKeyPair()
	kp, sec := keyPackage(t, cs, r.signs["alice"], "alice")
	alice, err := mls.NewGroup(cs, mls.NewGroupParams{GroupID: []byte("sealroom:visit"), KeyPackage: kp, Secrets: sec,
		SignPriv: r.signs["alice"], Extensions: mls.Extensions{{Type: mls.ExtensionTypeExternalSenders, Data: ext}}})
	if err != nil {
		t.Fatal(err)
	}
	alice.SetPolicy(policy.Room{})
	r.groups["alice"] = alice
	for _, who := range []string{"bob", "carol"} {
		r.signs[who], _, _ = cs.GenerateSignatureKeyPair()
		kp, sec := keyPackage(t, cs, r.signs[who], who)
		r.serverProposes(&mls.Proposal{Type: mls.ProposalTypeAdd, Add: &mls.Add{KeyPackage: *kp}})
		res := r.commit("alice")
		g, err := mls.JoinFromWelcome(cs, res.Welcome, mls.JoinParams{KeyPackage: kp, Secrets: sec, SignPriv: r.signs[who]})
		if err != nil {
			t.Fatal(err)
		}
		g.SetPolicy(policy.Room{})
		r.deliver("alice", res.Commit)
		r.groups[who] = g
	}
	return r
}

// serverProposes sends p from the external sender to every member.
func (r *room) serverProposes(p *mls.Proposal) {
	r.t.Helper()
	g := r.groups["alice"]
	m, err := mls.NewExternalProposal(r.cs, g.Context().GroupID, g.Epoch(), 0, p, r.server)
	if err != nil {
		r.t.Fatal(err)
	}
	r.deliver("", m)
}

// commit makes who commit its pending proposals and extra ones by value, and merges.
func (r *room) commit(who string, extra ...*mls.Proposal) *mls.CommitResult {
	r.t.Helper()
	res, err := r.groups[who].Commit(mls.CommitOptions{Proposals: extra, RatchetTreeInWelcome: true})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.groups[who].MergeCommit(); err != nil {
		r.t.Fatal(err)
	}
	return res
}

// deliver hands m to every member but from and fails on any refusal.
func (r *room) deliver(from string, m *mls.MLSMessage) {
	r.t.Helper()
	for who, g := range r.groups {
		if who == from {
			continue
		}
		if _, err := g.Process(wire(r.t, m)); err != nil {
			r.t.Fatalf("%s refused an allowed message: %v", who, err)
		}
	}
}

// refused checks that bob refuses m under the policy, with rule, and stays where he was.
func (r *room) refused(what string, m *mls.MLSMessage, rule int) {
	r.t.Helper()
	bob := r.groups["bob"]
	epoch, auth := bob.Epoch(), bob.EpochAuthenticator()
	_, err := bob.Process(wire(r.t, m))
	var v *policy.Violation
	if !errors.Is(err, mls.ErrPolicy) || !errors.Is(err, policy.ErrForbidden) || !errors.As(err, &v) || v.Rule != rule {
		r.t.Fatalf("%s: bob's error %v, want a violation of rule %d", what, err, rule)
	}
	if bob.Epoch() != epoch || string(bob.EpochAuthenticator()) != string(auth) {
		r.t.Fatalf("%s moved bob's group", what)
	}
}

// A Go member refuses, on its own, what a hostile member or server would slip past a
// Delivery Service that did not check: each message is delivered to bob directly.
func TestMemberRefusesWhatThePolicyForbids(t *testing.T) {
	r := newRoom(t)
	alice := r.groups["alice"]
	craft := func(p *mls.Proposal) *mls.MLSMessage {
		t.Helper()
		res, err := alice.Commit(mls.CommitOptions{Proposals: []*mls.Proposal{p}})
		if err != nil {
			t.Fatal(err)
		}
		alice.DiscardCommit()
		return res.Commit
	}
	ghostSign, _, _ := r.cs.GenerateSignatureKeyPair()
	ghost, _ := keyPackage(t, r.cs, ghostSign, "bob")
	r.refused("a ghost Add under bob's identity, by value",
		craft(&mls.Proposal{Type: mls.ProposalTypeAdd, Add: &mls.Add{KeyPackage: *ghost}}), 1)
	r.refused("a Remove of carol by value",
		craft(&mls.Proposal{Type: mls.ProposalTypeRemove, Remove: &mls.Remove{Removed: 2}}), 1)
	r.refused("GroupContextExtensions dropping the server",
		craft(&mls.Proposal{Type: mls.ProposalTypeGroupContextExtensions, GroupContextExtensions: &mls.GroupContextExtensions{}}), 4)

	// A member proposing a Remove itself, to be committed by reference later.
	prop, err := alice.Propose(&mls.Proposal{Type: mls.ProposalTypeRemove, Remove: &mls.Remove{Removed: 2}}, mls.WireFormatPublicMessage)
	if err != nil {
		t.Fatal(err)
	}
	r.refused("a member's own Remove proposal", prop, 1)

	// A new device of no member joins by external commit: not a resync of its own leaf.
	gi, err := alice.GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	strangerSign, _, _ := r.cs.GenerateSignatureKeyPair()
	_, joinRes, err := mls.JoinExternal(r.cs, gi, nil, mls.ExternalJoinParams{SignPriv: strangerSign, Credential: mls.NewBasicCredential([]byte("mallory"))})
	if err != nil {
		t.Fatal(err)
	}
	r.refused("an external join that replaces no leaf", joinRes.Commit, 3)
}

// What the room does every day passes the same policy: the server's Remove committed by
// reference, a member's own path commit, and a member's resync by external commit.
func TestMemberAcceptsWhatThePolicyAllows(t *testing.T) {
	r := newRoom(t)
	r.deliver("alice", r.commit("alice").Commit) // an update of alice's own path
	r.serverProposes(&mls.Proposal{Type: mls.ProposalTypeRemove, Remove: &mls.Remove{Removed: 2}})
	removal := r.commit("alice").Commit
	if _, err := r.groups["carol"].Process(wire(t, removal)); !errors.Is(err, mls.ErrRemoved) {
		t.Fatalf("carol processing her removal: %v", err)
	}
	delete(r.groups, "carol")
	r.deliver("alice", removal)

	// Bob lost his state (a reload): he rejoins by external commit, replacing his leaf.
	gi, err := r.groups["alice"].GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	own := mls.LeafIndex(1)
	bob2, res, err := mls.JoinExternal(r.cs, gi, nil, mls.ExternalJoinParams{SignPriv: r.signs["bob"],
		Credential: mls.NewBasicCredential([]byte("bob")), Resync: &own})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.groups["alice"].Process(wire(t, res.Commit)); err != nil {
		t.Fatalf("alice refused bob's resync: %v", err)
	}
	if string(bob2.EpochAuthenticator()) != string(r.groups["alice"].EpochAuthenticator()) {
		t.Fatal("bob's resync did not reach alice's epoch")
	}
}
