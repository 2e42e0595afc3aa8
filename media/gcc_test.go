package media

import (
	"testing"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// link simulates one subscriber's path: a FIFO bottleneck of capacity
// bits/s after a fixed one-way delay, losing every lossEvery-th packet.
// Feedback is built by pion's TWCC recorder (what a pion or, in format,
// Chrome receiver sends) and sent through marshal and unmarshal.
type link struct {
	capacity  float64
	delay     int64
	lossEvery int

	tw   *twccSender
	bwe  *sendSideBWE
	rec  *twcc.Recorder
	busy int64 // when the bottleneck drains
	sent int
}

func newLink(t *testing.T, capacity float64, lossEvery int) *link {
	tw := newTWCCSender()
	return &link{capacity: capacity, delay: 20e6, lossEvery: lossEvery, tw: tw,
		bwe: newSendSideBWE(tw, 1_500_000, 30_000, 20_000_000, 0), rec: twcc.NewRecorder(1)}
}

// run sends packets of size bytes at rate bits/s from start to end (nanos)
// and delivers feedback every 100 ms.
func (l *link) run(t *testing.T, rate float64, size int, start, end int64) {
	t.Helper()
	gap := int64(float64(size*8) / rate * 1e9)
	nextFeedback := start + 100e6
	for now := start; now < end; now += gap {
		seq := l.tw.take()
		l.tw.sent(seq, now, size)
		l.sent++
		if l.lossEvery == 0 || l.sent%l.lossEvery != 0 {
			arrive := max(now, l.busy) + int64(float64(size*8)/l.capacity*1e9)
			l.busy = arrive
			l.rec.Record(5, uint16(seq), (arrive+l.delay)/1e3)
		}
		if now >= nextFeedback {
			nextFeedback += 100e6
			for _, pk := range l.rec.BuildFeedbackPacket() {
				b, err := pk.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				pkts, err := rtcp.Unmarshal(b)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range pkts {
					if fb, ok := p.(*rtcp.TransportLayerCC); ok {
						l.bwe.onFeedback(fb, now+2*l.delay)
					}
				}
			}
		}
	}
}

// Sending 3 Mbit/s into a 1 Mbit/s bottleneck builds a queue: the delay-
// based controller sees the over-use and brings the estimate below the
// capacity.
func TestBWEOveruseDecreases(t *testing.T) {
	l := newLink(t, 1_000_000, 0)
	l.run(t, 3_000_000, 1200, 0, 3e9)
	if got := l.bwe.targetBitrate(); got > 1_000_000 || got < 500_000 {
		t.Fatalf("estimate %d over a 1 Mbit/s bottleneck", got)
	}
	t.Logf("estimate %d over a 1 Mbit/s bottleneck", l.bwe.targetBitrate())
}

// Sending 1 Mbit/s over a 10 Mbit/s path: no over-use, so the estimate
// does not fall. (Like pion's controller, and unlike libwebrtc's, it may
// grow past 1.5 times what arrives once above it: the SFU does not probe,
// and a subscriber on a low layer must be able to reach a higher one.)
func TestBWEUncongestedHolds(t *testing.T) {
	l := newLink(t, 10_000_000, 0)
	l.run(t, 1_000_000, 1200, 0, 5e9)
	if got := l.bwe.targetBitrate(); got < 1_400_000 {
		t.Fatalf("estimate %d on an uncongested path at 1 Mbit/s", got)
	}
	// A faster sender on the same path: the estimate follows it up.
	l.run(t, 4_000_000, 1200, 5e9, 15e9)
	if got := l.bwe.targetBitrate(); got < 4_000_000 {
		t.Fatalf("estimate %d after 10 s at 4 Mbit/s on a 10 Mbit/s path", got)
	}
}

// Losing a fifth of the packets: the loss-based controller (§6) halves
// the estimate's growth into a decrease.
func TestBWELossDecreases(t *testing.T) {
	l := newLink(t, 100_000_000, 5)
	l.run(t, 1_000_000, 1200, 0, 3e9)
	if got := l.bwe.targetBitrate(); got >= 1_500_000 {
		t.Fatalf("estimate %d with 20%% loss", got)
	}
}

// Feedback reports each packet's arrival exactly as recorded, across the
// 16-bit wrap of the transport-wide sequence number, and skips packets
// the history no longer holds.
func TestTWCCFeedbackAcks(t *testing.T) {
	tw := newTWCCSender()
	tw.next.Store(65530)
	rec := twcc.NewRecorder(1)
	want := map[uint32]int64{}
	for i := range 20 {
		seq := tw.take()
		tw.sent(seq, int64(i)*1e6, 100+i)
		if i%4 != 3 {
			arrival := int64(i)*1000 + 5000 // µs
			rec.Record(9, uint16(seq), arrival)
			want[seq] = arrival * 1e3
		}
	}
	pkts := rec.BuildFeedbackPacket()
	if len(pkts) != 1 {
		t.Fatalf("%d feedback packets", len(pkts))
	}
	b, _ := pkts[0].Marshal()
	parsed, err := rtcp.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	fb := parsed[0].(*rtcp.TransportLayerCC)
	epoch := int64(-1)
	var got []ack
	if !tw.feedbackAcks(fb, &epoch, func(a ack) { got = append(got, a) }) {
		t.Fatal("feedback refused")
	}
	received := 0
	var first int64
	for i, a := range got {
		seq := uint32(65530) + uint32(i)
		if a.sent != int64(i)*1e6 || a.size != 100+i {
			t.Fatalf("ack %d: %+v", i, a)
		}
		arr, ok := want[seq]
		if a.received != ok {
			t.Fatalf("ack %d (seq %d): received %v", i, seq, a.received)
		}
		if ok {
			if received == 0 {
				first = a.arrival - arr
			} else if a.arrival-arr != first {
				t.Fatalf("ack %d: arrival %d, want offset %d", i, a.arrival-arr, first)
			}
			received++
		}
	}
	if received != len(want) {
		t.Fatalf("%d of %d received packets acknowledged", received, len(want))
	}
	// The history is a ring: an entry overwritten is no longer found.
	tw.sent(65530+twccHistory, 1, 1)
	if _, _, ok := tw.lookup(65530); ok {
		t.Fatal("overwritten entry found")
	}
}

// A subscriber paused to audio only by a passing congestion: the audio's
// feedback alone never lifts the estimate past 1.5 times the audio rate, so
// video could never come back; retry raises it to what video needs, and on
// a path that carries the video it stays there. On a path that
// cannot, the delay-based controller brings it down again.
func TestBWERetryAfterPause(t *testing.T) {
	l := newLink(t, 10_000_000, 0)
	l.run(t, 3_000_000, 1200, 0, 1e9)
	l.capacity = 150_000 // a congestion: the estimate falls under what video needs
	l.run(t, 3_000_000, 1200, 1e9, 4e9)
	l.capacity = 10_000_000
	l.run(t, 64_000, 200, 4e9, 20e9) // audio only, on a free path again
	stuck := l.bwe.targetBitrate()
	if stuck > 400_000 {
		t.Fatalf("estimate %d from audio feedback alone: the retry would not be needed", stuck)
	}
	l.bwe.retry(600_000)
	if got := l.bwe.targetBitrate(); got < 600_000 {
		t.Fatalf("estimate %d after retry(600k)", got)
	}
	l.run(t, 600_000, 1200, 20e9, 25e9) // the video flows and the path carries it
	if got := l.bwe.targetBitrate(); got < 600_000 {
		t.Fatalf("estimate %d after 5 s of 600 kbit/s on a 10 Mbit/s path", got)
	}
	t.Logf("estimate %d stuck on audio feedback, %d after a retry on a free path", stuck, l.bwe.targetBitrate())

	l.capacity = 300_000 // the path cannot carry the video: the retry fails
	l.bwe.retry(1_000_000)
	l.run(t, 1_000_000, 1200, 25e9, 28e9)
	if got := l.bwe.targetBitrate(); got > 400_000 {
		t.Fatalf("estimate %d after a failed retry over a 300 kbit/s path", got)
	}
}
