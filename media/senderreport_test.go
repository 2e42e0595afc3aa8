package media

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/servertest/poll"
)

func TestNTPTime(t *testing.T) {
	// RFC 3550 §4: the Unix epoch is 2208988800 s after the NTP epoch.
	if got := ntpTime(time.Unix(0, 0)); got != 2208988800<<32 {
		t.Fatalf("unix epoch: %x", got)
	}
	if got := ntpTime(time.Unix(1, 5e8)); got != (2208988801<<32 | 1<<31) {
		t.Fatalf("1.5 s: %x", got)
	}
}

// A report extrapolates the RTP timestamp of the last packet sent to the
// report's time at the clock rate, and counts packets and payload octets.
func TestSenderReportOfDowntrack(t *testing.T) {
	pub, l, ws := newPipeline(t, 1)
	dt := (*pub.downtracks.Load())[0]
	var h rtp.Header
	if _, ok := dt.senderReport(0, time.Now()); ok {
		t.Fatal("report before any packet")
	}
	key := testPayload(CodecVP8, true, 0, "sr")
	pub.forwardPacket(l, &h, rawRTP(1, 1000, key), 1e9)
	delta := testPayload(CodecVP8, false, 1, "sr")
	pub.forwardPacket(l, &h, rawRTP(2, 4000, delta), 2e9)
	wall := time.Unix(1000, 0)
	sr, ok := dt.senderReport(2e9+5e8, wall)
	if !ok {
		t.Fatal("no report")
	}
	if sr.SSRC != dt.ssrc || sr.PacketCount != 2 || sr.OctetCount != uint32(len(key)+len(delta)) {
		t.Fatalf("report %+v", sr)
	}
	if want := ws[0].hdr.Timestamp + 45000; sr.RTPTime != want || sr.NTPTime != ntpTime(wall) {
		t.Fatalf("rtp time %d, want %d", sr.RTPTime, want)
	}
}

// What a subscriber receives carries the transport-wide sequence number
// it negotiated, its feedback reaches the SFU's estimator, and sender
// reports for its track arrive.
func TestSubscriberGetsTWCCAndSenderReports(t *testing.T) {
	s := newTestSFU(t, func(c *Config) { c.ControlInterval = 100 * time.Millisecond })
	sub := joinClient(t, s, "r", "sub", Grants{CanSubscribe: true})
	pub := joinClient(t, s, "r", "pub", Grants{CanPublish: true})
	video := newSender(t, CodecVP8, "cam", "pub", "", "v")
	if _, err := pub.pc.AddTrack(video.track); err != nil {
		t.Fatal(err)
	}
	pub.offer()
	pub.waitConnected()
	video.start(10 * time.Millisecond)
	defer video.halt()
	var recv *webrtc.RTPReceiver
	tr := sub.nextTrack(10 * time.Second)
	for _, x := range sub.pc.GetTransceivers() {
		if x.Receiver() != nil && x.Receiver().Track() == tr {
			recv = x.Receiver()
		}
	}
	if recv == nil {
		t.Fatal("no receiver for the track")
	}
	var twccID uint8
	for _, e := range recv.GetParameters().HeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			twccID = uint8(e.ID)
		}
	}
	if twccID == 0 {
		t.Fatal("transport-cc not negotiated")
	}
	seqs := map[uint16]bool{}
	for range 20 {
		_ = tr.SetReadDeadline(time.Now().Add(5 * time.Second))
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			t.Fatal(err)
		}
		ext := pkt.GetExtension(twccID)
		if len(ext) != 2 {
			t.Fatalf("packet %d without transport-wide sequence number", pkt.SequenceNumber)
		}
		seqs[uint16(ext[0])<<8|uint16(ext[1])] = true
	}
	if len(seqs) != 20 {
		t.Fatalf("%d distinct transport-wide sequence numbers in 20 packets", len(seqs))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("no sender report for the subscriber's track")
		}
		_ = recv.SetReadDeadline(time.Now().Add(5 * time.Second))
		pkts, _, err := recv.ReadRTCP()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == uint32(tr.SSRC()) && sr.PacketCount > 0 {
				found = true
			}
		}
		if found {
			break
		}
	}
	// The pion subscriber sends feedback every 100 ms; the estimator has
	// seen it once its reference epoch is set.
	e := sub.part.bwe.Load()
	poll.Until(t, 10*time.Second, "transport-wide feedback at the estimator", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.refEpoch >= 0
	})
}
