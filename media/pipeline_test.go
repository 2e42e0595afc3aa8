package media

import (
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// captureWriter stands in for pion's SRTP write stream: it keeps the last
// header and payload so tests can check what the SFU would send.
type captureWriter struct {
	n       int
	hdr     rtp.Header
	payload []byte
}

func (w *captureWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	w.n++
	w.hdr = *h
	w.payload = p
	return len(p), nil
}
func (w *captureWriter) Write(b []byte) (int, error) { return len(b), nil }

var _ webrtc.TrackLocalWriter = (*captureWriter)(nil)

// newPipeline builds one VP8 publication with nSubs bound downtracks,
// without a network, to exercise the forwarding path alone.
func newPipeline(tb testing.TB, nSubs int) (*publication, *layer, []*captureWriter) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	s := &SFU{cfg: Config{PLIMinInterval: time.Hour}, epoch: time.Now()}
	s.conn = newGuardConn(conn, &s.global)
	pubP := &Participant{sfu: s, id: "pub"}
	pub := &publication{id: "pub:0", publisher: pubP, kind: webrtc.RTPCodecTypeVideo,
		codecCap: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, codec: CodecVP8}
	empty := []*downtrack{}
	pub.downtracks.Store(&empty)
	l := &layer{pub: pub, ssrc: 1234}
	pub.layers = []*layer{l}
	l.lastPLI.Store(1) // no PLI: there is no PeerConnection
	var ws []*captureWriter
	for i := range nSubs {
		sub := &Participant{sfu: s, id: "sub"}
		sub.estimate.Store(20_000_000) // retransmissions have their share of it (rtxBudget)
		dt := newDowntrack(pub, sub)
		w := &captureWriter{}
		dt.writer, dt.ssrc, dt.pt = w, uint32(100+i), 97
		pub.addDowntrack(dt)
		ws = append(ws, w)
	}
	return pub, l, ws
}

func rawRTP(seq uint16, ts uint32, payload []byte) []byte {
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: 1234}
	b, _ := h.Marshal()
	return append(b, payload...)
}

func TestForwardPacketRewritesHeaderOnly(t *testing.T) {
	pub, l, ws := newPipeline(t, 2)
	var h rtp.Header
	// A delta frame before any keyframe is held back.
	pub.forwardPacket(l, &h, rawRTP(10, 900, testPayload(CodecVP8, false, 1, "t")), 1)
	if ws[0].n != 0 {
		t.Fatal("video forwarded before a keyframe")
	}
	key := testPayload(CodecVP8, true, 2, "t")
	pub.forwardPacket(l, &h, rawRTP(11, 3900, key), 2)
	for i, w := range ws {
		if w.n != 1 || !bytes.Equal(w.payload, key) {
			t.Fatalf("sub %d: n=%d payload %x", i, w.n, w.payload)
		}
		if w.hdr.SSRC != uint32(100+i) || w.hdr.PayloadType != 97 || len(w.hdr.Extensions) != 0 {
			t.Fatalf("sub %d header %+v", i, w.hdr)
		}
	}
	// Padding (RFC 3550 §5.1) is stripped, padding-only is not forwarded,
	// malformed packets are counted.
	padded := rawRTP(12, 6900, append(testPayload(CodecVP8, false, 3, "t"), 0, 0, 3))
	padded[0] |= 0x20
	pub.forwardPacket(l, &h, padded, 3)
	if !bytes.Equal(ws[0].payload, testPayload(CodecVP8, false, 3, "t")) {
		t.Fatalf("padding not stripped: %x", ws[0].payload)
	}
	bad := rawRTP(13, 0, []byte{1})
	bad[0] |= 0x20
	bad[len(bad)-1] = 200
	pub.forwardPacket(l, &h, bad, 4)
	pub.forwardPacket(l, &h, []byte{0x80, 0x60}, 5)
	if got := pub.publisher.counters.malformed.Load(); got != 2 {
		t.Fatalf("malformed counted %d, want 2", got)
	}
}

// FuzzForwardPacket: arbitrary bytes from a publisher's track never panic
// the forwarding path, and whatever is forwarded is exactly the bytes
// after the RTP header and before the padding.
func FuzzForwardPacket(f *testing.F) {
	seeds := [][]byte{
		rawRTP(1, 1, testPayload(CodecVP8, true, 1, "s")),
		rawRTP(2, 2, testPayload(CodecVP8, false, 2, "s")),
		{0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 4, 0xd2, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0, 0x10, 0x00},
		{0xa0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 4, 0xd2, 0x10, 0x00, 2},
		{0x8f, 0x60},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	pub, l, ws := newPipeline(f, 1)
	var h rtp.Header
	nanos := int64(0)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		nanos++
		before := ws[0].n
		pub.forwardPacket(l, &h, pkt, nanos)
		if ws[0].n == before {
			return
		}
		var ref rtp.Packet
		if err := ref.Unmarshal(pkt); err != nil {
			t.Fatalf("forwarded a packet pion cannot parse: %v", err)
		}
		if !bytes.Equal(ws[0].payload, ref.Payload) {
			t.Fatalf("forwarded payload %x, packet payload %x", ws[0].payload, ref.Payload)
		}
	})
}

// BenchmarkForward measures sealroom's forwarding path for one packet to
// 20 subscribers: parse, keyframe check, 20 header rewrites and writes
// (to a stub writer: pion's SRTP and the socket are measured by the load
// harness; the RTCP bookkeeping by BenchmarkForwardPath). It must not
// allocate. The baseline is a bare copy of the packet to 20 buffers,
// measured in the same run.
func BenchmarkForward(b *testing.B) {
	payload := testPayload(CodecVP8, false, 1, "bench")
	payload = append(payload, make([]byte, 1000)...)
	b.Run("sfu-20-subscribers", func(b *testing.B) {
		pub, l, _ := newPipeline(b, 20)
		var h rtp.Header
		pkt := rawRTP(1, 0, testPayload(CodecVP8, true, 0, "bench"))
		pub.forwardPacket(l, &h, pkt, 1)
		pkt = rawRTP(0, 0, payload)
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for i := 0; b.Loop(); i++ {
			binary.BigEndian.PutUint16(pkt[2:], uint16(i+2))
			pub.forwardPacket(l, &h, pkt, int64(i+2))
		}
	})
	b.Run("baseline-copy-20", func(b *testing.B) {
		pkt := rawRTP(0, 0, payload)
		bufs := make([][]byte, 20)
		for i := range bufs {
			bufs[i] = make([]byte, 1500)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for b.Loop() {
			for _, buf := range bufs {
				copy(buf, pkt)
				binary.BigEndian.PutUint32(buf[8:], 99)
			}
		}
	})
}

func TestRetransmitFromLayerCache(t *testing.T) {
	pub, l, ws := newPipeline(t, 1)
	l.cache = newRTXCache()
	dt := (*pub.downtracks.Load())[0]
	var h rtp.Header
	var sent []rtp.Header
	var payloads [][]byte
	for i := range 5 {
		p := testPayload(CodecVP8, i == 0, uint32(i), "r")
		pub.forwardPacket(l, &h, rawRTP(uint16(60000+i*2000), uint32(i)*3000, p), int64(i+1))
		sent = append(sent, ws[0].hdr)
		payloads = append(payloads, p)
	}
	// Upstream jumped (seq 60000, 62000, ...) only in this synthetic test;
	// what matters is that each outgoing number maps back to its packet.
	for i, want := range sent {
		ws[0].n = 0
		if !dt.retransmit(want.SequenceNumber, 10) {
			t.Fatalf("retransmit %d refused", i)
		}
		if ws[0].hdr.SequenceNumber != want.SequenceNumber || ws[0].hdr.Timestamp != want.Timestamp ||
			!bytes.Equal(ws[0].payload, payloads[i]) {
			t.Fatalf("retransmit %d: got %+v %x", i, ws[0].hdr, ws[0].payload)
		}
	}
	if dt.retransmit(sent[4].SequenceNumber+1, 10) {
		t.Fatal("retransmitted a packet never sent")
	}
	if dt.retransmit(sent[0].SequenceNumber-1, 10) {
		t.Fatal("retransmitted a packet from before the subscription")
	}
	// A subscriber NACKing in a loop gets at most the burst.
	n := 0
	for range 1000 {
		if dt.retransmit(sent[4].SequenceNumber, 20) {
			n++
		}
	}
	if n > 150 {
		t.Fatalf("%d retransmissions of one packet", n)
	}
}

// FuzzSubscriberRTCP: arbitrary RTCP from a subscriber (after pion's
// parser) never panics the SFU's handling, and retransmissions never
// exceed the per-subscriber limit.
func FuzzSubscriberRTCP(f *testing.F) {
	nack, _ := (&rtcp.TransportLayerNack{MediaSSRC: 100, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{1, 2, 40})}).Marshal()
	pli, _ := (&rtcp.PictureLossIndication{MediaSSRC: 100}).Marshal()
	fir, _ := (&rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: 100}}}).Marshal()
	seeds := [][]byte{nack, pli, fir, append(append([]byte{}, pli...), nack...), {0x81, 0xcd, 0, 1}}
	for _, s := range seeds {
		f.Add(s)
	}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	pub, l, ws := newPipeline(f, 1)
	l.cache = newRTXCache()
	dt := (*pub.downtracks.Load())[0]
	var h rtp.Header
	for i := range 50 {
		pub.forwardPacket(l, &h, rawRTP(uint16(i), uint32(i)*3000, testPayload(CodecVP8, i == 0, uint32(i), "f")), int64(i+1))
	}
	now := int64(1e9)
	f.Fuzz(func(t *testing.T, b []byte) {
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			return
		}
		now += 1e6
		before := ws[0].n
		dt.sub.handleSubscriberRTCP(dt, pkts, now)
		if ws[0].n-before > 151 {
			t.Fatalf("%d retransmissions from one RTCP packet", ws[0].n-before)
		}
	})
}

// Retransmissions take at most rtxShare of the subscriber's estimate, plus a short burst:
// a congested subscriber that NACKs a packet every 10 ms gets its repairs cut to what its
// link can carry, while on a fast link the same NACKs are all answered.
func TestRetransmissionsWithinTheEstimate(t *testing.T) {
	for _, tc := range []struct {
		estimate int64
		all      bool
	}{{20_000_000, true}, {100_000, false}} {
		pub, l, ws := newPipeline(t, 1)
		l.cache = newRTXCache()
		dt := (*pub.downtracks.Load())[0]
		dt.sub.estimate.Store(tc.estimate)
		var h rtp.Header
		var seqs []uint16
		for i := range 100 {
			pub.forwardPacket(l, &h, rawRTP(uint16(i), uint32(i)*3000, testPayload(CodecVP8, i == 0, uint32(i), strings.Repeat("x", 1000))), int64(i+1))
			seqs = append(seqs, ws[0].hdr.SequenceNumber)
		}
		const nacks, every = 200, int64(10e6) // two seconds of requests
		answered, bits := 0, 0
		for i := range nacks {
			if dt.retransmit(seqs[i%len(seqs)], int64(1e9)+int64(i)*every) {
				answered++
				bits += len(ws[0].payload) * 8
			}
		}
		seconds := float64(nacks*every) / 1e9
		limit := rtxShare*float64(tc.estimate)*seconds + max(rtxShare*float64(tc.estimate)*rtxBurstFor, rtxBurstMin)
		switch {
		case tc.all && answered != nacks:
			t.Errorf("estimate %d: %d of %d NACKs answered", tc.estimate, answered, nacks)
		case !tc.all && (answered == 0 || float64(bits) > limit):
			t.Errorf("estimate %d: %d retransmissions, %d bits in %.0f s; want some, at most %.0f", tc.estimate, answered, bits, seconds, limit)
		}
		t.Logf("estimate %d bit/s: %d of %d NACKs answered, %.0f kbit/s of retransmissions", tc.estimate, answered, nacks, float64(bits)/seconds/1000)
	}
}
