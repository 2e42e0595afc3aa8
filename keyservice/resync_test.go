package keyservice_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/servertest/poll"
	"github.com/sealroom/sealroom/server/signaling"
)

// A member whose state is gone (a reloaded page) comes back on a new connection and
// replaces its own earlier leaf by an external commit (RFC 9420 §12.4.3.2), offered by the
// Delivery Service with resync: one commit, no Remove and Add, no second leaf; the others
// follow and see the person once. Another identity cannot take that leaf over.
func TestResyncReplacesOwnLeaf(t *testing.T) {
	// A dropped connection keeps its leaf for the disconnect grace, as in production.
	h := newHarness(t, harnessOpts{audit: true, cfg: func(c *keyservice.Config) { c.DisconnectTimeout = 30 * time.Second }})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := h.joined(ctx, 0, "alice", client.Config{})
	bob := h.joined(ctx, 0, "bob", client.Config{})
	converge(t, h, []participant{{alice, "alice"}, {bob, "bob"}}, "alice and bob")
	epoch, _, _, _ := h.dbState()
	_ = bob.Drop() // the page goes away without a goodbye: the server keeps bob's leaf

	// Mallory, seated in the same room, is offered nothing and cannot replace bob's leaf.
	mallory := h.raw(t, 0, "mallory", "participant")
	var offer signaling.Resync

	// Bob's reloaded page: a new connection of the same subject is offered its old leaf.
	bob2 := h.raw(t, 0, "bob", "participant")
	if err := json.Unmarshal(bob2.take("resync").Data, &offer); err != nil {
		t.Fatal(err)
	}
	var gim mls.MLSMessage
	if err := mls.Unmarshal(offer.GroupInfo, &gim); err != nil || gim.GroupInfo == nil {
		t.Fatalf("resync offer without a GroupInfo: %v", err)
	}
	if offer.Epoch != epoch || gim.GroupInfo.GroupContext.Epoch != epoch {
		t.Fatalf("offer for epoch %d (GroupInfo %d), the room is at %d", offer.Epoch, gim.GroupInfo.GroupContext.Epoch, epoch)
	}
	var bobLeaf *mls.LeafIndex
	tree := mls.RatchetTreeNodes{}
	if ext, ok := gim.GroupInfo.Extensions.Find(mls.ExtensionTypeRatchetTree); ok {
		if err := mls.Unmarshal(ext, &tree); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range tree {
		if i%2 == 0 && n != nil && n.Leaf != nil && string(n.Leaf.Credential.Identity) == "bob" {
			l := mls.LeafIndex(i / 2)
			bobLeaf = &l
		}
	}
	if bobLeaf == nil {
		t.Fatal("bob's leaf is not in the offered tree")
	}
	join := func(r *rawMember, identity string) (commitMsg, *mls.Group) {
		g, res, err := mls.JoinExternal(r.cs, gim.GroupInfo, nil, mls.ExternalJoinParams{SignPriv: r.sign,
			Credential: mls.NewBasicCredential([]byte(identity)), Resync: bobLeaf})
		if err != nil {
			t.Fatal(err)
		}
		c := commitMsg{GroupInfo: marshalMsg(t, mustGroupInfo(t, g))}
		c.Commit, _ = mls.Marshal(res.Commit)
		return c, g
	}
	stolen, _ := join(mallory, "bob")
	if got := mallory.request("commit", stolen); got != signaling.CodeIdentityMismatch {
		t.Fatalf("mallory taking over bob's leaf: %q, want %q", got, signaling.CodeIdentityMismatch)
	}
	if e, _, _, _ := h.dbState(); e != epoch {
		t.Fatalf("mallory's attempt moved the room to epoch %d", e)
	}

	resync, g := join(bob2, "bob")
	if got := bob2.request("commit", resync); got != "" {
		t.Fatalf("bob's resync: %q", got)
	}
	if e, members, _, _ := h.dbState(); e != epoch+1 || members != 2 {
		t.Fatalf("after the resync: epoch %d with %d members, want epoch %d (one commit) with alice and bob", e, members, epoch+1)
	}
	poll.Until(t, 10*time.Second, "alice to follow bob's resync", func() bool {
		e, _ := alice.Epoch()
		return e >= epoch+1
	})
	if n := count(alice.Members(), "bob"); n != 1 {
		t.Fatalf("alice's group holds bob %d times: %v", n, alice.Members())
	}
	if string(g.EpochAuthenticator()) != string(alice.EpochAuthenticator()) {
		t.Fatal("bob's new group and alice's disagree")
	}
}

func mustGroupInfo(t *testing.T, g *mls.Group) *mls.GroupInfo {
	t.Helper()
	gi, err := g.GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	return gi
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
