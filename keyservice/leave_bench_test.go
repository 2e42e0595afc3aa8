package keyservice_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/servertest"
)

// BenchmarkLeaveToNewKeys is the leave-to-new-keys figure: the time from a member's
// Leave to the moment every remaining member holds the SFrame keys of the epoch that
// removed it (the last remaining member's Config.OnEpoch for that epoch). In between:
// the server sees the goodbye, proposes the Remove as external sender, designates the
// committer; the committer commits; Postgres orders the commit (compare-and-set on the
// epoch); the fan-out delivers it; every member processes it and installs the keys.
//
// Everything is real and in one process: the server of `sealroom serve` (servertest)
// with the Delivery Service and the audit log on the test Postgres, at the default
// Delivery Service settings (3 s commit timeout, 30 s disconnect grace, 1 s sweep),
// and real Go clients at their defaults (commit at once, no batching).
//
// The room holds exactly `members` members at every leave: one iteration is one leave
// of a member picked at random (seeded, so runs are comparable), and, untimed, a new
// participant joining in its place and the room settling before the next leave. The
// baseline is the signaling round trip (client.Client.Ping) of members of the same
// room on the same server, sampled between leaves, so p50/ping reads as "this many
// ping round trips".
//
// first_p50_ms is when the first remaining member held the new keys (the server's part
// and the committer's): what follows it is the fan-out and the other members' processing.
//
// One iteration is one leave; the percentiles need enough of them, hence a fixed count
// (make bench runs it so; about half a minute for both sizes on 2 cores):
//
//	go test ./keyservice -run '^$' -bench LeaveToNewKeys -benchtime 100x -timeout 10m
func BenchmarkLeaveToNewKeys(b *testing.B) {
	if testing.Short() {
		b.Skip("starts up to 100 clients and a server on Postgres")
	}
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) { benchLeaveToNewKeys(b, n) })
	}
}

const (
	leaveRoom      = "leave-bench"
	leaveJoinBatch = 10 // members dialled at once while the room fills
	leavePings     = 5  // ping round trips sampled before each leave
	leaveSetupWait = 3 * time.Minute
	leaveStepWait  = time.Minute // bounds one leave, one join and the settling after each
)

func benchLeaveToNewKeys(b *testing.B, n int) {
	url, signer := startLeaveServer(b)
	w := newKeyWatch()
	live := map[string]*client.Client{}
	b.Cleanup(func() {
		for _, c := range live {
			_ = c.Close()
		}
	})
	next := 0
	dial := func() string {
		sub := fmt.Sprintf("p%04d", next)
		next++
		tok, _, err := signer.Mint(auth.Grant{Identity: sub, Name: sub, Room: leaveRoom, Role: auth.RoleParticipant,
			CanPublish: true, CanSubscribe: true}, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, client.Config{URL: url, Token: tok, OnEpoch: w.onEpoch})
		if err != nil {
			b.Fatalf("dial %s: %v", sub, err)
		}
		live[sub] = c
		return sub
	}
	subjects := func() []string {
		subs := make([]string, 0, len(live))
		for s := range live {
			subs = append(subs, s)
		}
		slices.Sort(subs)
		return subs
	}
	settle := func(d time.Duration) uint64 {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		epoch, err := w.waitSettled(ctx, subjects())
		if err != nil {
			b.Fatalf("room of %d did not settle: %v", len(live), err)
		}
		return epoch
	}

	setup := time.Now()
	for len(live) < n {
		for range min(leaveJoinBatch, n-len(live)) {
			dial()
		}
		settle(leaveSetupWait)
	}
	b.Logf("members=%d: room filled in %v", n, time.Since(setup).Round(time.Millisecond))

	rng := rand.New(rand.NewPCG(1, uint64(n)))
	var leaves, firsts, pings []time.Duration
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		subs := subjects()
		epoch := settle(leaveStepWait)
		for range leavePings {
			c := live[subs[rng.IntN(len(subs))]]
			t0 := time.Now()
			if err := c.Ping(ctx); err != nil {
				b.Fatal(err)
			}
			pings = append(pings, time.Since(t0))
		}
		leaver := subs[rng.IntN(len(subs))]
		lc := live[leaver]
		delete(live, leaver)
		w.gone(leaver)
		left := make(chan error, 1)
		wctx, cancel := context.WithTimeout(ctx, leaveStepWait)

		b.StartTimer()
		t0 := time.Now()
		go func() { left <- lc.Leave(wctx) }()
		first, last, err := w.waitInstalled(wctx, epoch+1, n-1)
		b.StopTimer()

		if err != nil {
			b.Fatalf("leave of %s: remaining members did not reach epoch %d: %v", leaver, epoch+1, err)
		}
		leaves = append(leaves, last.Sub(t0))
		firsts = append(firsts, first.Sub(t0))
		if err := <-left; err != nil {
			b.Fatalf("leave of %s: %v", leaver, err)
		}
		cancel()
		_ = lc.Close()

		dial() // the room is back to n members before the next leave
		settle(leaveStepWait)
		b.StartTimer()
	}

	lp50, lp90, lp99 := pctMs(leaves, 0.50), pctMs(leaves, 0.90), pctMs(leaves, 0.99)
	pp50, pp99 := pctMs(pings, 0.50), pctMs(pings, 0.99)
	b.ReportMetric(lp50, "p50_ms")
	b.ReportMetric(lp99, "p99_ms")
	b.ReportMetric(pp50, "ping_ms")
	b.ReportMetric(lp50/pp50, "p50/ping")
	b.ReportMetric(lp99/pp50, "p99/ping")
	b.ReportMetric(pctMs(firsts, 0.5), "first_p50_ms")
	in := func(ms float64) float64 { return ms / pp50 }
	b.Logf("leave to new keys, %d members, %d leaves; ping is the same run's signaling round trip\n"+
		"  %-16s %5s %8s %8s %8s %8s %8s\n"+
		"  %-16s %5d %8.2f %8.2f %8.2f %8.2f %8.2f\n"+
		"  %-16s %5d %8.2f %8.2f %8.2f %8.2f %8.2f\n"+
		"  %-16s %5d %8.3f %8.3f %8.3f %8.3f %8.3f\n"+
		"  %-16s %5s %8.0f %8.0f %8.0f %8.0f %8.0f",
		n, len(leaves),
		"", "n", "min", "p50", "p90", "p99", "max",
		"leave→keys (ms)", len(leaves), pctMs(leaves, 0), lp50, lp90, lp99, pctMs(leaves, 1),
		"  first member", len(firsts), pctMs(firsts, 0), pctMs(firsts, 0.5), pctMs(firsts, 0.9), pctMs(firsts, 0.99), pctMs(firsts, 1),
		"ping (ms)", len(pings), pctMs(pings, 0), pp50, pctMs(pings, 0.9), pp99, pctMs(pings, 1),
		"leave in pings", "", in(pctMs(leaves, 0)), in(lp50), in(lp90), in(lp99), in(pctMs(leaves, 1)))
	if len(leaves) < 100 {
		b.Logf("%d leaves: the p99 (nearest rank) is the slowest one; -benchtime 100x gives a p99 of its own", len(leaves))
	}
}

// startLeaveServer runs the server on a fresh database with the defaults of `sealroom
// serve`, except for the HTTP rate limit per IP: every client here dials from loopback.
func startLeaveServer(b *testing.B) (string, *auth.Signer) {
	migrated := pgtest.Pool(b)
	pcfg, err := pgxpool.ParseConfig(migrated.Config().ConnConfig.ConnString())
	if err != nil {
		b.Fatal(err)
	}
	pcfg.MaxConns = 32 // as openPool in cmd/sealroom
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	st := servertest.Start(b, servertest.Options{Pool: pool, Server: func(cfg *server.Config) {
		cfg.RatePerSecond, cfg.RateBurst = 1e6, 1e6
	}})
	return st.URL, st.Signer
}

// keyWatch follows, through Config.OnEpoch, the epoch whose SFrame keys each member
// has installed. One goroutine waits on it at a time.
type keyWatch struct {
	mu      sync.Mutex
	at      map[string]uint64    // subject -> epoch of its installed keys
	size    map[uint64]int       // epoch -> members of the group in it
	count   map[uint64]int       // epoch -> members that installed its keys
	first   map[uint64]time.Time // epoch -> when the first of them did (the committer)
	last    map[uint64]time.Time // epoch -> when the latest of them did
	left    map[string]bool      // subjects that left: no longer counted
	changed chan struct{}
}

func newKeyWatch() *keyWatch {
	return &keyWatch{at: map[string]uint64{}, size: map[uint64]int{}, count: map[uint64]int{},
		first: map[uint64]time.Time{}, last: map[uint64]time.Time{}, left: map[string]bool{}, changed: make(chan struct{}, 1)}
}

// onEpoch is every member's Config.OnEpoch: it runs once the epoch's keys are installed.
func (w *keyWatch) onEpoch(c *client.Client, epoch uint64) {
	now := time.Now()
	size := len(c.Members())
	w.mu.Lock()
	if !w.left[c.Subject()] {
		w.at[c.Subject()] = epoch
		w.size[epoch] = size
		if w.count[epoch] == 0 {
			w.first[epoch] = now
		}
		w.count[epoch]++
		w.last[epoch] = now
	}
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *keyWatch) gone(sub string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.left[sub] = true
	delete(w.at, sub)
}

// wait blocks until done, called under the lock, reports true.
func (w *keyWatch) wait(ctx context.Context, done func() bool) error {
	for {
		w.mu.Lock()
		ok := done()
		w.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitInstalled waits until want members hold the keys of epoch and returns when the
// first and the last of them installed them.
func (w *keyWatch) waitInstalled(ctx context.Context, epoch uint64, want int) (first, last time.Time, err error) {
	err = w.wait(ctx, func() bool {
		first, last = w.first[epoch], w.last[epoch]
		return w.count[epoch] >= want
	})
	return first, last, err
}

// waitSettled waits until every subject holds the keys of one epoch whose group is
// exactly these subjects (nothing pending: every seat has its leaf) and returns it.
func (w *keyWatch) waitSettled(ctx context.Context, subs []string) (uint64, error) {
	var epoch uint64
	err := w.wait(ctx, func() bool {
		if len(subs) == 0 {
			return false
		}
		e, ok := w.at[subs[0]]
		if !ok || w.size[e] != len(subs) {
			return false
		}
		for _, s := range subs[1:] {
			if got, ok := w.at[s]; !ok || got != e {
				return false
			}
		}
		epoch = e
		return true
	})
	return epoch, err
}

// pctMs is the q-quantile of d by nearest rank (q=0: the minimum), in milliseconds.
func pctMs(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return math.NaN()
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := max(int(math.Ceil(q*float64(len(s))))-1, 0)
	return float64(s[i]) / float64(time.Millisecond)
}
