// Package poll is the tests' one way to wait for a condition another goroutine or
// process makes true: it checks the condition until it holds or a deadline passes. It
// waits for an observable event, never for a guessed delay; the interval only bounds
// how soon the event is seen. It imports nothing of sealroom, so any package's tests
// can use it.
package poll

import (
	"testing"
	"time"
)

// Poller checks conditions every Interval.
type Poller struct{ Interval time.Duration }

// Every returns a Poller for conditions that are costly to check (a browser round
// trip, say) and so are checked less often than the default.
func Every(interval time.Duration) Poller { return Poller{Interval: interval} }

var def = Poller{Interval: 10 * time.Millisecond}

// Until checks cond every 10 ms until it holds, and fails the test when d passes first.
func Until(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	def.UntilOr(tb, d, what, cond, nil)
}

// UntilOr is Until that, on a timeout, adds what diag returns to the failure.
func UntilOr(tb testing.TB, d time.Duration, what string, cond func() bool, diag func() any) {
	tb.Helper()
	def.UntilOr(tb, d, what, cond, diag)
}

// Until checks cond until it holds, and fails the test when d passes first.
func (p Poller) Until(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	p.UntilOr(tb, d, what, cond, nil)
}

// UntilOr is Until that, on a timeout, adds what diag returns to the failure.
func (p Poller) UntilOr(tb testing.TB, d time.Duration, what string, cond func() bool, diag func() any) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			if diag != nil {
				tb.Fatalf("timed out after %v waiting for %s: %v", d, what, diag())
			}
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(p.Interval)
	}
}

// Within checks cond until it holds or d passes, and reports whether it held: for a
// condition the test reports on rather than requires.
func (p Poller) Within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(p.Interval)
	}
	return true
}
