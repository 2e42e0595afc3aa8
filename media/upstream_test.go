package media

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// The NACK log lists the gaps after the last consecutive arrival, drops a
// gap once it is filled, and keeps to its size across a wrap.
func TestNACKLog(t *testing.T) {
	var l nackLog
	for _, s := range []uint16{65530, 65531, 65533, 65535, 1, 2} {
		l.add(s)
	}
	buf := make([]uint16, 0, nackLogSize)
	if got := l.missingSeqNumbers(buf); !slices.Equal(got, []uint16{65532, 65534, 0}) {
		t.Fatalf("missing %v", got)
	}
	l.add(65532)
	l.add(0)
	if got := l.missingSeqNumbers(buf); !slices.Equal(got, []uint16{65534}) {
		t.Fatalf("missing %v after filling", got)
	}
	l.add(65534)
	if got := l.missingSeqNumbers(buf); len(got) != 0 {
		t.Fatalf("missing %v with no gap", got)
	}
	// A jump beyond the log: only the last nackLogSize numbers count.
	l.add(2 + 2*nackLogSize)
	if got := l.missingSeqNumbers(buf); len(got) != nackLogSize-1 {
		t.Fatalf("%d missing after a jump", len(got))
	}
}

// Receiver statistics (RFC 3550 A.3): fraction lost since the last report,
// cumulative loss, extended highest sequence number across a wrap; LSR and
// DLSR from the last sender report.
func TestReceiverReportStats(t *testing.T) {
	s := recvStats{clockRate: 90000}
	for i, seq := 0, uint16(65500); i < 100; i, seq = i+1, seq+1 {
		if i%10 == 3 {
			continue // 10 of 100 lost
		}
		s.add(seq, uint32(i)*90, int64(i)*1e6) // 1 ms apart at 90 kHz
	}
	s.lastSR, s.lastSRNanos = 0xabcd1234, 50e6
	r := s.report(7, 50e6+int64(time.Second))
	last := uint16(65500)
	last += 99
	if r.TotalLost != 10 || r.FractionLost != uint8(10*256/99) || r.LastSequenceNumber != 1<<16|uint32(last) {
		t.Fatalf("report %+v", r)
	}
	if r.LastSenderReport != 0xabcd1234 || r.Delay != 65536 {
		t.Fatalf("LSR %x DLSR %d", r.LastSenderReport, r.Delay)
	}
	if r.Jitter != 0 {
		t.Fatalf("jitter %d for packets paced exactly", r.Jitter)
	}
	if r2 := s.report(7, 2e9); r2.FractionLost != 0 || r2.TotalLost != 10 {
		t.Fatalf("second report %+v", r2)
	}
}

// A publisher gets what pion's read-side interceptors used to send it:
// transport-wide feedback for its congestion control and receiver reports
// for its stream (NACKs: TestPublisherLossNACKed); its sender reports
// reach the receiver reports' LSR.
func TestPublisherGetsFeedbackAndReports(t *testing.T) {
	s := newTestSFU(t, nil)
	// pion's default interceptors do not number outgoing packets for
	// transport-wide feedback; browsers do.
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, reg); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	pub := joinClientAPI(t, s, "r", "pub", Grants{CanPublish: true}, nil,
		webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)))
	video := newSender(t, CodecVP8, "cam", "pub", "", "v")
	rs, err := pub.pc.AddTrack(video.track)
	if err != nil {
		t.Fatal(err)
	}
	feedback := make(chan struct{}, 1)
	reports := make(chan rtcp.ReceptionReport, 16)
	onRTCP(rs, func(p rtcp.Packet) {
		switch p := p.(type) {
		case *rtcp.TransportLayerCC:
			select {
			case feedback <- struct{}{}:
			default:
			}
		case *rtcp.ReceiverReport:
			for _, r := range p.Reports {
				select {
				case reports <- r:
				default:
				}
			}
		}
	})
	pub.offer()
	pub.waitConnected()
	video.start(10 * time.Millisecond)
	defer video.halt()
	select {
	case <-feedback:
	case <-time.After(10 * time.Second):
		t.Fatal("no transport-wide feedback reached the publisher")
	}
	ssrc := senderSSRC(t, rs)
	deadline := time.After(15 * time.Second)
	for {
		select {
		case r := <-reports:
			// pion's sender sends its first sender report after a second;
			// the receiver report after it carries its LSR.
			if r.SSRC == ssrc && r.LastSequenceNumber != 0 && r.LastSenderReport != 0 {
				return
			}
		case <-deadline:
			t.Fatal("no receiver report with the sender report's LSR reached the publisher")
		}
	}
}

// A compound packet is read from the stream of every SSRC it names: a
// downtrack answers only the NACKs and keyframe requests for its own SSRC,
// and feedback read twice is taken once.
func TestSubscriberRTCPForOwnSSRC(t *testing.T) {
	pub, l, ws := newPipeline(t, 2)
	l.cache = newRTXCache()
	dts := *pub.downtracks.Load()
	var h rtp.Header
	for i := range 5 {
		pub.forwardPacket(l, &h, rawRTP(uint16(i), uint32(i)*3000, testPayload(CodecVP8, i == 0, uint32(i), "o")), int64(i+1))
	}
	nack := &rtcp.TransportLayerNack{MediaSSRC: dts[0].ssrc,
		Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{ws[0].hdr.SequenceNumber})}
	before := []int{ws[0].n, ws[1].n}
	for _, dt := range dts {
		dt.sub.handleSubscriberRTCP(dt, []rtcp.Packet{nack}, 1e9)
	}
	if ws[0].n != before[0]+1 || ws[1].n != before[1] {
		t.Fatalf("writes after a NACK for the first downtrack: %d, %d (before %d, %d)", ws[0].n, ws[1].n, before[0], before[1])
	}

	tw := newTWCCSender()
	e := newSendSideBWE(tw, 1_000_000, 10_000, 10_000_000, 0)
	for i := range 10 {
		tw.sent(tw.take(), int64(i)*1e6, 1000)
	}
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: 0, PacketStatusCount: 10, FbPktCount: 7,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: 10}}}
	e.onFeedback(fb, 1e9)
	loss := e.avgLoss
	e.onFeedback(fb, 2e9)
	if e.avgLoss != loss || e.lastLoss != 1e9 {
		t.Fatal("the same feedback was taken twice")
	}
}
