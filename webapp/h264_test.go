package webapp_test

import (
	"context"
	"testing"
	"time"

	"github.com/sealroom/sealroom/server/auth"
)

// TestBrowserH264Meeting: two Chromium participants and a Go participant, all of whom decode
// H.264, meet in H.264 (the room's first choice): each browser encrypts its camera as H.264
// under SFrame's NAL-aware layout (start codes and NAL headers clear, docs/protocol.md §3.2),
// the SFU forwards it reading only those clear bytes, and the other browser renders it
// decrypted; the Go participant decrypts both browsers' H.264 and the browsers its VP8.
func TestBrowserH264Meeting(t *testing.T) {
	needChromium(t)
	srv := startServer(t)
	browser := newBrowser(t)
	const room = "h264"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ada := joinChromium(t, browser, srv, room, "chromium dr-ada", "dr-ada", "Dr Ada", auth.RoleHost)
	browserPoll.Until(t, 20*time.Second, "ada's code", func() bool { return codePattern.MatchString(codeIn(t, ada.p)) })
	bob := joinChromium(t, browser, srv, room, "chromium patient", "patient-h", "Pat", auth.RoleParticipant)
	bot := joinGo(t, ctx, srv, room, "go-h")
	browsers := []*browserMember{ada, bob}
	meetingSettles(t, "Chromium, Chromium and Go in H.264", browsers, bot)
	for _, b := range browsers {
		l := layoutsOf(t, b.p)
		s := get[epochWorker](t, b.p, `window.sealroomStats()`)
		t.Logf("%s frames by codec: sent %v, decrypted %v; failed after keys %.0f (%v)", b.name, l.Encode, l.Decode, failedAfterKeys(s.Failures), s.Failures)
		if l.Encode["video/h264"] == 0 || l.Decode["video/h264"] == 0 || l.Encode["video/vp8"] != 0 {
			t.Errorf("%s: want H.264 sent and received, no VP8 sent: %+v", b.name, l)
		}
		workerKeptKeys(t, b.name, b.p)
	}
	gs := bot.m.Stats()
	t.Logf("go-h: room codec %s, decrypted video frames by layout %v, failures %v, sources %v", gs.RoomCodec, gs.Codecs, gs.Failures, gs.Sources)
	if gs.RoomCodec != "video/H264" || gs.Codecs["h264"] == 0 {
		t.Errorf("go-h: room codec %q, decrypted %v: want H.264 frames", gs.RoomCodec, gs.Codecs)
	}
	if n := goFailedAfterKeys(gs); n != 0 {
		t.Errorf("go-h: %d frames failed after it held its keys (%v)", n, gs.Failures)
	}
	t.Logf("SFU: %+v", srv.sfu.Counters())
}
