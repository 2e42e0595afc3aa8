package webapp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/server/auth"
)

// TestBrowserOnScreen checks what people expect on screen, as DOM state: a self-view of the
// own camera apart from the others' tiles; the tile of whoever speaks highlighted, from the
// audio level each microphone reports in the clear (RFC 6464, read by the SFU: the fake
// microphone beeps), and no longer once that participant mutes; and, where the SFU cannot
// carry video to a participant (its per-subscriber ceiling below the lowest video), every
// remote tile saying the video is paused to save bandwidth, while audio plays on.
func TestBrowserOnScreen(t *testing.T) {
	needChromium(t)
	srv := startServer(t)
	browser := newBrowser(t)
	const room = "onscreen"
	ada := chromiumPage{tab(t, browser, srv.url+"/join#token="+srv.roomToken(t, room, "dr-ada", "Dr Ada", auth.RoleHost))}
	bob := chromiumPage{tab(t, browser, srv.url+"/join#token="+srv.roomToken(t, room, "patient-b", "Pat", auth.RoleParticipant))}
	bobID := get[string](t, bob, `window.sealroomMe()`)

	browserPoll.Until(t, 20*time.Second, "ada's self-view playing, outside the remote tiles", func() bool {
		return get[bool](t, ada, `(() => { const f = document.getElementById('self-view'); const v = document.getElementById('self-video'); return !f.hidden && v.videoWidth > 0 && !document.querySelector('#videos #self-video'); })()`)
	})
	browserPoll.UntilOr(t, 30*time.Second, "bob's tile highlighted as speaking at ada", func() bool {
		return get[bool](t, ada, fmt.Sprintf(`document.body.dataset.speaker === %q && !!document.querySelector('#tile-%s.speaking')`, bobID, bobID))
	}, func() any {
		return string(ada.evalJSON(t, `[document.body.dataset.speaker ?? null, [...document.querySelectorAll('#videos .tile')].map((t) => t.id + ':' + t.className)]`))
	})
	get[bool](t, bob, `(() => { document.getElementById('mute').click(); return true; })()`)
	browserPoll.Until(t, 20*time.Second, "bob's highlight gone once he muted", func() bool {
		return get[bool](t, ada, fmt.Sprintf(`document.body.dataset.speaker !== %q && !document.querySelector('#tile-%s.speaking')`, bobID, bobID))
	})
	// A loaded machine may stall the path for a moment and the SFU pause video while it
	// does; on a free path no tile stays paused.
	browserPoll.UntilOr(t, 20*time.Second, "no tile saying video is paused on a free path", func() bool {
		return get[int](t, ada, `document.querySelectorAll('#videos .paused').length`) == 0
	}, func() any { return get[int](t, ada, `document.querySelectorAll('#videos .paused').length`) })
	t.Logf("self-view shown; bob highlighted while he spoke, not after he muted")

	// An SFU that carries at most 100 kbit/s to each participant: audio fits, no video layer does.
	thin := startServerMedia(t, func(c *media.Config) { c.InitialBitrate, c.MaxBitrate = 100_000, 100_000 })
	cat := chromiumPage{tab(t, browser, thin.url+"/join#token="+thin.roomToken(t, room, "dr-cat", "Dr Cat", auth.RoleHost))}
	dan := chromiumPage{tab(t, browser, thin.url+"/join#token="+thin.roomToken(t, room, "patient-d", "Dan", auth.RoleParticipant))}
	danID := get[string](t, dan, `window.sealroomMe()`)
	browserPoll.UntilOr(t, 30*time.Second, "dan's tile at cat saying its video is paused to save bandwidth", func() bool {
		return get[bool](t, cat, fmt.Sprintf(`(() => { const t = document.getElementById('tile-%s'); return !!t && t.dataset.paused === '1' && /Video paused to save bandwidth/.test(t.textContent); })()`, danID))
	}, func() any {
		return string(cat.evalJSON(t, `[document.getElementById('status').textContent, [...document.querySelectorAll('#videos .tile')].map((t) => t.id + ':' + t.dataset.paused)]`))
	})
	first := get[map[string]audioStats](t, cat, `window.sealroomAudio()`)
	browserPoll.Until(t, 15*time.Second, "dan's audio still playing at cat", func() bool {
		return get[map[string]audioStats](t, cat, `window.sealroomAudio()`)[danID].Samples > first[danID].Samples
	})
	t.Logf("on a 100 kbit/s ceiling the tile says the video is paused to save bandwidth, audio plays on; SFU %+v", thin.sfu.Counters())
}
