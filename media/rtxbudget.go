package media

import "sync"

// rtxShare is the part of a subscriber's bandwidth estimate that retransmissions may
// take, on top of the media the controller allots from it. Retransmissions answer the
// subscriber's NACKs, which come in numbers when its link is congested: unbounded, they
// were the congestion (a patient's downlink held at 60 kbit/s drew about 250 kbit/s of
// them in TestBrowserSimulcastUnderLimit, more loss, more NACKs), and they delayed the
// estimate's own recovery. A fifth repairs the occasional loss of an uncongested link
// at once; under congestion the estimate falls, and the repairs with it.
const rtxShare = 0.2

// rtxBurstMin is the least a budget holds: two full packets, so that a lost packet is
// resent at once even on the slowest link.
const rtxBurstMin = 2 * 1200 * 8

// rtxBurstFor is how much of its rate a budget may save: a NACK names the packets lost
// over about a round trip, and they go back together.
const rtxBurstFor = 0.3 // seconds

// rtxBudget is a token bucket of bits whose rate follows the subscriber's estimate. It
// is taken from the downtracks' NACK handling, which may run on several goroutines.
type rtxBudget struct {
	mu   sync.Mutex
	bits float64
	last int64
	init bool
}

// allow takes a packet of size bytes from the budget, refilled at rate bits/s since the
// last call; it reports whether there was enough.
func (b *rtxBudget) allow(size int, rate float64, now int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	burst := max(rate*rtxBurstFor, rtxBurstMin)
	switch {
	case !b.init:
		b.bits, b.init = burst, true
	case now > b.last:
		b.bits = min(burst, b.bits+rate*float64(now-b.last)/1e9)
	}
	b.last = max(b.last, now)
	need := float64(size * 8)
	if b.bits < need {
		return false
	}
	b.bits -= need
	return true
}
