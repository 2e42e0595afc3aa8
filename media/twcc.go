package media

import (
	"sync/atomic"

	"github.com/pion/rtcp"
)

// twccSender numbers every RTP packet sent to one subscriber with a
// transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-
// extensions-01 §2: one counter per transport, for all its streams, carried
// in a header extension) and remembers when each left, so that the
// subscriber's feedback (§3.1) can be turned into per-packet send and
// arrival times for the bandwidth estimate.
//
// It replaces pion's TWCC header-extension interceptor and the history of
// its congestion-control interceptor, which cost an attribute map, a
// linked-list element and a map insert per packet and remember only the
// last 250 packets, fewer than a subscriber of a large room receives
// between two feedback messages. Here a packet costs one atomic add and
// three atomic stores into a fixed ring, from any goroutine.
type twccSender struct {
	next atomic.Uint32 // next transport-wide sequence number, unwrapped
	ring []sentPacket  // twccHistory slots
}

// twccHistory is how many packets are remembered: more than a second of a
// subscriber receiving 25 publishers of 280 packets/s, ten feedback
// intervals of Chrome's or pion's (100 ms).
const twccHistory = 1 << 13

// sentPacket is one ring slot. meta is the unwrapped sequence number + 1
// (0: empty) in the high half and the size in the low half, written last,
// so a reader that sees the same meta before and after reading the send
// time saw a whole entry.
type sentPacket struct {
	meta  atomic.Uint64
	nanos atomic.Int64
}

func newTWCCSender() *twccSender { return &twccSender{ring: make([]sentPacket, twccHistory)} }

// take returns the next transport-wide sequence number.
func (t *twccSender) take() uint32 { return t.next.Add(1) - 1 }

// sent records that packet seq of size bytes left at nanos.
func (t *twccSender) sent(seq uint32, nanos int64, size int) {
	s := &t.ring[seq%twccHistory]
	s.meta.Store(0)
	s.nanos.Store(nanos)
	s.meta.Store(uint64(seq+1)<<32 | uint64(uint32(size)))
}

// lookup returns the send time and size of packet seq.
func (t *twccSender) lookup(seq uint32) (nanos int64, size int, ok bool) {
	s := &t.ring[seq%twccHistory]
	m := s.meta.Load()
	if uint32(m>>32) != seq+1 {
		return 0, 0, false
	}
	nanos = s.nanos.Load()
	return nanos, int(uint32(m)), s.meta.Load() == m
}

// unwrap maps a 16-bit sequence number from feedback onto the most recent
// sequence number sent that ends with those 16 bits.
func (t *twccSender) unwrap(seq16 uint16) uint32 {
	cur := t.next.Load()
	return cur - uint32(uint16(uint16(cur)-seq16))
}

// ack is one packet's fate as a feedback message reports it.
type ack struct {
	sent            int64 // local nanos
	size            int
	arrival         int64 // remote nanos, valid when received && timed
	received, timed bool
}

// feedbackAcks calls fn for each packet a transport-wide feedback message
// (§3.1) reports on, in sequence order, skipping packets the history no
// longer holds. refEpoch keeps the 24-bit reference time (§3.1: multiples
// of 64 ms) continuous across wraps; it is updated. It reports false for a
// message whose receive deltas run out before its statuses.
func (t *twccSender) feedbackAcks(fb *rtcp.TransportLayerCC, refEpoch *int64, fn func(ack)) bool {
	ref := int64(fb.ReferenceTime & 0xffffff)
	if *refEpoch >= 0 {
		// The epoch nearest to the previous message's.
		ref = *refEpoch + (ref-*refEpoch+(1<<23))&0xffffff - (1 << 23)
	}
	if fb.PacketStatusCount > 0 {
		*refEpoch = ref
	}
	arrival := ref * 64e6
	deltas := fb.RecvDeltas
	seq := t.unwrap(fb.BaseSequenceNumber)
	remaining := int(fb.PacketStatusCount)
	ok := true
	visit := func(symbol uint16) {
		a := ack{}
		switch symbol {
		case rtcp.TypeTCCPacketReceivedSmallDelta, rtcp.TypeTCCPacketReceivedLargeDelta:
			if len(deltas) == 0 {
				ok = false
				return
			}
			arrival += deltas[0].Delta * 1e3 // microseconds
			deltas = deltas[1:]
			a.received, a.timed, a.arrival = true, true, arrival
		case rtcp.TypeTCCPacketReceivedWithoutDelta:
			a.received = true
		}
		s := seq
		seq++
		var found bool
		if a.sent, a.size, found = t.lookup(s); found {
			fn(a)
		}
	}
	for _, chunk := range fb.PacketChunks {
		if remaining <= 0 || !ok {
			break
		}
		switch c := chunk.(type) {
		case *rtcp.RunLengthChunk:
			n := min(int(c.RunLength), remaining)
			for range n {
				if visit(c.PacketStatusSymbol); !ok {
					break
				}
			}
			remaining -= n
		case *rtcp.StatusVectorChunk:
			n := min(len(c.SymbolList), remaining)
			for _, sym := range c.SymbolList[:n] {
				if visit(sym); !ok {
					break
				}
			}
			remaining -= n
		}
	}
	return ok
}
