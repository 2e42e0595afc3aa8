package keyservice_test

import (
	"context"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
)

// TestLosingTheGrantRemoves: a participant whose token expires, or whose access is
// revoked, is logged off by signaling and removed from the group by the server.
func TestLosingTheGrantRemoves(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := h.joined(ctx, 0, "alice", client.Config{})
	bob := h.dial(0, "bob", client.Config{Token: h.tokenTTL("bob", "participant", 2*time.Second)})
	carol := h.dial(0, "carol", client.Config{})
	for _, c := range []*client.Client{bob, carol} {
		if err := c.WaitJoined(ctx); err != nil {
			t.Fatal(err)
		}
	}
	converge(t, h, []participant{{alice, "alice"}, {bob, "bob"}, {carol, "carol"}}, "three members")
	waitDone(t, bob) // token expired
	converge(t, h, []participant{{alice, "alice"}, {carol, "carol"}}, "bob's token expired")
	if err := h.procs[0].rev.RevokeSubject(ctx, "carol", "admin"); err != nil {
		t.Fatal(err)
	}
	waitDone(t, carol)
	converge(t, h, []participant{{alice, "alice"}}, "carol revoked")
}

func waitDone(t *testing.T, c *client.Client) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s is still connected", c.Subject())
	}
}
