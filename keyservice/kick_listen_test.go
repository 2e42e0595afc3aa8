package keyservice_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/client"
)

// TestKick: only a host may remove a participant; the kicked member is removed from the
// group and cannot follow it, its connection ends and its token cannot bring it back;
// both outcomes are audited.
func TestKick(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	host := h.joined(ctx, 0, "hana", client.Config{Token: h.token("hana", "host")})
	bobToken := h.token("bob", "participant")
	bob := h.dial(0, "bob", client.Config{Token: bobToken})
	carol := h.dial(0, "carol", client.Config{})
	for _, c := range []*client.Client{bob, carol} {
		if err := c.WaitJoined(ctx); err != nil {
			t.Fatal(err)
		}
	}
	converge(t, h, []participant{{host, "hana"}, {bob, "bob"}, {carol, "carol"}}, "three members")
	var se *client.ServerError
	if err := carol.Kick(ctx, "bob"); !errors.As(err, &se) || se.Code != "forbidden" {
		t.Fatalf("kick by a participant: %v", err)
	}
	if err := host.Kick(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	converge(t, h, []participant{{host, "hana"}, {carol, "carol"}}, "bob kicked")
	select {
	case <-bob.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the server kept the removed participant's connection open")
	}
	if c, err := client.Dial(ctx, client.Config{URL: h.procs[0].ts.URL, Token: bobToken}); err == nil {
		_ = c.Close()
		t.Fatal("the removed participant's token let it back in")
	}
	rec := h.procs[0].audit
	if got := rec.denied(audit.ActionRoomKick); len(got) != 1 || got[0] != "forbidden" {
		t.Fatalf("denied kicks audited: %v", got)
	}
}

// TestListenerReconnect: the process's LISTEN connection is killed; events committed
// meanwhile are read back from the queue once it reconnects, so members still converge.
func TestListenerReconnect(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := h.joined(ctx, 0, "alice", client.Config{})
	bob := h.joined(ctx, 0, "bob", client.Config{})
	converge(t, h, []participant{{alice, "alice"}, {bob, "bob"}}, "alice and bob")
	var killed int
	if err := h.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&killed); err != nil || killed == 0 {
		t.Fatalf("no listener to kill: %d, %v", killed, err)
	}
	carol := h.joined(ctx, 0, "carol", client.Config{})
	converge(t, h, []participant{{alice, "alice"}, {bob, "bob"}, {carol, "carol"}}, "carol after the listener came back")
}
