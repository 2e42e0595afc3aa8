package media

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/servertest/poll"
	"github.com/sealroom/sealroom/server/signaling"
)

// recorder drains a received track and remembers, per packet, which
// simulcast layer (payload tag) it came from and its sequence number.
type recorder struct {
	mu   sync.Mutex
	tags []string
	seqs []uint16
}

func record(tr *webrtc.TrackRemote, tags ...string) *recorder {
	r := &recorder{}
	go func() {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			for _, tag := range tags {
				if _, ok := payloadIndex(pkt.Payload, tag); ok {
					r.mu.Lock()
					r.tags = append(r.tags, tag)
					r.seqs = append(r.seqs, pkt.SequenceNumber)
					r.mu.Unlock()
				}
			}
		}
	}()
	return r
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tags)
}

// lastTags reports whether the last n packets all came from layer tag.
func (r *recorder) lastAre(tag string, n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.tags) < n {
		return false
	}
	for _, t := range r.tags[len(r.tags)-n:] {
		if t != tag {
			return false
		}
	}
	return true
}

// contiguous reports whether sequence numbers never skipped or repeated.
func (r *recorder) contiguous() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 1; i < len(r.seqs); i++ {
		if r.seqs[i] != r.seqs[i-1]+1 {
			return false
		}
	}
	return true
}

// simulcastExtensions makes the senders tag packets with the mid and rid
// header extensions (RFC 8852/8843) the SFU uses to bind their SSRCs.
func simulcastExtensions(t *testing.T, pc *webrtc.PeerConnection, rs *webrtc.RTPSender, senders []*sender) {
	t.Helper()
	var midID, ridID uint8
	for _, e := range rs.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		}
	}
	mid := ""
	for _, tr := range pc.GetTransceivers() {
		if tr.Sender() == rs {
			mid = tr.Mid()
		}
	}
	if midID == 0 || ridID == 0 || mid == "" {
		t.Fatalf("simulcast extensions not negotiated: mid %d rid %d %q", midID, ridID, mid)
	}
	for _, snd := range senders {
		rid := snd.track.RID()
		snd.ext = func(h *rtp.Header) {
			_ = h.SetExtension(midID, []byte(mid))
			_ = h.SetExtension(ridID, []byte(rid))
		}
	}
}

// publishSimulcast joins a publisher "pub" sending a camera in three layers,
// l, m and h (payloads of 100, 500 and 1100 bytes every 20 ms), and a
// microphone.
func publishSimulcast(t *testing.T, s *SFU) *client {
	t.Helper()
	pub := joinClient(t, s, "r", "pub", Grants{CanPublish: true})
	layers := map[string]int{"l": 100, "m": 500, "h": 1100}
	var senders []*sender
	var rs *webrtc.RTPSender
	for _, rid := range []string{"h", "m", "l"} {
		snd := newSender(t, CodecVP8, "cam", "pub", rid, rid)
		snd.size = layers[rid]
		senders = append(senders, snd)
		if rs == nil {
			var err error
			if rs, err = pub.pc.AddTrack(snd.track); err != nil {
				t.Fatal(err)
			}
		} else if err := rs.AddEncoding(snd.track); err != nil {
			t.Fatal(err)
		}
	}
	mic := newSender(t, CodecOpus, "mic", "pub", "", "mic")
	if _, err := pub.pc.AddTrack(mic.track); err != nil {
		t.Fatal(err)
	}
	pub.offer()
	pub.waitConnected()
	simulcastExtensions(t, pub.pc, rs, senders)
	for _, snd := range append(senders, mic) {
		snd.start(20 * time.Millisecond)
		t.Cleanup(snd.halt)
	}
	return pub
}

// subscribe records, per subscriber, what it receives of the publisher's
// video and audio.
func subscribe(t *testing.T, subs ...*client) map[*client]map[webrtc.RTPCodecType]*recorder {
	t.Helper()
	recs := map[*client]map[webrtc.RTPCodecType]*recorder{}
	for _, c := range subs {
		recs[c] = map[webrtc.RTPCodecType]*recorder{}
		for range 2 {
			tr := c.nextTrack(10 * time.Second)
			recs[c][tr.Kind()] = record(tr, "h", "m", "l", "mic")
		}
	}
	return recs
}

// lastLayer is the rid of the last layer message the client got about
// publisher.
func (c *client) lastLayer(publisher string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.notices) - 1; i >= 0; i-- {
		if m := c.notices[i]; m.Type == signaling.MediaLayer && m.Participant == publisher {
			return m.RID
		}
	}
	return ""
}

func (c *client) hasNotice(m string) bool {
	for _, t := range c.noticeTypes() {
		if t == m {
			return true
		}
	}
	return false
}

// Simulcast: each subscriber gets the layer its estimate carries,
// switching on keyframes; when the estimate cannot carry the lowest layer
// video pauses, audio continues, and both transitions are signalled.
func TestSimulcastLayersAndAudioFirst(t *testing.T) {
	s := newTestSFU(t, func(c *Config) { c.ControlInterval = 100 * time.Millisecond })
	rich := joinClient(t, s, "r", "rich", Grants{CanSubscribe: true})
	poor := joinClient(t, s, "r", "poor", Grants{CanSubscribe: true})
	rich.part.estimate.Store(10_000_000)
	poor.part.estimate.Store(150_000)
	publishSimulcast(t, s)
	recs := subscribe(t, rich, poor)
	rv, ra := recs[rich][webrtc.RTPCodecTypeVideo], recs[rich][webrtc.RTPCodecTypeAudio]
	pv := recs[poor][webrtc.RTPCodecTypeVideo]
	poll.Until(t, 10*time.Second, "rich on the high layer", func() bool { return rv.lastAre("h", 20) })
	poll.Until(t, 10*time.Second, "poor on the low layer", func() bool { return pv.lastAre("l", 20) })

	// Estimate collapses below audio + lowest layer: audio only.
	rich.part.estimate.Store(60_000)
	poll.Until(t, 10*time.Second, "video_paused notice", func() bool { return rich.hasNotice(signaling.MediaVideoPaused) })
	// Counted where the SFU writes (what is already on its way to the recorder is not
	// its doing), over the time half a second of audio takes to arrive.
	w0, a0 := videoWritten(rich.part), ra.len()
	poll.Until(t, 10*time.Second, "audio going on while video is paused", func() bool { return ra.len() >= a0+25 })
	if w := videoWritten(rich.part); w != w0 {
		t.Fatalf("video still forwarded while paused: %d -> %d packets", w0, w)
	}
	v0 := rv.len()

	// Recovery: video resumes, on a keyframe, without a sequence gap.
	rich.part.estimate.Store(10_000_000)
	poll.Until(t, 10*time.Second, "video_resumed notice", func() bool { return rich.hasNotice(signaling.MediaVideoResumed) })
	poll.Until(t, 10*time.Second, "video back on high", func() bool { return rv.len() > v0+20 && rv.lastAre("h", 10) })
	if !rv.contiguous() {
		t.Fatal("subscriber saw a sequence gap across layer switches and pause")
	}
	c := s.Counters()
	if c.LayerSwitches == 0 || c.VideoPauses == 0 || c.VideoResumes == 0 {
		t.Fatalf("counters: %+v", c)
	}
	t.Logf("counters: %+v", c)
}

// A subscriber that shows a publisher's video small gets the layer that
// fits the tile, not the one its bandwidth carries, and is told each switch;
// a layers or view message out of bounds is refused and changes nothing.
func TestSimulcastFollowsTheTile(t *testing.T) {
	s := newTestSFU(t, func(c *Config) { c.ControlInterval = 100 * time.Millisecond })
	sub := joinClient(t, s, "r", "sub", Grants{CanSubscribe: true})
	sub.part.estimate.Store(10_000_000)
	pub := publishSimulcast(t, s)
	rv := subscribe(t, sub)[sub][webrtc.RTPCodecTypeVideo]
	poll.Until(t, 10*time.Second, "the high layer, told", func() bool {
		return rv.lastAre("h", 20) && sub.lastLayer("pub") == "h"
	})

	if err := pub.part.HandleMessage(signaling.Media{Type: signaling.MediaLayers,
		Layers: []signaling.Layer{{RID: "l", Height: 120}, {RID: "m", Height: 240}, {RID: "h", Height: 480}}}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		height int
		want   string
	}{{200, "m"}, {100, "l"}, {481, "h"}, {0, "l"}, {300, "h"}, {240, "m"}} {
		if err := sub.part.HandleMessage(signaling.Media{Type: signaling.MediaView, Participant: "pub", Height: step.height}); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 10*time.Second, fmt.Sprintf("layer %s for a tile %d pixels high", step.want, step.height), func() bool {
			return rv.lastAre(step.want, 10) && sub.lastLayer("pub") == step.want
		})
	}
	if !rv.contiguous() {
		t.Fatal("subscriber saw a sequence gap across layer switches")
	}

	bad := []signaling.Media{
		{Type: signaling.MediaLayers, Layers: []signaling.Layer{{RID: "l", Height: 1}, {RID: "m", Height: 2}, {RID: "h", Height: 3}, {RID: "x", Height: 4}}},
		{Type: signaling.MediaLayers, Layers: []signaling.Layer{{RID: "l", Height: 9000}}},
		{Type: signaling.MediaLayers, Layers: []signaling.Layer{{RID: "l;x", Height: 100}}},
		{Type: signaling.MediaLayers, Layers: []signaling.Layer{{RID: "l", Height: 100}, {RID: "l", Height: 200}}},
		{Type: signaling.MediaView, Participant: "pub", Height: -1},
		{Type: signaling.MediaView, Participant: "", Height: 100},
		{Type: signaling.MediaView, Participant: strings.Repeat("p", 300), Height: 100},
	}
	for _, m := range bad {
		for _, c := range []*client{pub, sub} {
			if err := c.part.HandleMessage(m); !errors.Is(err, ErrBadView) {
				t.Errorf("%+v: %v, want ErrBadView", m, err)
			}
		}
	}
	for i := range maxViews - 1 {
		if err := sub.part.HandleMessage(signaling.Media{Type: signaling.MediaView, Participant: fmt.Sprint("other", i), Height: 1}); err != nil {
			t.Fatalf("view %d: %v", i, err)
		}
	}
	// Full: the views of participants no longer in the room are forgotten to make room;
	// those of participants present stay.
	if err := sub.part.HandleMessage(signaling.Media{Type: signaling.MediaView, Participant: "one-more", Height: 1}); err != nil {
		t.Errorf("a view once the others left: %v", err)
	}
	sub.part.view.mu.Lock()
	kept := len(sub.part.view.views)
	sub.part.view.mu.Unlock()
	if kept != 2 {
		t.Errorf("%d views kept, want 2 (pub's and the new one)", kept)
	}
	if h := pub.part.layerHeight("h"); h != 480 {
		t.Errorf("a refused layers message changed the declared heights: h is %d", h)
	}
	if h, _ := sub.part.viewHeight("pub"); h != 240 {
		t.Errorf("a refused view message changed the view: %d", h)
	}
}

// videoWritten is how many video packets the SFU has written to p.
func videoWritten(p *Participant) uint32 {
	var n uint32
	for _, dt := range p.downtrackList() {
		if dt.pub.codec.isVideo() {
			dt.mu.Lock()
			n += dt.srPackets
			dt.mu.Unlock()
		}
	}
	return n
}
