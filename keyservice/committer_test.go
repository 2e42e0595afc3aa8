package keyservice_test

import (
	"context"
	"testing"
	"time"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/keyservice"
)

// TestCommitterFallback: the designated committer (the lowest leaf) stays silent; after
// CommitTimeout the server asks the next member, which commits the pending Add.
func TestCommitterFallback(t *testing.T) {
	h := newHarness(t, harnessOpts{cfg: func(c *keyservice.Config) { c.CommitTimeout = 300 * time.Millisecond }})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := h.raw(t, 0, "alice", "participant")
	alice.create()
	bob := h.dial(0, "bob", client.Config{})
	alice.apply(alice.nextHandshake())
	alice.take("commit_needed")
	c, _ := alice.commit()
	if code := alice.request("commit", c); code != "" {
		t.Fatalf("alice adds bob: %s", code)
	}
	if err := alice.group.MergeCommit(); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitJoined(ctx); err != nil {
		t.Fatal(err)
	}

	// Carol arrives; alice, asked first, never commits.
	carol := h.dial(0, "carol", client.Config{})
	alice.take("commit_needed")
	if err := carol.WaitJoined(ctx); err != nil {
		t.Fatal(err)
	}
	rec := h.procs[0].audit
	rec.mu.Lock()
	defer rec.mu.Unlock()
	last := ""
	for _, ev := range rec.evs {
		if ev.Action == audit.ActionCommitAccepted {
			last = ev.Actor
		}
	}
	if last != "bob" {
		t.Fatalf("carol's Add was committed by %q, want bob", last)
	}
}
