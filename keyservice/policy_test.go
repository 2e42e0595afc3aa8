package keyservice_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/signaling"
)

// A member with a valid token tries to change the room's membership or its external
// senders by itself. Each commit is valid MLS, and each is refused by the Delivery
// Service under the room's policy (keyservice/policy), audited as rejected, and the
// room stays where it was.
func TestCommitPolicyAtTheDeliveryService(t *testing.T) {
	h := newHarness(t, harnessOpts{audit: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mallory := h.raw(t, 0, "mallory", "participant")
	mallory.create()
	bob := h.dial(0, "bob", client.Config{})
	mallory.apply(mallory.nextHandshake()) // the server's Add of bob
	mallory.take("commit_needed")
	withBob, _ := mallory.commit()
	if got := mallory.request("commit", withBob); got != "" {
		t.Fatalf("commit adding bob: %q", got)
	}
	if err := mallory.group.MergeCommit(); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitJoined(ctx); err != nil {
		t.Fatal(err)
	}
	epoch, members, _, _ := h.dbState()

	// A second leaf under bob's identity, whose keys mallory holds: a ghost bob.
	var ghost mls.MLSMessage
	if err := mls.Unmarshal(mallory.keyPackage("bob"), &ghost); err != nil {
		t.Fatal(err)
	}
	external, ok := mallory.group.Context().Extensions.Find(mls.ExtensionTypeExternalSenders)
	if !ok {
		t.Fatal("the group lists no external sender")
	}
	for _, c := range []struct {
		name string
		p    *mls.Proposal
	}{
		{"a ghost Add by value", &mls.Proposal{Type: mls.ProposalTypeAdd, Add: &mls.Add{KeyPackage: *ghost.KeyPackage}}},
		{"a Remove of another member by value", &mls.Proposal{Type: mls.ProposalTypeRemove, Remove: &mls.Remove{Removed: 1}}},
		{"GroupContextExtensions dropping the server", &mls.Proposal{Type: mls.ProposalTypeGroupContextExtensions,
			GroupContextExtensions: &mls.GroupContextExtensions{Extensions: mls.Extensions{}}}},
	} {
		commit, _ := mallory.commit(c.p)
		mallory.group.DiscardCommit()
		if got := mallory.request("commit", commit); got != signaling.CodeForbiddenCommit {
			t.Errorf("%s: code %q, want %q", c.name, got, signaling.CodeForbiddenCommit)
		}
		if e, m, _, _ := h.dbState(); e != epoch || m != members {
			t.Fatalf("%s changed the room: epoch %d members %d, was %d and %d", c.name, e, m, epoch, members)
		}
	}
	if ext, _ := mallory.group.Context().Extensions.Find(mls.ExtensionTypeExternalSenders); !slices.Equal(ext, external) {
		t.Fatal("the external senders changed")
	}
	got := h.procs[0].audit.denied(audit.ActionCommitRejected)
	if want := []string{signaling.CodeForbiddenCommit, signaling.CodeForbiddenCommit, signaling.CodeForbiddenCommit}; !slices.Equal(got, want) {
		t.Fatalf("commit denials audited %v, want %v", got, want)
	}
	// The room still works: bob's own update goes through.
	if err := bob.Update(ctx); err != nil {
		t.Fatalf("an allowed commit after the refusals: %v", err)
	}
}
