package media

import (
	"encoding/binary"
	"testing"

	"github.com/pion/rtp"
)

// BenchmarkForwardPath measures everything sealroom's code does for one
// upstream packet forwarded to 20 subscribers: the bookkeeping for the
// publisher's RTCP (transport-wide feedback recorder, NACK log, receiver
// statistics), the keyframe check, 20 header rewrites each with a
// transport-wide sequence number recorded for the subscriber's bandwidth
// estimate, and the sender-report counters. The writes go to a stub: pion's
// SRTP and the socket are measured, with real peers, by
// TestForwardingAllocations (allocations) and the load tool (CPU). It must
// not allocate. The baseline, run first, copies the packet to 20 buffers
// and rewrites their SSRC; "x-baseline" is the ratio of the two in this
// run.
func BenchmarkForwardPath(b *testing.B) {
	const subs, twccID = 20, 5
	payload := append(testPayload(CodecVP8, false, 1, "bench"), make([]byte, 1000)...)
	packet := func(seq uint16, p []byte) []byte {
		h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 1234}
		_ = h.SetExtension(twccID, []byte{0, 0})
		raw, _ := h.Marshal()
		return append(raw, p...)
	}
	var baseline float64
	b.Run("baseline-copy-20", func(b *testing.B) {
		pkt := packet(0, payload)
		bufs := make([][]byte, subs)
		for i := range bufs {
			bufs[i] = make([]byte, 1500)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for b.Loop() {
			for i, buf := range bufs {
				copy(buf, pkt)
				binary.BigEndian.PutUint32(buf[8:], uint32(i))
			}
		}
		baseline = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("sfu-20-subscribers", func(b *testing.B) {
		pub, l, _ := newPipeline(b, subs)
		pub.publisher.upstream = newUpstream(pub.publisher)
		l.twccID = twccID
		for _, dt := range *pub.downtracks.Load() {
			dt.twccID, dt.sub.twcc = 3, newTWCCSender()
		}
		var h rtp.Header
		pub.forwardPacket(l, &h, packet(0, testPayload(CodecVP8, true, 0, "bench")), 1)
		pkt := packet(1, payload)
		// RFC 8285 §4.2: 4-byte extension header, then ID/length, the
		// 2-byte value, 1 byte of padding.
		extOff := len(pkt) - len(payload) - 3
		if h.GetExtension(twccID) == nil {
			b.Fatal("no transport-wide sequence number in the upstream packet")
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for i := 0; b.Loop(); i++ {
			seq := uint16(i + 1)
			binary.BigEndian.PutUint16(pkt[2:], seq)
			binary.BigEndian.PutUint16(pkt[extOff:], seq)
			nanos := int64(i+2) * 100_000 // 10,000 packets/s
			pub.forwardPacket(l, &h, pkt, nanos)
			if i%1000 == 999 {
				// The publisher's ticker (every 100 ms) takes what was
				// recorded; its RTCP is not per packet and not counted.
				b.StopTimer()
				pub.publisher.upstream.due(nanos)
				b.StartTimer()
			}
		}
		if baseline > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/baseline, "x-baseline")
		}
	})
}
