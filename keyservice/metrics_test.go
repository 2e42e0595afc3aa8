package keyservice_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/server/servertest/poll"
)

// value is the counter name{code="…"} (code "" for none) or, for a histogram,
// its sample count, in what reg gathers.
func value(t *testing.T, reg *prometheus.Registry, name, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if code != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != code) {
				continue
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// Accepted and refused commits are counted, refusals by code; the epoch commit
// latency is observed for the commits the Delivery Service asked for, and only
// for those.
func TestCommitMetrics(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h.procs[0].svc.Collector())

	alice := h.raw(t, 0, "alice", "participant")
	alice.create()
	own, _ := alice.commit() // alice's own update: nobody asked for it
	if got := alice.request("commit", own); got != "" {
		t.Fatalf("commit: %q", got)
	}
	if err := alice.group.MergeCommit(); err != nil {
		t.Fatal(err)
	}
	if got := alice.request("commit", own); got != "replayed_commit" {
		t.Fatalf("the same commit again: %q", got)
	}
	if got := alice.requestRaw("commit", `"x"`); got != "bad_message" {
		t.Fatalf("not a commit: %q", got)
	}
	for _, c := range []struct {
		name, code string
		want       float64
	}{
		{"sealroom_ds_commits_accepted_total", "", 1},
		{"sealroom_ds_commits_rejected_total", "replayed_commit", 1},
		{"sealroom_ds_commits_rejected_total", "bad_message", 1},
		{"sealroom_ds_epoch_commit_latency_seconds", "", 0},
	} {
		if got := value(t, reg, c.name, c.code); got != c.want {
			t.Errorf("%s{code=%q} = %v, want %v", c.name, c.code, got, c.want)
		}
	}

	// In another room, bob's join makes the server propose his Add and ask carol
	// to commit it.
	h.room = "room-2"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h.joined(ctx, 0, "carol", client.Config{})
	h.joined(ctx, 0, "bob", client.Config{})
	poll.Until(t, 10*time.Second, "the asked-for commit observed", func() bool {
		return value(t, reg, "sealroom_ds_epoch_commit_latency_seconds", "") >= 1
	})
	if got := value(t, reg, "sealroom_ds_commits_accepted_total", ""); got < 2 {
		t.Fatalf("accepted %v after bob's Add, want at least 2", got)
	}
}
