package media

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/servertest/poll"
)

// onRTCP hands every RTCP packet the publisher's sender receives to fn, on
// a goroutine, until the sender stops.
func onRTCP(rs *webrtc.RTPSender, fn func(rtcp.Packet)) {
	go func() {
		for {
			pkts, _, err := rs.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				fn(p)
			}
		}
	}()
}

// A subscriber's PLI reaches the publisher as a PLI for the publisher's
// own SSRC; a burst of them is coalesced by the per-layer limiter.
func TestPLIForwardedAndRateLimited(t *testing.T) {
	s := newTestSFU(t, func(c *Config) { c.PLIMinInterval = time.Hour })
	sub := joinClient(t, s, "r", "sub", Grants{CanSubscribe: true})
	pub := joinClient(t, s, "r", "pub", Grants{CanPublish: true})
	video := newSender(t, CodecVP8, "cam", "pub", "", "v")
	rs, err := pub.pc.AddTrack(video.track)
	if err != nil {
		t.Fatal(err)
	}
	plis := make(chan uint32, 64)
	onRTCP(rs, func(p rtcp.Packet) {
		if pli, ok := p.(*rtcp.PictureLossIndication); ok {
			plis <- pli.MediaSSRC
		}
	})
	pub.offer()
	pub.waitConnected()
	video.start(10 * time.Millisecond)
	defer video.halt()
	tr := sub.nextTrack(10 * time.Second)

	// The subscription itself asked for a keyframe.
	select {
	case ssrc := <-plis:
		if ssrc != senderSSRC(t, rs) {
			t.Fatalf("PLI for ssrc %d, publisher sends %d", ssrc, senderSSRC(t, rs))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no PLI reached the publisher")
	}
	before := pub.part.Counters()
	for range 10 {
		if err := sub.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}}); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 5*time.Second, "PLIs coalesced", func() bool {
		return pub.part.Counters().PLIRateLimited >= before.PLIRateLimited+10
	})
	select {
	case <-plis:
		t.Fatal("rate limiter let a second PLI through")
	case <-time.After(200 * time.Millisecond):
	}
}

// A keyframe request inside the limiter's interval is deferred to the
// interval's end, not dropped: a subscriber that joins right after another
// one must still get its keyframe (a browser publisher sends none unasked).
func TestPLIDeferredNotDropped(t *testing.T) {
	s := newTestSFU(t, func(c *Config) { c.PLIMinInterval = 300 * time.Millisecond })
	pub := joinClient(t, s, "r", "pub", Grants{CanPublish: true})
	video := newSender(t, CodecVP8, "cam", "pub", "", "v")
	if _, err := pub.pc.AddTrack(video.track); err != nil {
		t.Fatal(err)
	}
	pub.offer()
	pub.waitConnected()
	video.start(10 * time.Millisecond)
	defer video.halt()
	var l *layer
	poll.Until(t, 5*time.Second, "the publication's first layer", func() bool {
		pub.part.pubMu.Lock()
		defer pub.part.pubMu.Unlock()
		for _, p := range pub.part.pubs {
			l = p.firstLayer()
		}
		return l != nil
	})
	l.requestKeyframe()
	l.requestKeyframe() // inside the interval: deferred
	want := pub.part.Counters().PLIForwarded
	if want < 1 {
		t.Fatalf("the first request was not sent: %+v", pub.part.Counters())
	}
	poll.Until(t, 5*time.Second, "the deferred PLI", func() bool { return pub.part.Counters().PLIForwarded >= want+1 })
}

// A subscriber's NACK is answered by the SFU from its cache of the
// upstream layer: the same payload under the same sequence number.
func TestNACKAnsweredFromCache(t *testing.T) {
	s := newTestSFU(t, nil)
	sub := joinClientNoReplay(t, s, "r", "sub", Grants{CanSubscribe: true})
	pub := joinClient(t, s, "r", "pub", Grants{CanPublish: true})
	v := newSender(t, CodecVP8, "cam", "pub", "", "v")
	if _, err := pub.pc.AddTrack(v.track); err != nil {
		t.Fatal(err)
	}
	pub.offer()
	pub.waitConnected()
	v.start(10 * time.Millisecond)
	defer v.halt()
	tr := sub.nextTrack(10 * time.Second)
	var first *rtp.Packet
	for range 5 {
		_ = tr.SetReadDeadline(time.Now().Add(5 * time.Second))
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = pkt
		}
	}
	nack := &rtcp.TransportLayerNack{MediaSSRC: uint32(tr.SSRC()),
		Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{first.SequenceNumber})}
	if err := sub.pc.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		_ = tr.SetReadDeadline(time.Now().Add(5 * time.Second))
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			t.Fatal(err)
		}
		if pkt.SequenceNumber == first.SequenceNumber {
			if !bytes.Equal(pkt.Payload, first.Payload) || pkt.Timestamp != first.Timestamp {
				t.Fatal("retransmission differs from the original")
			}
			// Counted once written: the packet may arrive before the count.
			poll.Until(t, 5*time.Second, "the retransmission counted", func() bool { return sub.part.Counters().Retransmitted > 0 })
			return
		}
	}
	t.Fatal("NACKed packet never retransmitted")
}

// Upstream loss is NACKed to the publisher (RFC 4585 §6.2.1) by pion's
// generator, which only the PeerConnections of participants allowed to
// publish get (newParticipantAPI).
func TestPublisherLossNACKed(t *testing.T) {
	s := newTestSFU(t, nil)
	pub := joinClient(t, s, "r", "pub", Grants{CanPublish: true})
	v := newSender(t, CodecVP8, "cam", "pub", "", "v")
	rs, err := pub.pc.AddTrack(v.track)
	if err != nil {
		t.Fatal(err)
	}
	nacked := make(chan uint16, 256)
	onRTCP(rs, func(p rtcp.Packet) {
		if n, ok := p.(*rtcp.TransportLayerNack); ok {
			for _, pair := range n.Nacks {
				for _, seq := range pair.PacketList() {
					select {
					case nacked <- seq:
					default:
					}
				}
			}
		}
	})
	pub.offer()
	pub.waitConnected()
	// Every 20th packet is never sent; writes before the track is bound
	// are dropped by pion, so keep sending until a NACK names a gap.
	dropped := func(seq uint16) bool { return seq%20 == 7 }
	deadline := time.Now().Add(10 * time.Second)
	for seq := uint16(5000); ; seq++ {
		if time.Now().After(deadline) {
			t.Fatal("no NACK for a lost packet reached the publisher")
		}
		if !dropped(seq) {
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq,
				Timestamp: uint32(seq) * 3000}, Payload: v.payload(uint32(seq))}
			_ = v.track.WriteRTP(&pkt)
		}
		select {
		case got := <-nacked:
			if dropped(got) {
				return
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
}
