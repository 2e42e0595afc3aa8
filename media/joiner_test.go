package media

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/servertest/poll"
	"github.com/sealroom/sealroom/server/signaling"
)

// A joiner that publishes right after joining a room with tracks (the
// browser does ~300 ms after ready) must still receive the room's tracks,
// whether its offer follows its answer to the SFU's second offer or
// crosses that offer (glare: the SFU yields).
func TestJoinerRenegotiatesStillReceives(t *testing.T) {
	t.Run("after-second-answer", func(t *testing.T) { joinerRenegotiates(t, false) })
	t.Run("crossing-second-offer", func(t *testing.T) { joinerRenegotiates(t, true) })
}

func joinerRenegotiates(t *testing.T, cross bool) {
	s := newTestSFU(t, nil)
	alice := joinClient(t, s, "r", "alice", Grants{CanPublish: true, CanSubscribe: true})
	video := newSender(t, CodecVP8, "cam", "alice", "", "v")
	audio := newSender(t, CodecOpus, "mic", "alice", "", "a")
	if _, err := alice.pc.AddTrack(video.track); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.pc.AddTrack(audio.track); err != nil {
		t.Fatal(err)
	}
	alice.offer()
	alice.waitConnected()
	video.start(10 * time.Millisecond)
	audio.start(20 * time.Millisecond)
	defer video.halt()
	defer audio.halt()
	poll.Until(t, 10*time.Second, "alice's publications", func() bool {
		alice.part.pubMu.Lock()
		defer alice.part.pubMu.Unlock()
		return len(alice.part.pubs) == 2
	})

	bv := newSender(t, CodecVP8, "bcam", "bob", "", "bv")
	ba := newSender(t, CodecOpus, "bmic", "bob", "", "ba")
	publish := func(c *client) {
		for _, tr := range []webrtc.TrackLocal{bv.track, ba.track} {
			if _, err := c.pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
				t.Error(err)
			}
		}
	}
	var hook func(*client, signaling.Media)
	if cross {
		// Bob offers before he sees the SFU's second offer, which he
		// then ignores as the impolite peer.
		hook = func(c *client, m signaling.Media) {
			if m.Type != signaling.MediaOffer || m.ID != 2 {
				return
			}
			c.negMu.Lock()
			defer c.negMu.Unlock()
			publish(c)
			c.offerHeld()
		}
	}
	bob := joinClientHook(t, s, "r", "bob", Grants{CanPublish: true, CanSubscribe: true}, nil, loopbackAPI(t), hook)
	if !cross {
		poll.Until(t, 10*time.Second, "bob answered the SFU's second offer", func() bool {
			bob.part.negMu.Lock()
			defer bob.part.negMu.Unlock()
			return bob.part.offerID >= 2 && bob.part.offer == nil
		})
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
		publish(bob)
		bob.offer()
	}
	bv.start(10 * time.Millisecond)
	ba.start(20 * time.Millisecond)
	defer bv.halt()
	defer ba.halt()

	got := map[webrtc.RTPCodecType]*webrtc.TrackRemote{}
	for range 2 {
		tr := bob.nextTrack(10 * time.Second)
		got[tr.Kind()] = tr
	}
	for kind, tr := range got {
		_ = tr.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := tr.ReadRTP(); err != nil {
			t.Fatalf("bob reads alice's %s: %v", kind, err)
		}
	}
}

// offerHeld is offer with negMu already held.
func (c *client) offerHeld() {
	c.t.Helper()
	o, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.t.Error(err)
		return
	}
	g := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(o); err != nil {
		c.t.Error(err)
		return
	}
	<-g
	if err := c.part.HandleOffer(c.pc.LocalDescription().SDP); err != nil {
		c.t.Errorf("HandleOffer: %v", err)
	}
}
