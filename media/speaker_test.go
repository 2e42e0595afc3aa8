package media

import (
	"testing"

	"github.com/pion/rtp"
)

// The active speaker is the loudest publisher whose held RFC 6464 level is at or above
// speakingLevel and fresh; levels come from the header extension the publisher negotiated.
// A loud moment is held for levelHold: a beep a second keeps its speaker speaking.
func TestLoudestSpeaker(t *testing.T) {
	sub := &Participant{id: "sub", downtracks: map[*publication]*downtrack{}}
	talk := func(id string, level byte, packets int, at int64, levelID uint8) *layer {
		pub := &publication{id: id + ":0", publisher: &Participant{id: id}, codec: CodecOpus}
		l := &layer{pub: pub, levelID: levelID}
		pub.layers = []*layer{l}
		sub.downtracks[pub] = &downtrack{pub: pub}
		for i := range packets {
			h := &rtp.Header{}
			if err := h.SetExtension(3, []byte{0x80 | level}); err != nil { // V flag set, RFC 6464 §3
				t.Fatal(err)
			}
			l.noteLevel(h, at+int64(i))
		}
		return l
	}
	talk("quiet", 90, 50, 0, 3)
	if s := sub.loudestSpeaker(100); s != "" {
		t.Fatalf("background noise at -90 dBov is a speaker: %q", s)
	}
	talk("ann", 30, 50, 0, 3)
	talk("bob", 20, 50, 0, 3)
	if s := sub.loudestSpeaker(100); s != "bob" {
		t.Fatalf("loudest %q, want bob (-20 dBov against -30)", s)
	}
	if s := sub.loudestSpeaker(100 + speakerFresh + 1); s != "" {
		t.Fatalf("stale levels still name %q", s)
	}
	// A beep, then silence: held for levelHold, then gone.
	beep := talk("beep", 10, 1, 1000, 3)
	for i := range 40 {
		h := &rtp.Header{}
		_ = h.SetExtension(3, []byte{0x80 | 127})
		beep.noteLevel(h, 1000+int64(i+1)*20e6)
	}
	if s := sub.loudestSpeaker(1000 + 40*20e6); s != "beep" {
		t.Fatalf("800 ms after a beep: %q, want beep", s)
	}
	for i := range 60 {
		h := &rtp.Header{}
		_ = h.SetExtension(3, []byte{0x80 | 127})
		beep.noteLevel(h, 1000+int64(41+i)*20e6)
	}
	if s := sub.loudestSpeaker(1000 + 100*20e6); s == "beep" {
		t.Fatal("2 s of silence after a beep: still speaking")
	}
	delete(sub.downtracks, beep.pub)
	// A publisher without the extension negotiated, or that sent no level yet, never counts.
	talk("nox", 5, 50, 0, 0)
	talk("new", 0, 0, 0, 3)
	if s := sub.loudestSpeaker(100); s != "bob" {
		t.Fatalf("loudest %q, want bob", s)
	}
}
