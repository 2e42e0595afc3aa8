package client

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/servertest/poll"
	"github.com/sealroom/sealroom/server/signaling"
)

// A commit the room's policy forbids, delivered straight to a Go client as if a hostile
// server relayed it (the Delivery Service would have refused it), leaves the client's
// group where it was: the client never relies on the server having checked.
func TestClientRefusesForbiddenCommitsDeliveredDirectly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	join := testRoom(t, ctx)
	dial := func(sub string) *Client { return join(sub, Config{}) }
	alice, bob := dial("alice"), dial("bob")
	poll.Until(t, 10*time.Second, "alice and bob in the same epoch", func() bool {
		ea, _ := alice.Epoch()
		eb, _ := bob.Epoch()
		return ea == eb
	})
	// run runs f on c's own goroutine and waits for it.
	run := func(c *Client, f func()) {
		done := make(chan struct{})
		c.do(func() { f(); close(done) })
		<-done
	}
	var bobLeaf mls.LeafIndex
	run(bob, func() { bobLeaf = bob.group.OwnLeaf() })
	var epoch uint64
	var crafted []*mls.MLSMessage
	run(alice, func() {
		epoch = alice.group.Epoch()
		sign, _, _ := alice.cs.GenerateSignatureKeyPair()
		now := time.Now()
		ghost, _, err := mls.NewKeyPackage(alice.cs, sign, mls.KeyPackageParams{Credential: mls.NewBasicCredential([]byte("bob")),
			Capabilities: mls.DefaultCapabilities(alice.cs), NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour)})
		if err != nil {
			t.Error(err)
			return
		}
		for _, p := range []*mls.Proposal{
			{Type: mls.ProposalTypeAdd, Add: &mls.Add{KeyPackage: *ghost}},
			{Type: mls.ProposalTypeRemove, Remove: &mls.Remove{Removed: bobLeaf}},
			{Type: mls.ProposalTypeGroupContextExtensions, GroupContextExtensions: &mls.GroupContextExtensions{}},
		} {
			res, err := alice.group.Commit(mls.CommitOptions{Proposals: []*mls.Proposal{p}})
			if err != nil {
				t.Error(err)
				return
			}
			alice.group.DiscardCommit()
			crafted = append(crafted, res.Commit)
		}
	})
	for i, m := range crafted {
		b, err := mls.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(signaling.Handshake{Epoch: epoch, Message: b})
		run(bob, func() {
			bob.handle(signaling.Envelope{V: signaling.Version, Type: signaling.TypeHandshake, Data: data})
		})
		if e, in := bob.Epoch(); !in || e != epoch {
			t.Fatalf("crafted commit %d moved bob to epoch %d (member %v), want %d", i, e, in, epoch)
		}
	}
	// Bob still follows the honest room.
	if err := alice.Update(ctx); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "bob to follow alice's allowed update", func() bool { e, _ := bob.Epoch(); return e == epoch+1 })
}
