package media

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/servertest/poll"
)

// rogueTrack is a TrackLocal that can write packets under any SSRC on the
// transport it is bound to, like a compromised client would.
type rogueTrack struct {
	mu   sync.Mutex
	w    webrtc.TrackLocalWriter
	pt   webrtc.PayloadType
	ssrc webrtc.SSRC
}

func (r *rogueTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range ctx.CodecParameters() {
		if c.MimeType == webrtc.MimeTypeOpus {
			r.w, r.pt, r.ssrc = ctx.WriteStream(), c.PayloadType, ctx.SSRC()
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}
func (r *rogueTrack) Unbind(webrtc.TrackLocalContext) error { return nil }
func (r *rogueTrack) ID() string                            { return "rogue" }
func (r *rogueTrack) RID() string                           { return "" }
func (r *rogueTrack) StreamID() string                      { return "rogue" }
func (r *rogueTrack) Kind() webrtc.RTPCodecType             { return webrtc.RTPCodecTypeAudio }

func (r *rogueTrack) write(ssrc uint32, seq uint16, payload []byte) error {
	r.mu.Lock()
	w, pt := r.w, r.pt
	r.mu.Unlock()
	if w == nil {
		return webrtc.ErrConnectionClosed
	}
	_, err := w.WriteRTP(&rtp.Header{Version: 2, PayloadType: uint8(pt), SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: ssrc}, payload)
	return err
}

func (r *rogueTrack) bound() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w != nil
}

// RTP for an SSRC the transport never announced is dropped at the socket
// and counted; the announced SSRC on the same transport still flows.
func TestUnannouncedSSRCDropped(t *testing.T) {
	s := newTestSFU(t, nil)
	sub := joinClient(t, s, "r", "sub", Grants{CanSubscribe: true})
	pub := joinClient(t, s, "r", "pub", Grants{CanPublish: true})
	rogue := &rogueTrack{}
	if _, err := pub.pc.AddTrack(rogue); err != nil {
		t.Fatal(err)
	}
	pub.offer()
	pub.waitConnected()
	poll.Until(t, 5*time.Second, "rogue bound", rogue.bound)

	const n = 50
	for i := range n {
		// Another participant's SSRC would look the same to the guard.
		if err := rogue.write(0xdeadbeef, uint16(i), testPayload(CodecOpus, true, uint32(i), "x")); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 5*time.Second, "drops counted", func() bool {
		return pub.part.Counters().DroppedUnannouncedSSRC >= n
	})
	for i := range 20 {
		if err := rogue.write(uint32(rogue.ssrc), uint16(100+i), testPayload(CodecOpus, true, uint32(100+i), "ok")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	tr := sub.nextTrack(5 * time.Second)
	_ = tr.SetReadDeadline(time.Now().Add(5 * time.Second))
	pkt, _, err := tr.ReadRTP()
	if err != nil {
		t.Fatal(err)
	}
	if idx, ok := payloadIndex(pkt.Payload, "ok"); !ok || idx < 100 {
		t.Fatalf("subscriber got an unannounced packet: %x", pkt.Payload)
	}
	if c := s.Counters(); c.DroppedUnannouncedSSRC < n {
		t.Fatalf("SFU counters: %+v", c)
	}
}

// An observer (no publish grant) cannot publish: its offer is answered,
// but every RTP packet it sends is dropped and nobody receives a track.
func TestObserverCannotPublish(t *testing.T) {
	s := newTestSFU(t, nil)
	sub := joinClient(t, s, "r", "sub", Grants{CanSubscribe: true, CanPublish: true})
	obs := joinClient(t, s, "r", "observer", Grants{CanSubscribe: true})
	snd := newSender(t, CodecOpus, "mic", "observer", "", "obs")
	if _, err := obs.pc.AddTrack(snd.track); err != nil {
		t.Fatal(err)
	}
	obs.offer()
	obs.waitConnected()
	snd.start(5 * time.Millisecond)
	defer snd.halt()
	poll.Until(t, 5*time.Second, "observer drops", func() bool {
		return obs.part.Counters().DroppedUnannouncedSSRC >= 20
	})
	select {
	case tr := <-sub.tracks:
		t.Fatalf("subscriber received a track from an observer: %s", tr.ID())
	case <-time.After(300 * time.Millisecond):
	}
	if c := obs.part.Counters(); c.ForwardedPackets != 0 {
		t.Fatalf("observer forwarded: %+v", c)
	}
}

// A flooding publisher is cut to its rate limit at the socket; another
// publisher's packets all reach the subscriber.
func TestFloodRateLimited(t *testing.T) {
	limit := RateLimit{PacketsPerSecond: 200, BurstPackets: 50}
	s := newTestSFU(t, func(c *Config) { c.RateLimit = limit })
	sub := joinClient(t, s, "r", "sub", Grants{CanSubscribe: true})
	flood := joinClient(t, s, "r", "flood", Grants{CanPublish: true})
	calm := joinClient(t, s, "r", "calm", Grants{CanPublish: true})

	fs := newSender(t, CodecOpus, "f", "flood", "", "flood")
	cs := newSender(t, CodecVP8, "c", "calm", "", "calm")
	cs.keyEach = 1
	for _, x := range []struct {
		c *client
		s *sender
	}{{flood, fs}, {calm, cs}} {
		if _, err := x.c.pc.AddTrack(x.s.track); err != nil {
			t.Fatal(err)
		}
		x.c.offer()
		x.c.waitConnected()
	}
	var calmTrack *webrtc.TrackRemote
	// Trigger subscription to both before the flood.
	fs.start(20 * time.Millisecond)
	cs.start(20 * time.Millisecond)
	for range 2 {
		tr := sub.nextTrack(10 * time.Second)
		if tr.StreamID() == "calm" {
			calmTrack = tr
		}
	}
	fs.halt()
	cs.halt()
	if calmTrack == nil {
		t.Fatal("no track from calm publisher")
	}

	// Drain the calm track in the background, then flood and send.
	got := make(chan uint32, 1024)
	go func() {
		for {
			_ = calmTrack.SetReadDeadline(time.Now().Add(10 * time.Second))
			pkt, _, err := calmTrack.ReadRTP()
			if err != nil {
				close(got)
				return
			}
			if idx, ok := payloadIndex(pkt.Payload, "calm"); ok {
				got <- idx
			}
		}
	}()
	before := flood.part.Counters()
	start := time.Now()
	floodDone := make(chan struct{})
	go func() {
		defer close(floodDone)
		p := testPayload(CodecOpus, true, 0, "flood")
		for i := range 5000 {
			_ = fs.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(5000 + i), Timestamp: uint32(i) * 960}, Payload: p})
		}
	}()
	const calmN = 100
	for i := uint32(1000); i < 1000+calmN; i++ {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(4000 + i), Timestamp: i * 3000}, Payload: cs.payload(i)}
		if err := cs.track.WriteRTP(&pkt); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	<-floodDone
	seen := map[uint32]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < calmN {
		select {
		case idx, ok := <-got:
			if !ok {
				t.Fatalf("calm track ended after %d of %d packets", len(seen), calmN)
			}
			if idx >= 1000 {
				seen[idx] = true
			}
		case <-deadline:
			t.Fatalf("calm publisher: %d of %d packets received during flood", len(seen), calmN)
		}
	}
	elapsed := time.Since(start).Seconds()
	after := flood.part.Counters()
	if after.DroppedRateLimited == before.DroppedRateLimited {
		t.Fatalf("flood not rate limited: %+v", after)
	}
	fwd := after.ForwardedPackets - before.ForwardedPackets
	budget := limit.BurstPackets + limit.PacketsPerSecond*(elapsed+1)
	if float64(fwd) > budget {
		t.Fatalf("flood forwarded %d packets in %.1fs, budget %.0f", fwd, elapsed, budget)
	}
	t.Logf("flood: forwarded %d, rate-limited %d; calm: %d/%d delivered", fwd,
		after.DroppedRateLimited-before.DroppedRateLimited, len(seen), calmN)
}

// FuzzGuardAdmit: arbitrary datagrams from a bound address never panic
// the guard, and RTP is admitted only for announced SSRCs.
func FuzzGuardAdmit(f *testing.F) {
	seeds := [][]byte{
		rawRTP(1, 1, []byte{1}),                    // announced SSRC 1234
		{0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9}, // unannounced
		{0x80, 0xc8, 0, 1, 0, 0, 0, 9},             // RTCP sender report
		{0x00, 0x01, 0x00, 0x00},                   // STUN
		{0x16, 0xfe, 0xfd},                         // DTLS
		{0x80},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	var global counters
	g := newGuardConn(listenLoopback(f), &global)
	var c counters
	b := newTransportBinding(&c, RateLimit{}, 0)
	b.allowed.Store(&ssrcPolicy{ssrcs: []uint32{1234}})
	from := netip.MustParseAddrPort("127.0.0.1:5000")
	probe := rawRTP(1, 1, nil)
	binary.BigEndian.PutUint32(probe[8:], 0)
	if g.admit(probe, from) {
		f.Fatal("SSRC 0 admitted without bwProbe")
	}
	g.bind([]netip.AddrPort{from}, b)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		ok := g.admit(pkt, from)
		if ok && len(pkt) >= 2 && pkt[0] >= 128 && pkt[0] <= 191 && (pkt[1] < 192 || pkt[1] > 223) {
			if len(pkt) < 12 || binary.BigEndian.Uint32(pkt[8:]) != 1234 {
				t.Fatalf("admitted RTP for an unannounced SSRC: %x", pkt)
			}
		}
	})
}

func TestGuardUnboundAndProbe(t *testing.T) {
	var global counters
	g := newGuardConn(listenLoopback(t), &global)
	if g.admit(rawRTP(1, 1, []byte{1}), netip.MustParseAddrPort("127.0.0.1:1")) {
		t.Fatal("RTP from an unbound address admitted")
	}
	if global.unbound.Load() != 1 {
		t.Fatal("unbound drop not counted")
	}
	var c counters
	b := newTransportBinding(&c, RateLimit{}, 0)
	b.allowed.Store(&ssrcPolicy{probe: true})
	from := netip.MustParseAddrPort("[::ffff:127.0.0.1]:2")
	g.bind([]netip.AddrPort{from}, b)
	admitted := 0
	for range 2 * probePacketsPerSSRC {
		if g.admit(rawRTP(1, 1, []byte{1}), netip.MustParseAddrPort("127.0.0.1:2")) {
			admitted++
		}
	}
	if admitted != probePacketsPerSSRC || c.unannounced.Load() != probePacketsPerSSRC {
		t.Fatalf("probe: admitted %d, dropped %d", admitted, c.unannounced.Load())
	}
	for i := range maxProbeSSRCs + 5 {
		pkt := rawRTP(1, 1, []byte{1})
		binary.BigEndian.PutUint32(pkt[8:], uint32(5000+i))
		g.admit(pkt, from)
	}
	if len(b.probes) > maxProbeSSRCs {
		t.Fatalf("probe table grew to %d", len(b.probes))
	}
	g.unbind(b)
	if g.lookup(from) != nil {
		t.Fatal("unbind left the address bound")
	}
	g.bind([]netip.AddrPort{from}, b)
	if g.lookup(from) != nil {
		t.Fatal("a closed transport was bound again")
	}
}
