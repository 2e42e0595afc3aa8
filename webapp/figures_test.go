package webapp_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/servertest/poll"
)

// js runs a script in the page as a step; the script must return true when it did its job.
func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		ok, err := chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise)(ctx, t)
		if err == nil && !ok {
			err = fmt.Errorf("%s: returned false", expr)
		}
		return err
	})
}

// highQuality picks 1280x720 on the device check page and waits until the camera delivers it.
var highQuality = js(`(async () => {
  const q = document.getElementById('quality');
  q.value = '720';
  q.dispatchEvent(new Event('change'));
  const v = document.getElementById('preview');
  for (let i = 0; i < 100 && v.videoWidth !== 1280; i++) await new Promise((r) => setTimeout(r, 50));
  return v.videoWidth === 1280 && v.videoHeight === 720;
})()`)

// workerStats is what window.sealroomStats() reports, per kind.
type workerStats struct {
	Encrypted, Decrypted, Failed, Dropped float64
	Video, Audio                          kindStats
	Failures                              map[string]float64 // by SFrame error code
}

type kindStats struct {
	Encrypted, EncryptMs, EncryptBytes float64
	Decrypted, DecryptMs, DecryptBytes float64
}

func statsOf(t *testing.T, ctx context.Context) workerStats {
	t.Helper()
	return eval[workerStats](t, ctx, `window.sealroomStats()`)
}

// outboundVideo is the size and rate of what a page's encoder produces: of its largest
// simulcast layer.
type outboundVideo struct {
	Width, Height, FPS float64
	Limitation         string
}

const outboundVideoJS = `(async () => {
  let out = {width: 0, height: 0, fps: 0, limitation: ''};
  (await window.sealroomPC().getStats()).forEach((r) => {
    if (r.type === 'outbound-rtp' && r.kind === 'video' && (r.frameHeight ?? 0) >= out.height) out = {width: r.frameWidth ?? 0, height: r.frameHeight ?? 0, fps: r.framesPerSecond ?? 0, limitation: r.qualityLimitationReason ?? ''};
  });
  return out;
})()`

// TestBrowserFigures measures, in the real page: join-to-first-decrypted-frame over 10 joins
// (from pressing "Join now" to the first decrypted video frame of the host on screen), and
// the SFrame worker's per-frame encrypt and decrypt time for 1280x720 video. It asserts only
// that the figures exist (timings on a shared 2-core machine are reported, not asserted).
func TestBrowserFigures(t *testing.T) {
	needChromium(t)
	srv := startServer(t)
	browser := newBrowser(t)
	const room = "figures"

	host := tab(t, browser, srv.url+"/join#token="+srv.roomToken(t, room, "dr-hd", "Dr HD", auth.RoleHost), highQuality)
	hostID := eval[string](t, host, `window.sealroomMe()`)
	browserPoll.Until(t, 20*time.Second, "the host's security code", func() bool { return codePattern.MatchString(securityCodeOf(t, host)) })

	var joins []time.Duration
	var last context.Context
	for i := range 10 {
		sub := fmt.Sprintf("viewer-%d", i)
		ctx, closeTab := openTab(t, browser, srv.url+"/join#token="+srv.roomToken(t, room, sub, sub, auth.RoleParticipant))
		var ms float64
		browserPoll.UntilOr(t, 30*time.Second, sub+"'s first decrypted frame of the host", func() bool {
			m := eval[map[string]float64](t, ctx, `window.sealroomMetrics().firstFrameMs`)
			ms = m[hostID]
			return ms > 0
		}, func() any {
			return fmt.Sprintf("viewer code %q host code %q, viewer %v, host %v", securityCodeOf(t, ctx), securityCodeOf(t, host), mediaState(t, ctx), mediaState(t, host))
		})
		joins = append(joins, time.Duration(ms*float64(time.Millisecond)))
		if i == 9 {
			last = ctx
			break
		}
		run(t, ctx, sub+" leaves", press("#leave"))
		closeTab()
	}
	slices.Sort(joins)
	t.Logf("join-to-first-decrypted-frame over %d joins: p50 %v, min %v, max %v (all: %v)",
		len(joins), ((joins[4] + joins[5]) / 2).Round(time.Millisecond), joins[0].Round(time.Millisecond),
		joins[len(joins)-1].Round(time.Millisecond), joins)

	// Per-frame SFrame cost at 720p: the host encrypts its 1280x720 camera in three simulcast
	// layers (the full one once its encoder's bandwidth estimate has grown to carry it), the
	// last viewer decrypts the layer the SFU sends it (its only remote video). Counters over a
	// fresh 5-second window.
	poll.Every(250*time.Millisecond).Within(30*time.Second, func() bool {
		return eval[outboundVideo](t, host, outboundVideoJS).Height == 720
	})
	h0, v0 := statsOf(t, host), statsOf(t, last)
	time.Sleep(5 * time.Second)
	h1, v1 := statsOf(t, host), statsOf(t, last)
	out := eval[outboundVideo](t, host, outboundVideoJS)
	enc := h1.Video.Encrypted - h0.Video.Encrypted
	dec := v1.Video.Decrypted - v0.Video.Decrypted
	if enc == 0 || dec == 0 {
		t.Fatalf("no video frames in the window: host %+v, viewer %+v", h1, v1)
	}
	if out.Width != 1280 || out.Height != 720 {
		t.Logf("note: the host's encoder sent %vx%v (limitation %q), not 1280x720", out.Width, out.Height, out.Limitation)
	}
	t.Logf("SFrame worker, largest layer %vx%v at %.0f fps: encrypt %.3f ms/frame over all layers (%.0f frames, %.0f B avg), decrypt %.3f ms/frame (%.0f frames, %.0f B avg), failures at the viewer %v",
		out.Width, out.Height, out.FPS,
		(h1.Video.EncryptMs-h0.Video.EncryptMs)/enc, enc, (h1.Video.EncryptBytes-h0.Video.EncryptBytes)/enc,
		(v1.Video.DecryptMs-v0.Video.DecryptMs)/dec, dec, (v1.Video.DecryptBytes-v0.Video.DecryptBytes)/dec, v1.Failed)
}
