package loadtest

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

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

// sink is what one subscriber received of packets sent inside the window:
// distinct packets of the streams it is expected to receive, and their
// forwarding delays.
type sink struct {
	clk *clock
	reg registry

	mu           sync.Mutex
	received     uint64
	unattributed uint64 // packets before the first frame start of their track
	hist         histogram
}

func newSink(clk *clock, reg registry) *sink { return &sink{clk: clk, reg: reg} }

// track is the receive state of one incoming RTP stream of a subscriber
// (one SSRC). It belongs to the goroutine reading that stream.
//
// The SFU rewrites SSRC, sequence numbers and timestamps, so a packet is
// identified as the publisher sent it this way: the first packet of every
// frame carries the SFrame header in the clear, whose KID names the
// publisher and whose CTR names the frame, and the publisher logged which
// stream and which packet index began that frame. Within one source the
// SFU shifts sequence numbers by a constant (RFC 3550 §8.2 rewriting, see
// media/rewrite.go), so the offset learnt on a frame start maps every
// following packet back to its index.
type track struct {
	video  bool
	stream *streamLog
	offset uint16
	last   uint32
	seen   map[*streamLog][]uint64
}

func newTrack(video bool) *track { return &track{video: video, seen: map[*streamLog][]uint64{}} }

// rtpPayload returns the sequence number and payload of an RTP packet
// (RFC 3550 §5.1: CSRCs, header extension and padding skipped).
func rtpPayload(pkt []byte) (seq uint16, payload []byte, ok bool) {
	if len(pkt) < rtpHeaderLen || pkt[0]>>6 != 2 {
		return 0, nil, false
	}
	off := rtpHeaderLen + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 {
		if len(pkt) < off+4 {
			return 0, nil, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(pkt[off+2:]))
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 {
		end -= int(pkt[end-1])
	}
	if off >= end {
		return 0, nil, false
	}
	return binary.BigEndian.Uint16(pkt[2:]), pkt[off:end], true
}

// record accounts one received RTP packet of track t, received at now.
func (s *sink) record(t *track, pkt []byte, now int64) {
	seq, payload, ok := rtpPayload(pkt)
	if !ok {
		return
	}
	if kid, ctr, ok := frameHeader(t.video, payload); ok {
		if pl := s.reg[kid]; pl != nil {
			if st, first, ok := pl.frame(ctr); ok {
				t.stream, t.offset, t.last = st, seq-uint16(first), first
			}
		}
	}
	if t.stream == nil {
		s.mu.Lock()
		s.unattributed++
		s.mu.Unlock()
		return
	}
	up := seq - t.offset
	d := int64(int16(up - uint16(t.last)))
	idx64 := int64(t.last) + d
	if idx64 < 0 || idx64 > 1<<31 {
		return
	}
	idx := uint32(idx64)
	if d > 0 {
		t.last = idx
	}
	sent, ok := t.stream.sentAt(idx)
	if !ok || !t.stream.counted || !s.clk.inWindow(sent) {
		return
	}
	bitsOf := t.seen[t.stream]
	w := int(idx / 64)
	if w >= len(bitsOf) {
		bitsOf = append(bitsOf, make([]uint64, w+64-len(bitsOf))...)
		t.seen[t.stream] = bitsOf
	}
	if bitsOf[w]&(1<<(idx%64)) != 0 {
		return // retransmission or duplicate
	}
	bitsOf[w] |= 1 << (idx % 64)
	s.mu.Lock()
	s.received++
	s.hist.add(now - sent)
	s.mu.Unlock()
}

// histogram counts durations in buckets of at most 1/64 relative width
// (exact below 128 ns), enough for percentiles and cheap to merge.
type histogram struct {
	n      uint64
	counts [histBuckets]uint64
}

const (
	histSub     = 64
	histBuckets = 2 * histSub * 40
)

func histIndex(v int64) int {
	if v < 2*histSub {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - 7 // v>>e in [64, 128)
	return min(2*histSub+(e-1)*histSub+int(v>>e)-histSub, histBuckets-1)
}

// histLow is the smallest value of bucket i.
func histLow(i int) int64 {
	if i < 2*histSub {
		return int64(i)
	}
	i -= 2 * histSub
	e := i/histSub + 1
	return int64(i%histSub+histSub) << e
}

func (h *histogram) add(v int64) {
	h.counts[histIndex(v)]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile is the middle of the bucket holding the q-quantile.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n-1))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			lo := histLow(i)
			hi := lo + 1
			if i+1 < histBuckets {
				hi = histLow(i + 1)
			}
			return time.Duration((lo + hi) / 2)
		}
	}
	return 0
}

// summarize merges the sinks into the received count and delay percentiles.
func summarize(sinks []*sink) (received, unattributed uint64, p50, p99 time.Duration) {
	var all histogram
	for _, s := range sinks {
		s.mu.Lock()
		received += s.received
		unattributed += s.unattributed
		all.merge(&s.hist)
		s.mu.Unlock()
	}
	return received, unattributed, all.quantile(0.50), all.quantile(0.99)
}
