package keyservice_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/server/servertest/poll"
)

// TestCommitRace has two members, on two server processes sharing one database, commit
// at the same epoch. The room lock is held while both commits arrive, so they truly
// collide: exactly one is accepted, the other is told stale_epoch, rebases on the winner
// and is accepted in the next epoch.
func TestCommitRace(t *testing.T) {
	h := newHarness(t, harnessOpts{procs: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := h.joined(ctx, 0, "alice", client.Config{})
	bob := h.joined(ctx, 1, "bob", client.Config{})
	converge(t, h, []participant{{alice, "alice"}, {bob, "bob"}}, "two members")
	start, _, _, _ := h.dbState()

	lock, err := h.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 7200))`, h.room); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []*client.Client{alice, bob} {
		wg.Go(func() { errs[i] = c.Update(ctx) })
	}
	poll.Until(t, 10*time.Second, "both commits waiting for the room", func() bool {
		var n int
		_ = h.pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&n)
		return n >= 2
	})
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 7200))`, h.room); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	converge(t, h, []participant{{alice, "alice"}, {bob, "bob"}}, "after the race")
	if e, _, _, _ := h.dbState(); e != start+2 {
		t.Fatalf("epoch %d, want %d", e, start+2)
	}
	if !bytes.Equal(alice.EpochAuthenticator(), bob.EpochAuthenticator()) {
		t.Fatal("members disagree after the race")
	}
	accepted, stale := 0, 0
	for _, p := range h.procs {
		p.audit.mu.Lock()
		for _, ev := range p.audit.evs {
			if ev.Details["epoch"] != itoa(int(start)) {
				continue
			}
			switch {
			case ev.Action == audit.ActionCommitAccepted:
				accepted++
			case ev.Action == audit.ActionCommitRejected && ev.Details["reason"] == "stale_epoch":
				stale++
			}
		}
		p.audit.mu.Unlock()
	}
	if accepted != 1 || stale != 1 {
		t.Fatalf("epoch %d: %d commits accepted, %d told to rebase; want 1 and 1", start, accepted, stale)
	}
}
