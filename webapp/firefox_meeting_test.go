package webapp_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/server/auth"
)

// frameLayouts is the worker's count of frames by side and negotiated codec (mimeType).
type frameLayouts struct{ Encode, Decode map[string]float64 }

func layoutsOf(t *testing.T, p page) frameLayouts {
	return get[frameLayouts](t, p, `window.sealroomStats().then((s) => s.layouts)`)
}

// colorIn is the mean RGB of connection id's video tile in page p ({0,0,0} before a frame).
func colorIn(t *testing.T, p page, id string) [3]float64 {
	t.Helper()
	return get[[3]float64](t, p, fmt.Sprintf(`(() => {
  const v = document.querySelector('#videos video[data-participant=%q]');
  if (!v || !v.videoWidth) return [0, 0, 0];
  const c = document.createElement('canvas');
  c.width = 64; c.height = 48;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0, 64, 48);
  const d = g.getImageData(0, 0, 64, 48).data;
  const m = [0, 0, 0];
  for (let i = 0; i < d.length; i += 4) { m[0] += d[i]; m[1] += d[i + 1]; m[2] += d[i + 2]; }
  return m.map((x) => x / (d.length / 4));
})()`, id))
}

// rendersFrom reports whether page p shows connection id's video decrypted and not black.
func rendersFrom(t *testing.T, p page, id string) bool {
	c := colorIn(t, p, id)
	return 0.299*c[0]+0.587*c[1]+0.114*c[2] > 16
}

func codeIn(t *testing.T, p page) string {
	return get[string](t, p, `document.getElementById('security-code').textContent`)
}

func pageState(t *testing.T, p page) string {
	return string(p.evalJSON(t, `(async () => ({stats: await window.sealroomStats(), debug: window.sealroomDebug?.(), inbound: await window.sealroomInbound()}))()`))
}

// TestFirefoxPublishes is the reported bug: a Firefox patient joins a Chromium clinician, shows
// the same code and renders her video, and the clinician renders the patient's decrypted video.
// Firefox offers its sending sections with port 0 and a=bundle-only (max-bundle); the SFU took
// them for rejected sections, never bound their SSRCs and dropped every packet at the socket.
func TestFirefoxPublishes(t *testing.T) {
	needChromium(t)
	needFirefox(t)
	srv := startServer(t)
	browser := newBrowser(t)
	ff := newFirefox(t)
	alice := chromiumPage{tab(t, browser, srv.url+"/join#token="+srv.token(t, "dr-ada", "Dr Ada", auth.RoleHost))}
	browserPoll.Until(t, 20*time.Second, "alice's code", func() bool { return codePattern.MatchString(codeIn(t, alice)) })
	fox := ff.join(t, srv.url+"/join#token="+srv.token(t, "patient-ff", "Pat Fox", auth.RoleParticipant))
	browserPoll.Until(t, 30*time.Second, "the same code", func() bool {
		a, b := codeIn(t, alice), codeIn(t, fox)
		return codePattern.MatchString(a) && a == b
	})
	aliceID, foxID := get[string](t, alice, `window.sealroomMe()`), get[string](t, fox, `window.sealroomMe()`)
	browserPoll.UntilOr(t, 30*time.Second, "firefox renders alice", func() bool { return rendersFrom(t, fox, aliceID) },
		func() any { return pageState(t, fox) })
	t.Logf("firefox renders alice")
	browserPoll.UntilOr(t, 20*time.Second, "alice renders firefox", func() bool { return rendersFrom(t, alice, foxID) },
		func() any { return fmt.Sprintf("%+v %s", srv.sfu.Counters(), pageState(t, alice)) })
	if c := srv.sfu.Counters(); c.DroppedUnannouncedSSRC != 0 {
		t.Fatalf("the SFU dropped %d packets of unannounced SSRCs: %+v", c.DroppedUnannouncedSSRC, c)
	}
}

// browserMember is a browser in a meeting test, of either kind.
type browserMember struct {
	name string
	sub  string
	p    page
	id   string
}

// goMember is a Go participant that publishes the recorded clip and tone.
type goMember struct {
	name string
	c    *client.Client
	m    *client.Media
}

func joinGo(t *testing.T, ctx context.Context, srv *testServer, room, sub string) *goMember {
	t.Helper()
	rec, err := client.LoadRecording("../client/testdata/testsrc.ivf", "../client/testdata/tone.ogg")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, client.Config{URL: srv.url, Token: srv.roomToken(t, room, sub, "Go "+sub, auth.RoleParticipant)})
	if err != nil {
		t.Fatalf("go client %s: %v", sub, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.WaitJoined(ctx); err != nil {
		t.Fatalf("go client %s joining: %v", sub, err)
	}
	m, err := c.StartMedia(ctx, client.MediaConfig{Recording: rec, LoopbackOnly: true})
	if err != nil {
		t.Fatalf("go media %s: %v", sub, err)
	}
	t.Cleanup(m.Close)
	return &goMember{name: sub, c: c, m: m}
}

// joinChromium opens a Chromium tab in room as sub and returns the member, with its
// participant id.
func joinChromium(t *testing.T, browser context.Context, srv *testServer, room, name, sub, display string, role auth.Role) *browserMember {
	t.Helper()
	b := &browserMember{name: name, sub: sub, p: chromiumPage{tab(t, browser, srv.url+"/join#token="+srv.roomToken(t, room, sub, display, role))}}
	b.id = get[string](t, b.p, `window.sealroomMe()`)
	return b
}

// workerKeptKeys fails the test when the page's worker dropped a frame after it held its
// keys, or for a key it should have had.
func workerKeptKeys(t *testing.T, name string, p page) {
	t.Helper()
	s := get[epochWorker](t, p, `window.sealroomStats()`)
	if n := failedAfterKeys(s.Failures); n != 0 || s.MissingKey != 0 {
		t.Errorf("%s: %.0f frames failed after it held its keys, %.0f for a missing key (%v)", name, n, s.MissingKey, s.Failures)
	}
}

// goFailedAfterKeys counts what a Go member failed to decrypt once it held its keys. Like
// the browsers' worker counters, which see only frames their jitter buffer completed, a
// frame some of whose packets never arrived (incomplete: loss, not keys) is reported, not
// counted against the keys.
func goFailedAfterKeys(s client.MediaStats) uint64 {
	return s.Failed - s.Failures[client.FailBeforeJoin] - s.Failures[client.FailIncomplete]
}

// failedAfterKeys sums a page's worker failures (by reason) other than frames sent before
// it joined (RFC 9420 §8: a joiner cannot read them): what failed once it held its keys.
// Such frames still reach a joiner after it shows the room's code: what the others sent
// before they processed its Welcome's commit, still in flight or in the jitter buffer.
func failedAfterKeys(failures map[string]float64) float64 {
	n := 0.0
	for r, v := range failures {
		if r != "before-join" {
			n += v
		}
	}
	return n
}

// meetingSettles waits until every browser shows the Go member's security code, decrypts
// audio and video of every other participant (worker counters grow after the call), renders
// each one's video decrypted and not black; and the Go member decrypts every browser's audio
// and video. Chat goes from every browser to every other participant.
func meetingSettles(t *testing.T, what string, browsers []*browserMember, g *goMember) {
	t.Helper()
	ids := []string{g.c.ParticipantID()}
	for _, b := range browsers {
		ids = append(ids, b.id)
	}
	since := map[string]epochWorker{}
	for _, b := range browsers {
		since[b.name] = get[epochWorker](t, b.p, `window.sealroomStats()`)
	}
	goSince := g.m.Stats().Sources
	var lag string
	var lagging page
	browserPoll.UntilOr(t, 45*time.Second, what, func() bool {
		lagging = nil
		code := goCode(g.c.EpochAuthenticator())
		src := g.m.Stats().Sources
		for _, b := range browsers {
			if c := codeIn(t, b.p); c != code {
				e, _ := g.c.Epoch()
				lag = fmt.Sprintf("%s shows code %q, want %q (Go at epoch %d); page: %s", b.name, c, code, e,
					b.p.evalJSON(t, `[document.body.dataset.epoch, window.sealroomErrors(), document.getElementById('key-events').textContent]`))
				return false
			}
			if src[b.id].Video <= goSince[b.id].Video || src[b.id].Audio <= goSince[b.id].Audio {
				lag = fmt.Sprintf("the Go member decrypts %s: %+v (stats %+v)", b.name, src[b.id], g.m.Stats())
				return false
			}
			s := get[epochWorker](t, b.p, `window.sealroomStats()`)
			for _, id := range ids {
				if id == b.id {
					continue
				}
				now, was := s.Peers[id], since[b.name].Peers[id]
				if now["video"].Decrypted <= was["video"].Decrypted || now["audio"].Decrypted <= was["audio"].Decrypted {
					lag = fmt.Sprintf("%s decrypts %s: %v", b.name, id, now)
					lagging = b.p
					return false
				}
				if !rendersFrom(t, b.p, id) {
					lag = fmt.Sprintf("%s does not render %s's video: %s", b.name, id, pageState(t, b.p))
					return false
				}
			}
		}
		return true
	}, func() any {
		if lagging != nil {
			return lag + "\n" + pageState(t, lagging) + "\n" + string(lagging.evalJSON(t, `(async () => { const out = []; (await window.sealroomPC().getStats()).forEach((r) => { if (r.type === 'inbound-rtp') out.push(r); }); return {stats: out, tr: window.sealroomPC().getTransceivers().map((t) => [t.mid, t.direction, t.currentDirection, t.receiver.track.id, t.receiver.track.readyState]), sdp: window.sealroomPC().remoteDescription.sdp}; })()`))
		}
		return lag
	})
	for i, b := range browsers {
		text := fmt.Sprintf("chat from %s (%s)", b.name, what)
		get[bool](t, b.p, fmt.Sprintf(`(() => { document.getElementById('chat-input').value = %q; document.querySelector('#chat-form button').click(); return true; })()`, text))
		for j, o := range browsers {
			if j != i {
				browserPoll.Until(t, 10*time.Second, o.name+" to read "+b.name+"'s chat", func() bool {
					return strings.Contains(get[string](t, o.p, `document.getElementById('chat-log').textContent`), text)
				})
			}
		}
		select {
		case ch := <-g.c.Chats():
			if string(ch.Text) != text || ch.From != b.sub {
				t.Fatalf("the Go member read %q from %s, want %q from %s", ch.Text, ch.From, text, b.name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the Go member did not get %s's chat", b.name)
		}
	}
	if err := g.c.SendChat(context.Background(), []byte("chat from Go, "+what)); err != nil {
		t.Fatal(err)
	}
	for _, b := range browsers {
		browserPoll.Until(t, 10*time.Second, b.name+" to read the Go chat", func() bool {
			return strings.Contains(get[string](t, b.p, `document.getElementById('chat-log').textContent`), "chat from Go, "+what)
		})
	}
}

// TestFirefoxMeeting is issue 20's Firefox meeting: a Chromium clinician, a Firefox patient
// (Debian's firefox-esr, RTCRtpScriptTransform) and a Go participant decrypt each other's
// audio, video and chat under one security code. The clinician, alone, publishes H.264; when
// Firefox (no H.264 encoder or decoder) comes in the room's codec becomes VP9 and she
// publishes again in it. Then churn: the Go participant leaves, a
// Chromium nurse and another Go participant join, and all four decrypt each other again.
// Last the Firefox patient leaves: the room goes back to H.264 and the three left decrypt
// each other in it.
// Once a page holds its keys no frame fails (worker counters printed per page), nor does one
// at the Go participants.
func TestFirefoxMeeting(t *testing.T) {
	needChromium(t)
	needFirefox(t)
	srv := startServer(t)
	browser := newBrowser(t)
	ff := newFirefox(t)
	const room = "firefox"
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	ada := joinChromium(t, browser, srv, room, "chromium dr-ada", "dr-ada", "Dr Ada", auth.RoleHost)
	browserPoll.Until(t, 20*time.Second, "ada's code", func() bool { return codePattern.MatchString(codeIn(t, ada.p)) })
	fox := &browserMember{name: "firefox patient", sub: "patient-ff", p: ff.join(t, srv.url+"/join#token="+srv.roomToken(t, room, "patient-ff", "Pat Fox", auth.RoleParticipant))}
	fox.id = get[string](t, fox.p, `window.sealroomMe()`)
	bot := joinGo(t, ctx, srv, room, "go-1")
	browsers := []*browserMember{ada, fox}
	meetingSettles(t, "Chromium, Firefox and Go", browsers, bot)
	code1 := codeIn(t, ada.p)
	t.Logf("Chromium, Firefox and Go decrypt each other's audio, video and chat; code %s", code1)

	// Churn: the Go participant leaves, a Chromium nurse and another Go participant join.
	bot.m.Close()
	if err := bot.c.Leave(ctx); err != nil {
		t.Fatalf("go-1 leaving: %v", err)
	}
	nan := joinChromium(t, browser, srv, room, "chromium nurse", "nurse-nan", "Nan", auth.RoleClinician)
	bot2 := joinGo(t, ctx, srv, room, "go-2")
	browsers = append(browsers, nan)
	meetingSettles(t, "after churn", browsers, bot2)
	if c := codeIn(t, ada.p); c == code1 {
		t.Fatalf("the code did not change with the churn: %s", c)
	}
	t.Logf("after go-1 left and a nurse and go-2 joined: all four decrypt each other; code %s", codeIn(t, ada.p))

	for _, b := range browsers {
		s := get[epochWorker](t, b.p, `window.sealroomStats()`)
		t.Logf("%s worker: decrypted %.0f, failed after keys %.0f, missing key %.0f, failures %v, hold %+v, key frames %+v",
			b.name, s.Decrypted, failedAfterKeys(s.Failures), s.MissingKey, s.Failures, s.Hold, s.KeyFrames)
		workerKeptKeys(t, b.name, b.p)
	}
	// The room's codec with Firefox in it is VP9 (firefox-esr has no H.264): every browser
	// encrypted and decrypted VP9 frames, and the Go participant decrypted them.
	for _, b := range browsers {
		l := layoutsOf(t, b.p)
		t.Logf("%s frames by codec: sent %v, decrypted %v", b.name, l.Encode, l.Decode)
		if l.Encode["video/vp9"] == 0 || l.Decode["video/vp9"] == 0 {
			t.Errorf("%s: no VP9 frames each way (%+v)", b.name, l)
		}
	}
	gs := bot2.m.Stats()
	if gs.RoomCodec != "video/VP9" || gs.Codecs["none"] == 0 {
		t.Errorf("go-2: room codec %q, decrypted video frames by layout %v: want VP9 frames", gs.RoomCodec, gs.Codecs)
	}
	t.Logf("go-2: room codec %s, decrypted video frames by layout %v (VP9 is wholly protected: none)", gs.RoomCodec, gs.Codecs)
	t.Logf("go-2: decrypted %d frames, held %d, failures %v, sources %v", gs.Decrypted, gs.Held, gs.Failures, gs.Sources)
	if n := goFailedAfterKeys(gs); n != 0 {
		t.Errorf("go-2: %d frames failed after it held its keys (%v)", n, gs.Failures)
	}
	t.Logf("SFU: %+v", srv.sfu.Counters())

	// The patient on Firefox leaves: every participant left decodes H.264 again, so the
	// room's codec goes back to it, each Chromium publishes again in it, and the clinician,
	// the nurse and the Go participant decrypt each other as before.
	get[bool](t, fox.p, `(() => { document.getElementById('leave').click(); return true; })()`)
	browsers = []*browserMember{ada, nan}
	browserPoll.Until(t, 20*time.Second, "the room's codec back to H.264", func() bool { return bot2.m.Stats().RoomCodec == "video/H264" })
	meetingSettles(t, "after Firefox left", browsers, bot2)
	for _, b := range browsers {
		l := layoutsOf(t, b.p)
		if l.Encode["video/h264"] == 0 || l.Decode["video/h264"] == 0 {
			t.Errorf("%s: no H.264 frames each way after Firefox left (%+v)", b.name, l)
		}
		workerKeptKeys(t, b.name, b.p)
	}
	t.Logf("after the Firefox patient left: the clinician, the nurse and go-2 decrypt each other in H.264")
}

// TestFirefoxJoinFigures measures join-to-first-decrypted-frame (from pressing "Join now" to
// the first decrypted video frame of the publisher on screen, window.sealroomMetrics) over 10
// joins of Chromium and 10 of Firefox into a room where a Go participant publishes the
// recorded clip. Figures are logged, not asserted (a shared 2-core machine).
func TestFirefoxJoinFigures(t *testing.T) {
	needChromium(t)
	needFirefox(t)
	srv := startServer(t)
	browser := newBrowser(t)
	ff := newFirefox(t)
	const room = "join-figures"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	host := joinGo(t, ctx, srv, room, "go-host")
	hostID := host.c.ParticipantID()

	measure := func(name string, join func(i int) (page, func())) []time.Duration {
		var joins []time.Duration
		for i := range 10 {
			p, leave := join(i)
			var ms float64
			browserPoll.UntilOr(t, 30*time.Second, fmt.Sprintf("%s join %d: the first decrypted frame of the host", name, i), func() bool {
				ms = get[map[string]float64](t, p, `window.sealroomMetrics().firstFrameMs`)[hostID]
				return ms > 0
			}, func() any { return pageState(t, p) })
			joins = append(joins, time.Duration(ms*float64(time.Millisecond)))
			get[bool](t, p, `(() => { document.getElementById('leave').click(); return true; })()`)
			leave()
		}
		slices.Sort(joins)
		t.Logf("%s: join-to-first-decrypted-frame over %d joins: p50 %v, min %v, max %v (all: %v)", name, len(joins),
			((joins[4] + joins[5]) / 2).Round(time.Millisecond), joins[0].Round(time.Millisecond), joins[len(joins)-1].Round(time.Millisecond), joins)
		return joins
	}
	measure("Chromium", func(i int) (page, func()) {
		c, closeTab := openTab(t, browser, srv.url+"/join#token="+srv.roomToken(t, room, fmt.Sprintf("cr-%d", i), "Chromium viewer", auth.RoleParticipant))
		return chromiumPage{c}, closeTab
	})
	measure("Firefox", func(i int) (page, func()) {
		p := ff.join(t, srv.url+"/join#token="+srv.roomToken(t, room, fmt.Sprintf("ff-%d", i), "Firefox viewer", auth.RoleParticipant))
		return p, func() { p.close(t) }
	})
}
