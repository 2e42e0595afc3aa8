package webapp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/server/auth"
)

// TestAV1Meeting: with AV1 first in the SFU's codec order (serve --video-codecs), a Chromium
// clinician, a Firefox patient and a Go participant meet in AV1 under SFrame with the
// OBU-aware layout (docs/protocol.md §3.3): each browser encrypts AV1 frames whose OBU
// headers the RTP packetizer reads, each decrypts and renders the other's, the Go participant
// (publishing VP8, which all decode) decrypts both browsers' AV1, and no frame fails once a
// member holds its keys.
func TestAV1Meeting(t *testing.T) {
	needChromium(t)
	needFirefox(t)
	srv := startServerMedia(t, func(c *media.Config) {
		c.VideoCodecs = []string{"video/AV1", "video/H264", "video/VP9", "video/VP8"}
	})
	browser := newBrowser(t)
	ff := newFirefox(t)
	ada := chromiumPage{tab(t, browser, srv.url+"/join#token="+srv.token(t, "dr-ada", "Dr Ada", auth.RoleHost))}
	fox := ff.join(t, srv.url+"/join#token="+srv.token(t, "patient-ff", "Pat Fox", auth.RoleParticipant))
	browserPoll.Until(t, 30*time.Second, "the same code", func() bool {
		a, b := codeIn(t, ada), codeIn(t, fox)
		return codePattern.MatchString(a) && a == b
	})
	adaID, foxID := get[string](t, ada, `window.sealroomMe()`), get[string](t, fox, `window.sealroomMe()`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bot := joinGo(t, ctx, srv, testRoom, "go-av1")
	browserPoll.UntilOr(t, 45*time.Second, "the Go participant to decrypt both browsers' AV1", func() bool {
		s := bot.m.Stats()
		return s.RoomCodec == "video/AV1" && s.Codecs["av1"] > 10 && s.Sources[adaID].Video > 0 && s.Sources[foxID].Video > 0
	}, func() any { return fmt.Sprintf("%+v", bot.m.Stats()) })
	botID := bot.c.ParticipantID()
	for _, c := range []struct {
		name, id string
		p        page
	}{{"firefox renders ada", adaID, fox}, {"ada renders firefox", foxID, ada}, {"firefox renders the Go participant", botID, fox}, {"ada renders the Go participant", botID, ada}} {
		browserPoll.UntilOr(t, 45*time.Second, c.name+" in AV1", func() bool {
			l := layoutsOf(t, c.p)
			return l.Decode["video/av1"] > 10 && rendersFrom(t, c.p, c.id)
		}, func() any { return fmt.Sprintf("%+v %s", srv.sfu.Counters(), pageState(t, c.p)) })
	}
	for _, b := range []struct {
		name string
		p    page
	}{{"chromium", ada}, {"firefox", fox}} {
		l := layoutsOf(t, b.p)
		s := get[epochWorker](t, b.p, `window.sealroomStats()`)
		t.Logf("%s frames by codec: sent %v, decrypted %v; failures %v", b.name, l.Encode, l.Decode, s.Failures)
		if l.Encode["video/av1"] == 0 || l.Decode["video/av1"] == 0 {
			t.Errorf("%s: no AV1 frames each way (%+v)", b.name, l)
		}
		workerKeptKeys(t, b.name, b.p)
	}
	gs := bot.m.Stats()
	t.Logf("go-av1: room codec %s, decrypted video frames by layout %v, failures %v", gs.RoomCodec, gs.Codecs, gs.Failures)
	if n := goFailedAfterKeys(gs); n != 0 {
		t.Errorf("go-av1: %d frames failed after it held its keys (%v)", n, gs.Failures)
	}
	t.Logf("SFU: %+v", srv.sfu.Counters())
}
