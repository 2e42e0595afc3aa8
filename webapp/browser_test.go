package webapp_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/servertest/poll"
)

// chromiumPath is Debian's Chromium. Without it the browser test fails in CI (CI=true) and
// is skipped, loudly, elsewhere.
const chromiumPath = "/usr/bin/chromium"

var codePattern = regexp.MustCompile(`^\d\d( \d\d){5}$`)

// browserPoll checks conditions that evaluate script in a browser: each check is a
// DevTools round trip, so they run every 100 ms rather than the default 10.
var browserPoll = poll.Every(100 * time.Millisecond)

func needChromium(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium missing at %s (apt-get install -y chromium): the browser test must run in CI", chromiumPath)
		}
		t.Skipf("SKIPPED LOUDLY: Chromium missing at %s; install it with apt-get install -y chromium", chromiumPath)
	}
}

// chromiumOptions are the flags every browser test starts Debian's Chromium with: headless,
// a fresh profile, a fake camera and microphone, no background networking, WebRTC host
// candidates without mDNS names, no throttling of background tabs, a phone-sized viewport.
func chromiumOptions(t *testing.T) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(412, 915), // a phone-sized viewport
	}
}

// newBrowser starts a headless Chromium with a fake camera and microphone, a fresh profile,
// and WebRTC allowed on loopback without mDNS names (the SFU listens on 127.0.0.1).
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(append(chromiumOptions(t), chromedp.Flag("allow-loopback-in-peer-connection", true)), extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// tab opens a new tab of the browser and joins through an invite link; before runs on the
// device check page, before "Join now".
func tab(t *testing.T, browser context.Context, url string, before ...chromedp.Action[chromedp.Void]) context.Context {
	t.Helper()
	ctx, _ := openTab(t, browser, url, before...)
	return ctx
}

// openTab is tab that also returns a function closing the tab.
func openTab(t *testing.T, browser context.Context, url string, before ...chromedp.Action[chromedp.Void]) (context.Context, context.CancelFunc) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// The first run opens the tab and must not carry a timeout: the tab lives as long as it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	c, cancel3 := context.WithTimeout(ctx, 30*time.Second)
	defer cancel3()
	steps := append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(url), chromedp.WaitEnabled(chromedp.CSS("#enter"))}, before...)
	steps = append(steps, press("#enter"), chromedp.WaitVisible(chromedp.CSS("#meeting-view")))
	if err := chromedp.Do(c, steps...); err != nil {
		page := eval[string](t, ctx, `[...document.querySelectorAll('section')].filter(s => !s.hidden).map(s => s.id).join(',') + ' | ' + document.getElementById('status').textContent + ' | ' + document.getElementById('device-error').textContent + ' | enter disabled: ' + document.getElementById('enter').disabled`)
		t.Fatalf("join: %v (page: %s)", err, page)
	}
	return ctx, cancel
}

// press activates a button the way a keyboard user does (focus, then the button's click),
// so a layout shift (the camera preview starting) cannot move it away from a mouse click.
func press(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.Focus(chromedp.CSS(sel)),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(() => { const b = document.activeElement; if (!b || b.disabled) return false; b.click(); return true; })()`)(ctx, t)
			return err
		}))
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := chromedp.Run(c, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %q: %v", expr, err)
	}
	return out
}

func securityCodeOf(t *testing.T, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, `document.getElementById('security-code').textContent`)
}

func chatText(t *testing.T, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, `document.getElementById('chat-log').textContent`)
}

func sendChat(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	run(t, ctx, "chat", chromedp.SetValue(chromedp.CSS("#chat-input"), text), press("#chat-form button"))
}

// expectChat waits for the Go member's next chat and checks its sender and text.
func expectChat(t *testing.T, c *client.Client, from, text string) {
	t.Helper()
	select {
	case ch := <-c.Chats():
		if ch.From != from || string(ch.Text) != text {
			t.Fatalf("the Go member read %q from %s, want %q from %s", ch.Text, ch.From, text, from)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the Go member did not get %s's chat", from)
	}
}

// goCode is code.js's security code, from the Go client's epoch authenticator.
func goCode(auth []byte) string {
	bits := (uint32(auth[0])<<24 | uint32(auth[1])<<16 | uint32(auth[2])<<8 | uint32(auth[3])) >> 2
	var g []string
	for i := 5; i >= 0; i-- {
		g = append(g, twoDigits((bits>>(5*i))&31))
	}
	return strings.Join(g, " ")
}

func twoDigits(v uint32) string {
	return string([]byte{byte('0' + v/10), byte('0' + v%10)})
}

// videoCheck is evaluated in a page: for every remote video, whether it plays decoded frames
// that are not black (mean luma of a canvas copy above 16).
const videoCheck = `(() => {
  const out = [];
  for (const v of document.querySelectorAll('#videos video')) {
    if (!v.videoWidth) { out.push(0); continue; }
    const c = document.createElement('canvas');
    c.width = 64; c.height = 48;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, 64, 48);
    const d = g.getImageData(0, 0, 64, 48).data;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    out.push(sum / (d.length / 4));
  }
  return out;
})()`

// colorOf is colorIn for a Chromium tab.
func colorOf(t *testing.T, ctx context.Context, id string) [3]float64 {
	t.Helper()
	return colorIn(t, chromiumPage{ctx}, id)
}

// brightFrom is rendersFrom for a Chromium tab.
func brightFrom(t *testing.T, ctx context.Context, id string) bool {
	return rendersFrom(t, chromiumPage{ctx}, id)
}

// audioStats is what window.sealroomAudio() reports for one remote participant.
type audioStats struct {
	Samples, Concealed, Energy, Level float64
}

// reddish is the screen share's colour (the canvas below), far from the fake camera's.
func reddish(c [3]float64) bool { return c[0] > 150 && c[1] < 90 && c[2] < 90 }

// shareCanvas shares a red canvas through the page's screen-share path (window.sealroomShare
// is what getDisplayMedia's track goes through; headless Chromium has no screen to pick).
const shareCanvas = `(async () => {
  const c = document.createElement('canvas');
  c.width = 640; c.height = 360;
  const g = c.getContext('2d');
  let n = 0;
  setInterval(() => { g.fillStyle = 'rgb(220,20,20)'; g.fillRect(0, 0, 640, 360); g.fillStyle = '#fff'; g.fillRect((n++ * 7) % 600, 10, 24, 24); }, 66);
  await window.sealroomShare(c.captureStream(15).getVideoTracks()[0]);
  return window.sealroomMetrics().sharing;
})()`

func bright(t *testing.T, ctx context.Context) bool {
	lumas := eval[[]float64](t, ctx, videoCheck)
	for _, l := range lumas {
		if l > 16 {
			return true
		}
	}
	return false
}

// mediaState is the page's view of its media, for diagnostics: worker counts (no keys),
// signaling states, transceivers and received packets.
func mediaState(t *testing.T, ctx context.Context) any {
	return eval[any](t, ctx, `(async () => ({stats: await window.sealroomStats(), debug: window.sealroomDebug?.(), inbound: await window.sealroomInbound()}))()`)
}

func artifactDir(t *testing.T) string {
	if d := os.Getenv("SEALROOM_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err == nil {
			return d
		}
	}
	return t.TempDir()
}

// TestBrowserMeeting drives the real page in Debian's Chromium against a real server:
// join by invite link, participant list and security code; a second browser participant
// with the same code and encrypted chat both ways; decrypted, non-black video both ways;
// then a Go participant, whose join and leave change the code.
func TestBrowserMeeting(t *testing.T) {
	needChromium(t)
	srv := startServer(t)
	browser := newBrowser(t)
	start := time.Now()

	// (a) The clinician joins alone: she creates the group and sees a code.
	alice := tab(t, browser, srv.url+"/join#token="+srv.token(t, "dr-ada", "Dr Ada", auth.RoleHost))
	if u := eval[string](t, alice, `location.href`); strings.Contains(u, "token") {
		t.Fatalf("the token stayed in the address bar: %s", u)
	}
	browserPoll.Until(t, 20*time.Second, "alice's security code", func() bool { return codePattern.MatchString(securityCodeOf(t, alice)) })
	if n := eval[int](t, alice, `document.querySelectorAll('#participants li').length`); n != 1 {
		t.Fatalf("alice sees %d participants, want 1", n)
	}

	// (b) The patient joins: same code, chat both ways.
	bobJoined := time.Now()
	bob := tab(t, browser, srv.url+"/join#token="+srv.token(t, "patient-7", "Pat", auth.RoleParticipant))
	var code string
	browserPoll.Until(t, 20*time.Second, "the same security code in both tabs", func() bool {
		a, b := securityCodeOf(t, alice), securityCodeOf(t, bob)
		code = a
		return codePattern.MatchString(a) && a == b && eval[int](t, alice, `document.querySelectorAll('#participants li').length`) == 2
	})
	t.Logf("both browsers joined in %v, security code %s", time.Since(start).Round(time.Millisecond), code)
	roster := eval[string](t, bob, `document.getElementById('participants').textContent`)
	if !strings.Contains(roster, "Dr Ada") || !strings.Contains(roster, "host") || !strings.Contains(roster, "Pat") {
		t.Fatalf("bob's participant list: %q", roster)
	}
	sendChat(t, alice, "hello from the clinician")
	browserPoll.Until(t, 10*time.Second, "bob to read alice's chat", func() bool { return strings.Contains(chatText(t, bob), "hello from the clinician") })
	sendChat(t, bob, "hello from the patient")
	browserPoll.Until(t, 10*time.Second, "alice to read bob's chat", func() bool { return strings.Contains(chatText(t, alice), "hello from the patient") })

	// (c) Decrypted, non-black video both ways. Bob joins a room that already has tracks and
	// publishes right after the SFU's first offer; he must render Alice's video too.
	mediaStart := time.Now()
	browserPoll.Until(t, 30*time.Second, "decrypted video at alice", func() bool { return bright(t, alice) })
	t.Logf("alice renders Bob's decrypted video %v after Bob joined", time.Since(bobJoined).Round(time.Millisecond))
	browserPoll.UntilOr(t, 10*time.Second, "decrypted video at bob", func() bool { return bright(t, bob) },
		func() any { return mediaState(t, bob) })
	t.Logf("bob renders Alice's decrypted video too (%v)", time.Since(mediaStart).Round(time.Millisecond))
	stats := statsOf(t, alice)
	if stats.Decrypted == 0 || stats.Encrypted == 0 {
		t.Fatalf("SFrame worker counts at alice: %+v", stats)
	}

	// Alice shares her screen: the share replaces her camera behind the same SFrame
	// transform, Bob sees it decrypted, and her camera comes back when she stops.
	aliceID := eval[string](t, alice, `window.sealroomMe()`)
	run(t, alice, "share the screen", js(shareCanvas))
	browserPoll.UntilOr(t, 15*time.Second, "bob to see alice's shared screen", func() bool { return reddish(colorOf(t, bob, aliceID)) },
		func() any { return fmt.Sprint(colorOf(t, bob, aliceID), mediaState(t, bob)) })
	run(t, alice, "stop sharing", press("#share"))
	browserPoll.Until(t, 15*time.Second, "bob to see alice's camera again", func() bool {
		return !reddish(colorOf(t, bob, aliceID)) && brightFrom(t, bob, aliceID)
	})
	t.Logf("screen share shown decrypted at bob, camera back after it")

	// (d) A Go participant joins and publishes a recorded VP8 clip and an Opus tone, SFrame-
	// encrypted with the same MLS keys: the code changes to its epoch authenticator's, both
	// browsers render and play it, and it decrypts both browsers (the two implementations
	// agree on every byte). Chat goes both ways.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec, err := client.LoadRecording("../client/testdata/testsrc.ivf", "../client/testdata/tone.ogg")
	if err != nil {
		t.Fatal(err)
	}
	gc, err := client.Dial(ctx, client.Config{URL: srv.url, Token: srv.token(t, "bot-1", "Bot", auth.RoleParticipant)})
	if err != nil {
		t.Fatalf("go client: %v", err)
	}
	defer gc.Close()
	if err := gc.WaitJoined(ctx); err != nil {
		t.Fatalf("go client join: %v", err)
	}
	gm, err := gc.StartMedia(ctx, client.MediaConfig{Recording: rec, LoopbackOnly: true})
	if err != nil {
		t.Fatalf("go media: %v", err)
	}
	defer gm.Close()
	botID, bobID := gc.ParticipantID(), eval[string](t, bob, `window.sealroomMe()`)
	var withBot string
	browserPoll.Until(t, 20*time.Second, "the code with the Go participant", func() bool {
		want := goCode(gc.EpochAuthenticator())
		withBot = want
		return securityCodeOf(t, alice) == want && securityCodeOf(t, bob) == want
	})
	if withBot == code {
		t.Fatalf("the code did not change when the Go participant joined: %s", code)
	}
	for name, page := range map[string]context.Context{"alice": alice, "bob": bob} {
		others := map[string]string{"bot": botID, "bob": bobID}
		if name == "bob" {
			others = map[string]string{"bot": botID, "alice": aliceID}
		}
		for from, id := range others {
			browserPoll.UntilOr(t, 30*time.Second, name+" to render "+from+"'s decrypted video", func() bool { return brightFrom(t, page, id) },
				func() any { return mediaState(t, page) })
		}
		// Audio: the browser's decoder turns each participant's decrypted Opus into
		// samples with energy (a tone, the fake microphone's beeps) while it plays.
		first := eval[map[string]audioStats](t, page, `window.sealroomAudio()`)
		browserPoll.UntilOr(t, 15*time.Second, name+" to play both others' audio", func() bool {
			now := eval[map[string]audioStats](t, page, `window.sealroomAudio()`)
			for _, id := range others {
				if now[id].Samples <= first[id].Samples || now[id].Energy <= 0 {
					return false
				}
			}
			return true
		}, func() any { return eval[map[string]audioStats](t, page, `window.sealroomAudio()`) })
		audio := eval[map[string]audioStats](t, page, `window.sealroomAudio()`)
		for from, id := range others {
			a := audio[id]
			t.Logf("%s plays %s's audio: %.0f samples, %.1f%% concealed, energy %.3g", name, from, a.Samples, 100*a.Concealed/max(a.Samples, 1), a.Energy)
		}
	}
	browserPoll.UntilOr(t, 20*time.Second, "the Go participant to decrypt both browsers' audio and video", func() bool {
		src := gm.Stats().Sources
		return src[aliceID].Video > 0 && src[aliceID].Audio > 0 && src[bobID].Video > 0 && src[bobID].Audio > 0
	}, func() any { return gm.Stats() })
	gs := gm.Stats()
	t.Logf("the Go participant decrypted alice %d video / %d audio and bob %d / %d frames; failures %v",
		gs.Sources[aliceID].Video, gs.Sources[aliceID].Audio, gs.Sources[bobID].Video, gs.Sources[bobID].Audio, gs.Failures)

	shot, err := chromedp.Run(alice, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactDir(t), "meeting.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the meeting page: %s", path)

	if err := gc.SendChat(ctx, []byte("hello from Go")); err != nil {
		t.Fatalf("go chat: %v", err)
	}
	browserPoll.Until(t, 10*time.Second, "both browsers to read the Go chat", func() bool {
		return strings.Contains(chatText(t, alice), "hello from Go") && strings.Contains(chatText(t, bob), "hello from Go")
	})
	sendChat(t, bob, "hello Go, from the patient")
	expectChat(t, gc, "patient-7", "hello Go, from the patient")

	// The Go participant leaves: a new code, and the browsers keep decrypting each other.
	gm.Close()
	if err := gc.Leave(ctx); err != nil {
		t.Fatalf("go leave: %v", err)
	}
	browserPoll.Until(t, 20*time.Second, "a new code after the Go participant left", func() bool {
		a, b := securityCodeOf(t, alice), securityCodeOf(t, bob)
		return codePattern.MatchString(a) && a == b && a != withBot && a != code
	})
	afterBot := securityCodeOf(t, alice)
	a0, b0 := statsOf(t, alice), statsOf(t, bob)
	browserPoll.Until(t, 15*time.Second, "both browsers to decrypt each other's video under the new keys", func() bool {
		a1, b1 := statsOf(t, alice), statsOf(t, bob)
		return a1.Video.Decrypted > a0.Video.Decrypted+10 && b1.Video.Decrypted > b0.Video.Decrypted+10 &&
			brightFrom(t, alice, bobID) && brightFrom(t, bob, aliceID)
	})
	if n := eval[int](t, alice, fmt.Sprintf(`document.querySelectorAll('#videos video[data-participant=%q]').length`, botID)); n != 0 {
		t.Fatalf("the departed Go participant's tile is still shown")
	}
	t.Logf("after the Go participant left, code %s; still decrypting each other (failures alice %v, bob %v)", afterBot, statsOf(t, alice).Failures, statsOf(t, bob).Failures)

	// The host removes the patient: the patient is told, the list and the code change.
	run(t, alice, "kick", press(`#participants li[data-sub="patient-7"] button`))
	browserPoll.Until(t, 20*time.Second, "bob to be told he was removed", func() bool {
		return strings.Contains(eval[string](t, bob, `document.getElementById('status').textContent`), "removed")
	})
	browserPoll.Until(t, 20*time.Second, "a new code at alice once the patient's leaf is removed", func() bool {
		a := securityCodeOf(t, alice)
		return codePattern.MatchString(a) && a != afterBot
	})
	browserPoll.Until(t, 10*time.Second, "the patient gone from alice's participant list", func() bool {
		return eval[int](t, alice, `document.querySelectorAll('#participants li[data-sub="patient-7"]').length`) == 0
	})
	if s := eval[string](t, bob, `document.getElementById('status').textContent`); !strings.Contains(s, "removed from the meeting by Dr Ada") {
		t.Fatalf("bob's page says %q", s)
	}
	t.Logf("whole meeting test: %v", time.Since(start).Round(time.Millisecond))
}
