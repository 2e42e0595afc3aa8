package keyservice_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
)

// epochs tracks the epoch each member has installed keys for.
type epochs struct {
	mu   sync.Mutex
	at   map[string]uint64
	wake chan struct{}
}

func (e *epochs) config() client.Config {
	return client.Config{OnEpoch: func(c *client.Client, epoch uint64) {
		e.mu.Lock()
		e.at[c.Subject()] = epoch
		e.mu.Unlock()
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}}
}

// waitAny blocks until one subject in subs holds keys of epoch >= target.
func (e *epochs) waitAny(b *testing.B, subs []string, target uint64) {
	for {
		e.mu.Lock()
		for _, s := range subs {
			if e.at[s] >= target {
				e.mu.Unlock()
				return
			}
		}
		e.mu.Unlock()
		select {
		case <-e.wake:
		case <-time.After(100 * time.Microsecond):
		}
	}
}

// waitAll blocks until every subject in subs holds keys of epoch >= target.
func (e *epochs) waitAll(b *testing.B, subs []string, target uint64) {
	deadline := time.After(30 * time.Second)
	for {
		e.mu.Lock()
		done := true
		for _, s := range subs {
			if e.at[s] < target {
				done = false
				break
			}
		}
		e.mu.Unlock()
		if done {
			return
		}
		select {
		case <-e.wake:
		case <-time.After(time.Millisecond):
		case <-deadline:
			b.Fatalf("members did not reach epoch %d", target)
		}
	}
}

// BenchmarkLeaveToKeys measures, on loopback with a real Postgres, the time from a
// participant's leave to every remaining member holding the new epoch's SFrame keys:
// the server's Remove proposal, the designated member's commit, the compare-and-set and
// the fan-out. The baseline is one signaling round trip (ping) in the same run.
//
//	go test ./keyservice -run '^$' -bench LeaveToKeys -benchtime 30x
func BenchmarkLeaveToKeys(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) { benchLeave(b, n) })
	}
}

func benchLeave(b *testing.B, n int) {
	h := newHarness(b, harnessOpts{})
	ep := &epochs{at: map[string]uint64{}, wake: make(chan struct{}, 1)}
	ctx := context.Background()
	members := map[string]*client.Client{}
	next := 0
	join := func(k int) {
		var subs []string
		for range k {
			sub := fmt.Sprintf("m%04d", next)
			next++
			members[sub] = h.dial(0, sub, ep.config())
			subs = append(subs, sub)
		}
		for _, s := range subs {
			if err := members[s].WaitJoined(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	settle := func() {
		deadline := time.Now().Add(60 * time.Second)
		for {
			epoch, count, pending, _ := h.dbState()
			if count == len(members) && pending == 0 {
				var subs []string
				for s := range members {
					subs = append(subs, s)
				}
				ep.waitAll(b, subs, epoch)
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("room did not settle: %d of %d members, %d pending", count, len(members), pending)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	join(1)
	for len(members) < n {
		join(min(20, n-len(members)))
	}
	settle()

	var any *client.Client
	var rtts, lat, first []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var leaver string
		for s, c := range members {
			if leaver == "" || s < leaver {
				leaver = s
			}
			any = c
		}
		_ = any
		epoch, _, _, _ := h.dbState()
		lc := members[leaver]
		delete(members, leaver)
		rest := make([]string, 0, len(members))
		for s := range members {
			rest = append(rest, s)
		}
		t0 := time.Now()
		if err := members[rest[0]].Ping(ctx); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(t0))
		b.StartTimer()

		t0 = time.Now()
		go func() { _ = lc.Leave(ctx) }()
		ep.waitAny(b, rest, epoch+1)
		first = append(first, time.Since(t0))
		ep.waitAll(b, rest, epoch+1)
		lat = append(lat, time.Since(t0))

		b.StopTimer()
		_ = lc.Close()
		join(1)
		settle()
		b.StartTimer()
	}
	b.StopTimer()
	p := func(d []time.Duration, q float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(q*float64(len(s))))].Microseconds()) / 1000
	}
	b.ReportMetric(p(lat, 0.5), "p50-ms")
	b.ReportMetric(p(lat, 0.99), "p99-ms")
	b.ReportMetric(p(rtts, 0.5), "ping-p50-ms")
	b.ReportMetric(p(first, 0.5), "first-p50-ms")
	b.ReportMetric(p(lat, 0.5)/max(p(rtts, 0.5), 0.001), "p50/ping")
}
