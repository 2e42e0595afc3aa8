package keyservice_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
)

// epochKey names an epoch of one incarnation of the room's group (the group restarts at
// epoch 0 when its last member leaves).
type epochKey struct {
	gen   int
	epoch uint64
}

type epochValues struct {
	auth, base []byte
	who        string
}

// ledger records what every member held at every epoch and every commit seen.
type ledger struct {
	mu      sync.Mutex
	gen     int
	values  map[epochKey]epochValues
	commits map[epochKey][]byte
	errs    []string
	removed int
}

func newLedger() *ledger {
	return &ledger{values: map[epochKey]epochValues{}, commits: map[epochKey][]byte{}}
}

func baseKey(c *client.Client) []byte {
	k, err := c.Export("SFrame 1.0 Base Key", nil, 16)
	if err != nil {
		return nil
	}
	return k
}

func (l *ledger) config() client.Config {
	return client.Config{
		OnEpoch: func(c *client.Client, epoch uint64) {
			v := epochValues{auth: c.EpochAuthenticator(), base: baseKey(c), who: c.Subject()}
			l.mu.Lock()
			defer l.mu.Unlock()
			k := epochKey{l.gen, epoch}
			if prev, ok := l.values[k]; !ok {
				l.values[k] = v
			} else if !bytes.Equal(prev.auth, v.auth) || !bytes.Equal(prev.base, v.base) {
				l.errs = append(l.errs, fmt.Sprintf("gen %d epoch %d: %s and %s hold different keys", k.gen, k.epoch, prev.who, v.who))
			}
		},
		OnCommit: func(epoch uint64, commit []byte) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.commits[epochKey{l.gen, epoch}] = commit
		},
	}
}

type participant struct {
	c   *client.Client
	sub string
}

// TestChurn50 has 50 participants join and leave in random order, a few at a time, on
// a real Postgres. At every epoch every member holds the same epoch authenticator and
// SFrame base key, and a participant that left cannot process the commit that removed it.
func TestChurn50(t *testing.T) {
	h := newHarness(t, harnessOpts{procs: 2})
	l := newLedger()
	rng := rand.New(rand.NewPCG(7, 9))
	var active []participant
	joined := 0
	for step := 0; joined < 50 || len(active) > 0; step++ {
		ops := 1 + rng.IntN(3)
		var joins int
		var leaving []participant
		for range ops {
			canLeave := len(active)-len(leaving) > 0
			if joined+joins < 50 && (!canLeave || len(active)-len(leaving) < 3 || rng.IntN(3) > 0) {
				joins++
				continue
			}
			if canLeave && (joined+joins >= 50 || len(active)-len(leaving) > 1) {
				i := rng.IntN(len(active))
				p := active[i]
				active = append(active[:i], active[i+1:]...)
				leaving = append(leaving, p)
			}
		}
		if len(active) == 0 && joins == 0 {
			l.mu.Lock()
			l.gen++ // the next join starts a new group
			l.mu.Unlock()
		}
		// Run the step's joins and leaves concurrently, on both server processes.
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failed error
		for j := range joins {
			sub := fmt.Sprintf("user-%02d", joined+j)
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				cfg := l.config()
				cfg.URL = h.procs[rng2(sub)].ts.URL
				cfg.Token = h.token(sub, "participant")
				c, err := client.Dial(ctx, cfg)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = err
					return
				}
				t.Cleanup(func() { _ = c.Close() })
				active = append(active, participant{c: c, sub: sub})
			})
		}
		for _, p := range leaving {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = p.c.Leave(ctx)
			})
		}
		wg.Wait()
		if failed != nil {
			t.Fatalf("step %d: %v", step, failed)
		}
		joined += joins
		if len(active) == 0 {
			l.mu.Lock()
			l.gen++
			l.mu.Unlock()
			continue
		}
		converge(t, h, active, fmt.Sprintf("step %d (%d joins, %d leaves, %d members)", step, joins, len(leaving), len(active)))
		checkSame(t, active)
		checkRemoved(t, h, l, leaving)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.errs {
		t.Error(e)
	}
	if len(l.values) < 50 || l.removed < 25 {
		t.Fatalf("only %d epochs observed, %d removals checked", len(l.values), l.removed)
	}
	t.Logf("%d epochs over %d groups, %d removals checked", len(l.values), l.gen+1, l.removed)
}

// rng2 spreads participants over the two processes deterministically.
func rng2(sub string) int { return int(sub[len(sub)-1]) % 2 }

// converge waits until the stored group and every active client agree on the epoch,
// with every active participant a member and no server proposal pending.
func converge(t *testing.T, h *harness, active []participant, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		epoch, members, pending, ok := h.dbState()
		done := ok && members == len(active) && pending == 0
		for _, p := range active {
			if e, in := p.c.Epoch(); !in || e != epoch {
				done = false
				break
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			var states []string
			for _, p := range active {
				e, in := p.c.Epoch()
				states = append(states, fmt.Sprintf("%s:%d/%v", p.sub, e, in))
			}
			t.Fatalf("%s: no convergence: db epoch %d members %d pending %d ok %v; clients %v", what, epoch, members, pending, ok, states)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func checkSame(t *testing.T, active []participant) {
	t.Helper()
	a0, b0 := active[0].c.EpochAuthenticator(), baseKey(active[0].c)
	for _, p := range active[1:] {
		if !bytes.Equal(p.c.EpochAuthenticator(), a0) || !bytes.Equal(baseKey(p.c), b0) {
			t.Fatalf("%s and %s disagree on the epoch's keys", active[0].sub, p.sub)
		}
	}
}

// checkRemoved shows that a participant that left cannot follow the commit that removed
// it, and that what it still holds is not the new epoch's base key.
func checkRemoved(t *testing.T, h *harness, l *ledger, leaving []participant) {
	t.Helper()
	for _, p := range leaving {
		old, ok := p.c.Epoch()
		if !ok {
			continue // left before its Welcome arrived
		}
		// The server proposed the Remove in the epoch the participant left in (or the
		// next, if a commit was being accepted at that moment), after it stopped
		// listening: replay the room's history to it, server proposals first, until the
		// commit that removes it.
		removedAt := uint64(0)
		for e := old + 1; ; e++ {
			l.mu.Lock()
			commit := l.commits[epochKey{l.gen, e}]
			l.mu.Unlock()
			if commit == nil {
				t.Fatalf("%s: no commit removed it (history ends at epoch %d)", p.sub, e-1)
			}
			for _, prop := range h.proposalsOf(e - 1) {
				_ = p.c.Apply(prop) // an earlier group's proposal of the same epoch number does not apply
			}
			err := p.c.Apply(commit)
			if errors.Is(err, client.ErrRemoved) {
				removedAt = e
				break
			}
			if err != nil {
				t.Fatalf("%s: applying the commit of epoch %d: %v", p.sub, e, err)
			}
		}
		old, _ = p.c.Epoch()
		l.mu.Lock()
		l.removed++
		next := l.values[epochKey{l.gen, removedAt}]
		l.mu.Unlock()
		if bytes.Equal(baseKey(p.c), next.base) {
			t.Fatalf("%s derived the base key of epoch %d after leaving", p.sub, removedAt)
		}
		if e, _ := p.c.Epoch(); e != old {
			t.Fatalf("%s moved to epoch %d after leaving", p.sub, e)
		}
	}
}
