package media

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/servertest/poll"
)

// A client (the controlling ICE agent) may move its media to another pair
// whose checks succeeded, without the SFU's ICE agent reporting a new
// selected pair. Its media must still reach its subscribers: the guard
// binds every validated address of the participant, not only the first
// selected one.
func TestPublisherMovesToOtherValidPair(t *testing.T) {
	s := newTestSFU(t, nil)
	tn, err := newTwoAddrNet()
	if err != nil {
		t.Fatal(err)
	}
	api := loopbackAPI(t, func(se *webrtc.SettingEngine) {
		se.SetNet(tn)
		se.SetICETimeouts(300*time.Millisecond, 30*time.Second, 100*time.Millisecond)
		// Renomination under an attribute the SFU does not know: it sees
		// plain USE-CANDIDATE on a lower-priority pair and keeps its
		// selected pair (RFC 8445 §7.3.1.5), as with Chrome.
		if err := se.SetICERenomination(webrtc.WithRenominationInterval(50*time.Millisecond),
			webrtc.WithRenominationNominationAttribute(0xC0DE)); err != nil {
			t.Fatal(err)
		}
	})
	bob := joinClient(t, s, "r", "bob", Grants{CanSubscribe: true})
	alice := joinClientAPI(t, s, "r", "alice", Grants{CanPublish: true}, nil, api)
	audio := newSender(t, CodecOpus, "mic", "alice", "", "a")
	if _, err := alice.pc.AddTrack(audio.track); err != nil {
		t.Fatal(err)
	}
	alice.offer()
	alice.waitConnected()
	audio.start(10 * time.Millisecond)
	defer audio.halt()
	tr := bob.nextTrack(10 * time.Second)
	_ = tr.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := tr.ReadRTP(); err != nil {
		t.Fatalf("before the move: %v", err)
	}

	tn.cut.Store(true)
	poll.Until(t, 10*time.Second, "alice's media on her other pair", func() bool {
		cp, err := alice.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		return err == nil && cp != nil && cp.Local.Address == "127.0.0.2"
	})
	// Drain what was queued before the move, then require fresh packets.
	time.Sleep(200 * time.Millisecond)
	got := 0
	deadline := time.Now().Add(3 * time.Second)
	for got < 50 && time.Now().Before(deadline) {
		_ = tr.SetReadDeadline(deadline)
		if _, _, err := tr.ReadRTP(); err != nil {
			break
		}
		got++
	}
	if got < 50 {
		t.Fatalf("bob got %d packets after alice moved to her other pair; counters %+v", got, s.Counters())
	}
}
