//go:build linux

package webapp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/servertest/netns"
)

// layerEvent is one entry of the page's log of what the SFU told it about video
// (window.sealroomLayers): a layer switch of a participant, or video paused or resumed.
type layerEvent struct {
	ID     string `json:"id"`
	RID    string `json:"rid"`
	Height int    `json:"height"`
	Paused *bool  `json:"paused"`
	At     int64  `json:"at"` // Unix milliseconds, the page's clock (this machine's)
}

type outbound struct {
	RID    string `json:"rid"`
	Height int    `json:"height"`
	Frames int    `json:"frames"`
	Bytes  int    `json:"bytes"`
	Limit  string `json:"limit"`
}

// TestBrowserSimulcastUnderLimit: a clinician's Chromium publishes its 720p camera in
// three simulcast layers, under SFrame; a patient's Chromium receives it inside a network
// namespace whose downlink the test limits with tc (a token bucket filter; this kernel has
// no netem). As the limit tightens the SFU
// moves the patient to the low layer, then to audio only (the page says video is paused),
// and back up when the limit lifts; the patient's page is told each switch, and the test
// reports how long each took from the limit changing. Without a limit the layer follows the
// size the patient's page shows the video at: the half layer in a phone's tile, the full one
// in a large tile, the quarter one in a thumbnail.
func TestBrowserSimulcastUnderLimit(t *testing.T) {
	needChromium(t)
	netns.Need(t)
	ns := netns.New(t)
	srv := startFieldServer(t, ns.HostIP, "udp")
	clinician := newBrowser(t, chromedp.Flag("unsafely-treat-insecure-origin-as-secure", srv.url))
	patient := nsBrowser(t, ns, srv.url, "")

	pub := tab(t, clinician, srv.url+"/join#token="+srv.token(t, "dr-ada", "Ada", auth.RoleHost), highQuality)
	sub := tab(t, patient, srv.url+"/join#token="+srv.token(t, "patient-7", "Pat", auth.RoleParticipant))
	pubID := eval[string](t, pub, `window.sealroomMe()`)

	var out []outbound
	browserPoll.UntilOr(t, 60*time.Second, "the clinician to send three layers", func() bool {
		out = eval[[]outbound](t, pub, `window.sealroomOutbound()`)
		sending := 0
		for _, o := range out {
			if o.Frames > 0 && o.RID != "" {
				sending++
			}
		}
		return sending == 3
	}, func() any { return out })
	t.Logf("the clinician encodes %+v", out)

	// layers is the patient's page's log of what the SFU told it. A page that reloaded
	// (it gave its session up and rejoined) has lost it: that is a failure of its own,
	// named as such, not an error evaluating the log.
	layers := func() []layerEvent {
		t.Helper()
		ev := eval[*[]layerEvent](t, sub, `window.sealroomLayers?.() ?? null`)
		if ev == nil {
			t.Fatalf("the patient's page reloaded; it says %q", eval[string](t, sub, `document.getElementById('status')?.textContent ?? ''`))
		}
		return *ev
	}
	layerNow := func() (string, bool) {
		ev := layers()
		rid, paused := "", false
		for _, e := range ev {
			if e.Paused != nil {
				paused = *e.Paused
			} else if e.ID == pubID {
				rid = e.RID
			}
		}
		return rid, paused
	}
	// since waits for the page to be told of rid (or of a pause, rid ""), and reports how
	// long after from that took, by the page's clock.
	since := func(from time.Time, rid string, timeout time.Duration) time.Duration {
		t.Helper()
		var at int64
		browserPoll.UntilOr(t, timeout, fmt.Sprintf("the patient's page told %q", rid), func() bool {
			ev := layers()
			for _, e := range ev {
				if e.At < from.UnixMilli() {
					continue
				}
				if rid == "" && e.Paused != nil && *e.Paused || rid != "" && e.Paused == nil && e.ID == pubID && e.RID == rid {
					at = e.At
					return true
				}
			}
			return false
		}, func() any {
			return map[string]any{"events": layers(), "clinician sends": eval[[]outbound](t, pub, `window.sealroomOutbound()`)}
		})
		return time.Duration(at-from.UnixMilli()) * time.Millisecond
	}
	rendering := func(what string) {
		t.Helper()
		browserPoll.UntilOr(t, 20*time.Second, "the patient to render the clinician's decrypted video "+what, func() bool {
			return brightFrom(t, sub, pubID)
		}, func() any { return mediaState(t, sub) })
	}

	// The patient's phone shows the clinician in a tile about 230 pixels high: the half
	// layer (360 lines) is what it needs, and what its unlimited link then gets (the full
	// one, should the page lay its tiles out taller).
	start := time.Now()
	rendering("first") // the tile has the video's proportions once frames come
	tileHeight := eval[float64](t, sub, fmt.Sprintf(`document.querySelector('#tile-%s video').clientHeight * devicePixelRatio`, pubID))
	want := "h"
	if tileHeight > 360 {
		want = "f"
	}
	browserPoll.UntilOr(t, 60*time.Second, fmt.Sprintf("the patient on layer %s, which its %.0f-pixel tile needs", want, tileHeight), func() bool {
		rid, paused := layerNow()
		return rid == want && !paused
	}, func() any { return layers() })
	rendering("on the layer its tile needs")
	t.Logf("the patient receives layer %s for its %.0f-pixel tile %v after joining", want, tileHeight, time.Since(start).Round(time.Millisecond))

	// The limit lies halfway between the quarter and the half layer's rates as the clinician
	// sends them now (they depend on the picture), plus room for audio: the estimate (GCC
	// settles near 85% of a congested link) then carries audio and the quarter layer with the
	// headroom a resume needs, should it dip below them first, and not the half one.
	rates := layerRates(t, pub, 3*time.Second)
	limit := (rates["q"]+rates["h"])/2 + 60
	t.Logf("the clinician's layers: %v kbit/s; the patient's downlink limited to %d kbit/s", rates, limit)
	// What the SFU did under each limit (retransmissions answer the patient's NACKs on
	// top of what the estimate allots, keyframes follow its requests): printed with the
	// figures, so that a run that goes wrong says how.
	sfuBefore := srv.sfu.Counters()
	sfuSince := func(what string) {
		c := srv.sfu.Counters()
		t.Logf("SFU %s: retransmitted %d, NACK misses %d, keyframe requests forwarded %d (%d over the limit), layer switches %d, video pauses %d, resumes %d, retries %d",
			what, c.Retransmitted-sfuBefore.Retransmitted, c.NACKMisses-sfuBefore.NACKMisses, c.PLIForwarded-sfuBefore.PLIForwarded,
			c.PLIRateLimited-sfuBefore.PLIRateLimited, c.LayerSwitches-sfuBefore.LayerSwitches, c.VideoPauses-sfuBefore.VideoPauses,
			c.VideoResumes-sfuBefore.VideoResumes, c.VideoRetries-sfuBefore.VideoRetries)
		sfuBefore = c
	}
	defer func() {
		if t.Failed() {
			sfuSince("up to the failure")
		}
	}()
	limited := time.Now()
	ns.Limit(t, limit)
	toLow := since(limited, "q", 60*time.Second)
	rendering("on the low layer")
	sfuSince(fmt.Sprintf("under %d kbit/s", limit))

	cut := time.Now()
	ns.Limit(t, 60)
	toAudio := since(cut, "", 60*time.Second)
	audio0 := eval[map[string]audioStats](t, sub, `window.sealroomAudio()`)[pubID]
	browserPoll.UntilOr(t, 20*time.Second, "the patient to keep hearing the clinician with video paused", func() bool {
		a := eval[map[string]audioStats](t, sub, `window.sealroomAudio()`)[pubID]
		return a.Samples > audio0.Samples+48000
	}, func() any { return eval[map[string]audioStats](t, sub, `window.sealroomAudio()`) })
	// The SFU tries the video again after a pause (2 s, then 4, 8, 16: it has no other
	// way to learn that the link recovered), so the pause comes and goes while the limit
	// holds: what must hold is that the tile says paused whenever the page was last told
	// so, read in one step.
	browserPoll.UntilOr(t, 30*time.Second, "the clinician's tile to say its video is paused", func() bool {
		return eval[bool](t, sub, fmt.Sprintf(`(() => {
			const last = (window.sealroomLayers?.() ?? []).filter((e) => e.paused != null).pop();
			return Boolean(last?.paused) && document.getElementById('tile-%s')?.dataset.paused === '1';
		})()`, pubID))
	}, func() any { return layers() })

	sfuSince("under 60 kbit/s")
	lifted := time.Now()
	ns.Limit(t, 0)
	toBack := since(lifted, want, 90*time.Second)
	rendering("back on the layer its tile needs")
	t.Logf("limit to %d kbit/s: on the low layer after %v; to 60 kbit/s: audio only after %v; limit lifted: back on layer %s after %v",
		limit, toLow.Round(time.Millisecond), toAudio.Round(time.Millisecond), want, toBack.Round(time.Millisecond))

	// The patient turns the phone or zooms the tile to 720 CSS pixels: the full layer; then
	// shrinks it to 60: the quarter layer (180 lines) is enough.
	resize := func(height string) time.Time {
		eval[any](t, sub, fmt.Sprintf(`(() => { document.querySelector('#tile-%s video').style.cssText = 'max-height: none; height: %s'; return null; })()`, pubID, height))
		return time.Now()
	}
	toFull := since(resize("720px"), "f", 30*time.Second)
	rendering("on the full layer")
	toSmall := since(resize("60px"), "q", 30*time.Second)
	t.Logf("tile grown to 720 px: on the full layer after %v; shrunk to 60 px: on the low layer after %v", toFull.Round(time.Millisecond), toSmall.Round(time.Millisecond))
	w := epochStatsOf(t, sub)
	if n := failedAfterKeys(w.Failures); n != 0 {
		t.Errorf("the patient's worker dropped %v frames after it held its keys: %v", n, w.Failures)
	}
	t.Logf("patient's worker: decrypted %v, failures %v; SFU events %v", w.Decrypted, w.Failures, layers())
}

// layerRates measures, over window, what the page sends of each simulcast layer, in kbit/s
// of payload, by rid.
func layerRates(t *testing.T, p context.Context, window time.Duration) map[string]int {
	t.Helper()
	bytes := func() map[string]int {
		out := map[string]int{}
		for _, o := range eval[[]outbound](t, p, `window.sealroomOutbound()`) {
			out[o.RID] = o.Bytes
		}
		return out
	}
	b0, t0 := bytes(), time.Now()
	time.Sleep(window) // a measuring window, not a wait for an event
	b1, d := bytes(), time.Since(t0)
	rates := map[string]int{}
	for rid, n := range b1 {
		rates[rid] = int(float64(n-b0[rid]) * 8 / d.Seconds() / 1000)
	}
	return rates
}
