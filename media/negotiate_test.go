package media

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/servertest/poll"
	"github.com/sealroom/sealroom/server/signaling"
)

// Tracks come and go: a publisher removing a track and a participant
// leaving both make the SFU renegotiate with the remaining subscribers.
func TestRenegotiationOnTrackRemovalAndLeave(t *testing.T) {
	s := newTestSFU(t, nil)
	sub := joinClient(t, s, "r", "sub", Grants{CanSubscribe: true})
	pub := joinClient(t, s, "r", "pub", Grants{CanPublish: true, CanSubscribe: true})
	a := newSender(t, CodecOpus, "mic", "pub", "", "a")
	v := newSender(t, CodecVP8, "cam", "pub", "", "v")
	_, err := pub.pc.AddTrack(a.track)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := pub.pc.AddTrack(v.track)
	if err != nil {
		t.Fatal(err)
	}
	pub.offer()
	pub.waitConnected()
	a.start(20 * time.Millisecond)
	v.start(20 * time.Millisecond)
	defer a.halt()
	defer v.halt()
	sub.nextTrack(10 * time.Second)
	sub.nextTrack(10 * time.Second)
	// The sections of a stream in the SFU's last applied offer are the
	// tracks it sends to the subscriber; a withdrawn track's section stays,
	// with no stream (msid "-", see withdraw).
	sending := func() int {
		d := sub.pc.CurrentRemoteDescription()
		if d == nil || sub.pc.SignalingState() != webrtc.SignalingStateStable {
			return -1
		}
		var parsed sdp.SessionDescription
		if err := parsed.UnmarshalString(d.SDP); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range parsed.MediaDescriptions {
			if msid, ok := m.Attribute("msid"); ok && !strings.HasPrefix(msid, "- ") {
				n++
			}
		}
		return n
	}
	poll.Until(t, 5*time.Second, "two receiving transceivers", func() bool { return sending() == 2 })

	v.halt()
	if err := pub.pc.RemoveTrack(vs); err != nil {
		t.Fatal(err)
	}
	pub.offer()
	poll.Until(t, 10*time.Second, "video withdrawn from subscriber", func() bool { return sending() == 1 })

	// A third participant joining sees only the audio.
	late := joinClient(t, s, "r", "late", Grants{CanSubscribe: true})
	if tr := late.nextTrack(10 * time.Second); tr.Kind() != webrtc.RTPCodecTypeAudio {
		t.Fatalf("late joiner got %s", tr.Kind())
	}

	_ = pub.part.Close()
	poll.Until(t, 10*time.Second, "publisher's tracks withdrawn on leave", func() bool { return sending() == 0 })
	if _, err := s.Join(t.Context(), "r", "sub", Grants{}, func(signaling.Media) {}); err != ErrDuplicateParticipant {
		t.Fatalf("duplicate join: %v", err)
	}
}

// Glare: the client offers while the SFU's own offer is unanswered. The
// SFU abandons its offer, answers, and offers again; the client ignores
// the stale offer; an answer to the abandoned offer is refused.
func TestGlareSFUYields(t *testing.T) {
	s := newTestSFU(t, nil)
	gate := make(chan struct{})
	sub := joinClientGated(t, s, "r", "sub", Grants{CanSubscribe: true}, gate)
	pub := joinClient(t, s, "r", "pub", Grants{CanPublish: true})
	a := newSender(t, CodecOpus, "mic", "pub", "", "a")
	if _, err := pub.pc.AddTrack(a.track); err != nil {
		t.Fatal(err)
	}
	pub.offer()
	pub.waitConnected()
	a.start(20 * time.Millisecond)
	defer a.halt()
	poll.Until(t, 10*time.Second, "SFU offer outstanding", func() bool {
		sub.part.negMu.Lock()
		defer sub.part.negMu.Unlock()
		return sub.part.offer != nil
	})
	if _, err := sub.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	sub.offer() // crosses the SFU's offer
	close(gate)
	if tr := sub.nextTrack(10 * time.Second); tr.Kind() != webrtc.RTPCodecTypeAudio {
		t.Fatalf("got %s", tr.Kind())
	}
	sub.waitConnected()
	if err := sub.part.HandleAnswer(sub.pc.LocalDescription().SDP, 1); err != ErrStaleAnswer && err != ErrUnexpectedAnswer {
		t.Fatalf("answer to abandoned offer: %v", err)
	}
}

// Bad signaling input gets a typed error and leaves the session usable.
func TestBadSignalingRefused(t *testing.T) {
	s := newTestSFU(t, nil)
	c := joinClient(t, s, "r", "c", Grants{CanPublish: true, CanSubscribe: true})
	for _, m := range []signaling.Media{
		{Type: "bogus"},
		{Type: signaling.MediaOffer, SDP: "not an sdp"},
		{Type: signaling.MediaOffer, SDP: strings.Repeat("a", maxSDPLen+1)},
		{Type: signaling.MediaAnswer, SDP: "v=0\r\n"},
		{Type: signaling.MediaCandidate},
		{Type: signaling.MediaCandidate, Candidate: &webrtc.ICECandidateInit{Candidate: "candidate:garbage"}},
	} {
		err := c.part.HandleMessage(m)
		if err == nil {
			t.Fatalf("%q accepted", m.Type)
		}
		var sdpErr *SDPError
		if !errors.Is(err, ErrUnknownMessage) && !errors.Is(err, ErrBadSDP) && !errors.As(err, &sdpErr) &&
			!errors.Is(err, ErrUnexpectedAnswer) && !errors.Is(err, ErrBadCandidate) {
			t.Fatalf("%q: untyped error %v", m.Type, err)
		}
	}
	// Still negotiates after all that.
	a := newSender(t, CodecOpus, "mic", "c", "", "a")
	if _, err := c.pc.AddTrack(a.track); err != nil {
		t.Fatal(err)
	}
	c.offer()
	c.waitConnected()
	if _, err := s.Join(t.Context(), "", "x", Grants{}, func(signaling.Media) {}); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("empty room: %v", err)
	}
	if _, err := s.Join(t.Context(), "r", "x", Grants{}, nil); !errors.Is(err, ErrNilSignal) {
		t.Fatalf("nil signal: %v", err)
	}
}
