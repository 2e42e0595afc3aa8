package keyservice_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/keyservice"
)

// TestNewProcessTakesOver: the group lives in Postgres, not in a process. A server
// process started after the group was built (as after a restart) seats a new member and
// validates that member's commit from the stored GroupInfo alone.
func TestNewProcessTakesOver(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := h.joined(ctx, 0, "alice", client.Config{})
	bob := h.joined(ctx, 0, "bob", client.Config{})
	members := []participant{{alice, "alice"}, {bob, "bob"}}
	converge(t, h, members, "alice and bob")

	h.procs = append(h.procs, h.startProc(h.tokKey, harnessOpts{}))
	carol := h.joined(ctx, 1, "carol", client.Config{})
	members = append(members, participant{carol, "carol"})
	converge(t, h, members, "carol through the new process")
	before, _, _, _ := h.dbState()
	if err := carol.Update(ctx); err != nil { // validated by the new process
		t.Fatal(err)
	}
	converge(t, h, members, "carol's update")
	if e, _, _, _ := h.dbState(); e != before+1 {
		t.Fatalf("epoch %d after carol's update, want %d", e, before+1)
	}
	for _, p := range members[1:] {
		if !bytes.Equal(p.c.EpochAuthenticator(), alice.EpochAuthenticator()) {
			t.Fatalf("%s disagrees with alice", p.sub)
		}
	}
}

// TestReconnect: a participant whose connection drops comes back (a new client, new keys)
// before the disconnect timeout. The server removes the old leaf and adds the new
// connection in one commit, using only the new connection's KeyPackages.
func TestReconnect(t *testing.T) {
	h := newHarness(t, harnessOpts{cfg: func(c *keyservice.Config) { c.DisconnectTimeout = time.Minute }})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := h.joined(ctx, 0, "alice", client.Config{})
	bob := h.joined(ctx, 0, "bob", client.Config{})
	converge(t, h, []participant{{alice, "alice"}, {bob, "bob"}}, "alice and bob")
	_ = bob.Close() // dropped, not a goodbye: bob keeps his leaf for now
	bob2 := h.joined(ctx, 0, "bob", client.Config{})
	converge(t, h, []participant{{alice, "alice"}, {bob2, "bob"}}, "bob back")
	if !bytes.Equal(alice.EpochAuthenticator(), bob2.EpochAuthenticator()) {
		t.Fatal("alice and bob's new client disagree")
	}
}
