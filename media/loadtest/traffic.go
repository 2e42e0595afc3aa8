package loadtest

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Load payload: a VP8 clear prefix the SFU can read (descriptor with S=1,
// then the payload header's first byte, keyframe bit) followed by the
// measurement fields, then filler. The SFU forwards it blindly.
const (
	payloadHeaderLen = 20
	loadMagic        = "SRLT"
)

func fillPayload(p []byte, key bool, pub uint16, seq uint32, sendNanos int64) {
	p[0] = 0x10
	p[1] = 0x01
	if key {
		p[1] = 0x00
	}
	copy(p[2:6], loadMagic)
	binary.BigEndian.PutUint16(p[6:], pub)
	binary.BigEndian.PutUint32(p[8:], seq)
	binary.BigEndian.PutUint64(p[12:], uint64(sendNanos))
}

// clock is the run's shared time base and measurement window.
type clock struct {
	epoch  time.Time
	t0, t1 atomic.Int64 // window [t0, t1) in nanos since epoch; t1 0 = open
}

func (c *clock) now() int64 { return int64(time.Since(c.epoch)) }

func (c *clock) inWindow(n int64) bool {
	t0, t1 := c.t0.Load(), c.t1.Load()
	return t0 != 0 && n >= t0 && (t1 == 0 || n < t1)
}

// sink counts what one subscriber received inside the window.
type sink struct {
	clk *clock

	mu       sync.Mutex
	seen     map[uint16][]bool
	received uint64
	delays   []int64
}

func newSink(clk *clock) *sink { return &sink{clk: clk, seen: map[uint16][]bool{}} }

func (s *sink) record(p []byte) {
	if len(p) < payloadHeaderLen || string(p[2:6]) != loadMagic {
		return
	}
	now := s.clk.now()
	pub := binary.BigEndian.Uint16(p[6:])
	seq := binary.BigEndian.Uint32(p[8:])
	sent := int64(binary.BigEndian.Uint64(p[12:]))
	if !s.clk.inWindow(sent) || seq > 1<<22 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	bits := s.seen[pub]
	if int(seq) >= len(bits) {
		bits = append(bits, make([]bool, int(seq)+1024-len(bits))...)
		s.seen[pub] = bits
	}
	if bits[seq] {
		return // retransmission or duplicate
	}
	bits[seq] = true
	s.received++
	s.delays = append(s.delays, now-sent)
}

// summarize merges the sinks into received count and delay percentiles.
func summarize(sinks []*sink) (received uint64, p50, p99 time.Duration) {
	var all []int64
	for _, s := range sinks {
		s.mu.Lock()
		received += s.received
		all = append(all, s.delays...)
		s.mu.Unlock()
	}
	if len(all) == 0 {
		return received, 0, 0
	}
	slices.Sort(all)
	pct := func(q float64) time.Duration { return time.Duration(all[int(q*float64(len(all)-1))]) }
	return received, pct(0.50), pct(0.99)
}

// pacer sends one publisher's packets at rate until stop, counting those
// stamped inside the window.
func pacer(clk *clock, pub uint16, rate, size int, stop <-chan struct{}, sent *atomic.Uint64,
	send func(payload []byte, seq uint32, ts uint32) error) {
	p := make([]byte, size)
	interval := time.Second / time.Duration(rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for seq := uint32(0); ; seq++ {
		now := clk.now()
		fillPayload(p, seq%30 == 0, pub, seq, now)
		if send(p, seq, seq*uint32(90000/rate)) == nil && clk.inWindow(now) {
			sent.Add(1)
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}
