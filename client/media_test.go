package client

import (
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/signaling"
)

// The client is the impolite peer: while its own offer is unanswered, an SFU offer is
// ignored (the SFU abandons it and offers again after answering), not applied.
func TestImpoliteIgnoresCrossingOffer(t *testing.T) {
	api, err := newMediaAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	m := &Media{pc: pc, offerPending: true, stats: newStatsBook(), done: make(chan struct{})}
	crossing := signaling.Media{Type: signaling.MediaOffer, ID: 3, SDP: "not an SDP"}
	if err := m.handle(crossing); err != nil {
		t.Fatalf("crossing offer: %v", err)
	}
	if pc.RemoteDescription() != nil {
		t.Fatal("crossing offer applied")
	}
	// Once our offer is answered, the SFU's next offer is processed (this one is refused
	// for its SDP, which shows it was not ignored).
	m.offerPending = false
	if err := m.handle(crossing); err == nil {
		t.Fatal("offer after our answer was ignored")
	}
}
