package media

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/servertest/poll"
)

// A subscription withdrawn before the subscriber answered any offer with its
// section (a participant leaving as another joins) must not cost the
// subscriber's session its video header extensions: the first video section
// a client answers fixes them for the session (pion; Chromium takes those of
// the first video section for its own camera), and pion offers a stopped
// section without any. A withdrawn track's section stays sendonly with a
// silent track of no stream, so every video section, the withdrawn one and
// those offered later, carries transport-wide sequence numbers (and rid for
// a browser's simulcast).
func TestWithdrawnBeforeAnsweredKeepsVideoExtensions(t *testing.T) {
	s := newTestSFU(t, nil)
	gate := make(chan struct{})
	sub := joinClientGated(t, s, "r", "sub", Grants{CanSubscribe: true}, gate)
	publishOne := func(id string, codec Codec) (*client, *sender) {
		t.Helper()
		c := joinClient(t, s, "r", id, Grants{CanPublish: true, CanSubscribe: true})
		snd := newSender(t, codec, id+"-track", id, "", id)
		if _, err := c.pc.AddTrack(snd.track); err != nil {
			t.Fatal(err)
		}
		c.offer()
		c.waitConnected()
		snd.start(20 * time.Millisecond)
		t.Cleanup(snd.halt)
		return c, snd
	}
	downtracks := func(n int) func() bool {
		return func() bool {
			sub.part.negMu.Lock()
			defer sub.part.negMu.Unlock()
			return len(sub.part.downtracks) == n
		}
	}

	// The SFU's first offer (audio) waits for the subscriber's answer; meanwhile a
	// video publication comes and goes.
	publishOne("mic", CodecOpus)
	poll.Until(t, 10*time.Second, "the audio subscription", downtracks(1))
	cam, _ := publishOne("cam", CodecVP8)
	poll.Until(t, 10*time.Second, "the video subscription", downtracks(2))
	_ = cam.part.Close()
	poll.Until(t, 10*time.Second, "the video withdrawn", downtracks(1))
	close(gate)
	poll.Until(t, 10*time.Second, "every SFU offer answered", func() bool {
		sub.part.negMu.Lock()
		defer sub.part.negMu.Unlock()
		return sub.part.offer == nil && !sub.part.dirty && sub.part.offerID >= 2
	})

	publishOne("cam2", CodecVP8)
	for {
		tr := sub.nextTrack(10 * time.Second)
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			if tr.StreamID() != "cam2" {
				t.Fatalf("the subscriber got video of %q, want cam2's", tr.StreamID())
			}
			break
		}
	}
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(sub.pc.CurrentRemoteDescription().SDP); err != nil {
		t.Fatal(err)
	}
	var live int
	for _, m := range parsed.MediaDescriptions {
		if m.MediaName.Media != "video" {
			continue
		}
		mid, _ := m.Attribute("mid")
		var exts []string
		for _, a := range m.Attributes {
			if a.Key == "extmap" {
				exts = append(exts, a.Value)
			}
		}
		if !strings.Contains(strings.Join(exts, " "), sdp.TransportCCURI) {
			t.Errorf("video section %s offered without transport-wide sequence numbers: %v", mid, exts)
		}
		switch msid, _ := m.Attribute("msid"); {
		case strings.HasPrefix(msid, "cam2 "):
			live++
		case !strings.HasPrefix(msid, "- "):
			t.Errorf("video section %s of the withdrawn track belongs to stream %q, want none", mid, msid)
		}
	}
	if live != 1 {
		t.Fatalf("%d video sections of cam2, want 1", live)
	}
}
