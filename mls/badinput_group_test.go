package mls

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// fingerprint is everything a member and the Delivery Service hold, so a
// test can show that a rejected message changed nothing.
func (r *room) fingerprint() []byte {
	t := r.t
	t.Helper()
	var out []byte
	if r.ds != nil {
		c, _ := Marshal(r.ds.Context())
		nodes := r.ds.Tree().Nodes()
		n, _ := Marshal(&nodes)
		out = append(append(out, c...), n...)
	}
	for _, g := range r.members {
		s, err := g.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s...)
	}
	return out
}

// rejectAll delivers m to the DS and to every member but the sender and
// expects the given errors (dsErr nil: the DS cannot tell and is skipped)
// and no change anywhere.
func (r *room) rejectAll(name string, sender int, m *MLSMessage, dsErr, memberErr error) {
	t := r.t
	t.Helper()
	before := r.fingerprint()
	if dsErr != nil {
		if _, err := r.ds.Process(wire(t, m)); !errors.Is(err, dsErr) {
			t.Errorf("%s: DS: %v, want %v", name, err, dsErr)
		}
	}
	for k, g := range r.members {
		if k == sender {
			continue
		}
		if _, err := g.Process(wire(t, m)); !errors.Is(err, memberErr) {
			t.Errorf("%s: member %d: %v, want %v", name, k, err, memberErr)
		}
	}
	if !bytes.Equal(before, r.fingerprint()) {
		t.Fatalf("%s: rejected message changed the state", name)
	}
}

// remac recomputes the membership tag after an insider altered a
// PublicMessage, so the checks behind the tag are reached.
func remac(t *testing.T, g *Group, m *MLSMessage) *MLSMessage {
	t.Helper()
	pm, err := newPublicMessage(g.cs, m.PublicMessage.AuthenticatedContent(), &g.ctx, g.epoch.MembershipKey)
	if err != nil {
		t.Fatal(err)
	}
	return &MLSMessage{Version: ProtocolVersionMLS10, WireFormat: WireFormatPublicMessage, PublicMessage: pm}
}

// TestBadCommitsChangeNothing covers the "bad input" list of issue 5 at the
// group level: Commits for a stale or a future epoch, with a wrong
// signature or confirmation tag, adding an invalid KeyPackage, removing an
// empty leaf, or carrying a path whose parent hashes do not chain. Each
// fails with a typed error at every member (and at the Delivery Service
// where it can tell) and leaves every state byte for byte as it was.
func TestBadCommitsChangeNothing(t *testing.T) {
	r, _ := newDSRoom(t, 3)
	cs := r.cs
	staleRes, err := r.members[1].Commit(CommitOptions{ForcePath: true})
	if err != nil {
		t.Fatal(err)
	}
	r.members[1].DiscardCommit()
	r.commit(0, CommitOptions{ForcePath: true})
	g0 := r.members[0]

	r.rejectAll("stale epoch", 1, staleRes.Commit, ErrWrongGroup, ErrWrongGroup)

	res, err := g0.Commit(CommitOptions{ForcePath: true})
	if err != nil {
		t.Fatal(err)
	}
	g0.DiscardCommit()
	future := wire(t, res.Commit)
	future.PublicMessage.Content.Epoch++
	r.rejectAll("future epoch", 0, future, ErrWrongGroup, ErrWrongGroup)

	badSig := wire(t, res.Commit)
	badSig.PublicMessage.Auth.Signature[0] ^= 1
	r.rejectAll("bad signature, stale membership tag", 0, badSig, ErrInvalidSignature, ErrInvalidMembershipTag)
	r.rejectAll("bad signature", 0, remac(t, g0, badSig), ErrInvalidSignature, ErrInvalidSignature)

	badTag := wire(t, res.Commit)
	badTag.PublicMessage.Auth.ConfirmationTag[0] ^= 1
	r.rejectAll("bad confirmation tag", 0, remac(t, g0, badTag), nil, ErrInvalidConfirmationTag)

	// A path whose node key was swapped no longer matches the leaf's
	// parent_hash (RFC 9420 §7.9.2).
	c := *res.Commit.PublicMessage.Content.Commit
	path := *c.Path
	path.Nodes = append([]UpdatePathNode(nil), path.Nodes...)
	_, otherPub, _ := cs.generateHPKEKeyPair()
	path.Nodes[len(path.Nodes)-1].EncryptionKey = otherPub
	c.Path = &path
	r.rejectAll("bad parent hash in path", 0, signedCommit(t, g0, &c), ErrInvalidTree, ErrInvalidTree)

	r.rejectAll("remove of an empty leaf", 0, signedCommit(t, g0, &Commit{Proposals: []ProposalOrRef{{
		Type: ProposalOrRefTypeProposal, Proposal: &Proposal{Type: ProposalTypeRemove, Remove: &Remove{Removed: 9}}}}}),
		ErrInvalidProposal, ErrInvalidProposal)

	// Invalid KeyPackages in an Add: forged signature, expired lifetime.
	newcomer := newTestMember(t, cs, "newcomer")
	forgedKP := *newcomer.kp
	forgedKP.Signature = bytes.Clone(forgedKP.Signature)
	forgedKP.Signature[0] ^= 1
	sign, _, _ := cs.GenerateSignatureKeyPair()
	expiredKP, _, err := NewKeyPackage(cs, sign, KeyPackageParams{
		Credential: NewBasicCredential([]byte("late")), Capabilities: DefaultCapabilities(cs),
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, kp := range map[string]*KeyPackage{"forged KeyPackage": &forgedKP, "expired KeyPackage": expiredKP} {
		add := &Proposal{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *kp}}
		r.rejectAll(name, 0, signedCommit(t, g0, &Commit{Proposals: []ProposalOrRef{{Type: ProposalOrRefTypeProposal, Proposal: add}}}),
			ErrInvalidKeyPackage, ErrInvalidKeyPackage)
		// The committer's own Commit refuses it too, without a trace.
		before := r.fingerprint()
		if _, err := g0.Commit(CommitOptions{Proposals: []*Proposal{add}}); !errors.Is(err, ErrInvalidKeyPackage) {
			t.Errorf("%s: Commit: %v", name, err)
		}
		if !bytes.Equal(before, r.fingerprint()) {
			t.Fatalf("%s: failed Commit changed the committer", name)
		}
	}

	// The room carries on.
	r.commit(0, CommitOptions{ForcePath: true})
	for _, g := range r.members {
		g.Close()
	}
}

// TestBadWelcomeAndTree: a Welcome opened with a KeyPackage it was not
// made for, and a ratchet tree with a parent hash that does not chain,
// presented to a joiner (tree outside the GroupInfo), to the Delivery
// Service and to an external joiner (GroupInfo re-signed by an insider),
// all fail with typed errors.
func TestBadWelcomeAndTree(t *testing.T) {
	r, _ := newDSRoom(t, 3)
	cs := r.cs
	g0 := r.members[0]
	invited, other := newTestMember(t, cs, "invited"), newTestMember(t, cs, "other")
	res, err := g0.Commit(CommitOptions{Proposals: []*Proposal{{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *invited.kp}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := JoinFromWelcome(cs, res.Welcome, JoinParams{KeyPackage: other.kp, Secrets: other.sec, SignPriv: other.sign,
		Tree: g0.Tree().Nodes()}); !errors.Is(err, ErrNotInvited) {
		t.Fatalf("Welcome for another KeyPackage: %v", err)
	}
	// The right joiner with a tree whose parent node was altered.
	g0.DiscardCommit()
	r.commit(0, CommitOptions{ForcePath: true}) // fills parent nodes
	res, err = g0.Commit(CommitOptions{Proposals: []*Proposal{{Type: ProposalTypeAdd, Add: &Add{KeyPackage: *invited.kp}}}})
	if err != nil {
		t.Fatal(err)
	}
	corrupt := func(nodes RatchetTreeNodes) RatchetTreeNodes {
		for i, n := range nodes {
			if n != nil && n.Parent != nil {
				q := *n.Parent
				q.ParentHash = bytes.Repeat([]byte{0xaa}, 32)
				nodes[i] = &Node{Type: NodeTypeParent, Parent: &q}
				return nodes
			}
		}
		t.Fatal("no parent node")
		return nil
	}
	// Altered by someone outside: the GroupContext's tree hash catches it.
	nextTree := corrupt(g0.pendingCommit.tree.Nodes())
	g0.DiscardCommit()
	if _, err := JoinFromWelcome(cs, res.Welcome, JoinParams{KeyPackage: invited.kp, Secrets: invited.sec, SignPriv: invited.sign,
		Tree: nextTree}); !errors.Is(err, ErrInvalidTree) {
		t.Fatalf("Welcome with a bad tree: %v", err)
	}
	badTree := corrupt(g0.Tree().Nodes())
	// An insider signs a GroupInfo over the bad tree's hash: the tree hash
	// matches, so only parent-hash validation can catch it.
	bt, err := NewRatchetTree(badTree)
	if err != nil {
		t.Fatal(err)
	}
	th, err := bt.TreeHash(cs)
	if err != nil {
		t.Fatal(err)
	}
	gi, err := g0.GroupInfo(false)
	if err != nil {
		t.Fatal(err)
	}
	gi.GroupContext.TreeHash = th
	if err := gi.Sign(cs, g0.signPriv); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPublicGroup(cs, gi, badTree, nil); !errors.Is(err, ErrInvalidTree) || !strings.Contains(err.Error(), "parent-hash valid") {
		t.Fatalf("DS with a bad tree: %v", err)
	}
	if _, _, err := JoinExternal(cs, gi, badTree, ExternalJoinParams{SignPriv: other.sign, Credential: other.kp.LeafNode.Credential}); !errors.Is(err, ErrInvalidTree) {
		t.Fatalf("external join with a bad tree: %v", err)
	}
	for _, g := range r.members {
		g.Close()
	}
}
