package webapp_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/server/auth"
)

// epochWorker is the part of window.sealroomStats() about key changes (worker.js snapshot).
type epochWorker struct {
	Decrypted, Failed, Epochs float64
	MissingKey                float64            // frames dropped for want of a key a member should have had
	Failures                  map[string]float64 // received frames dropped, by reason
	EncodeFailures            map[string]float64
	Hold                      struct{ Held, Released, MaxWaitMs, Holding float64 }
	KeyFrames                 struct{ Generated, GenerateFailed, GenerateUnavailable, Requested, NewSenderKeys float64 }
	// Peers is per remote participant id and kind: frames decrypted and dropped, the epoch
	// bits of the last KID that decrypted.
	Peers map[string]map[string]struct{ Decrypted, Dropped, Epoch, Holding float64 }
}

func epochStatsOf(t *testing.T, ctx context.Context) epochWorker {
	t.Helper()
	return eval[epochWorker](t, ctx, `window.sealroomStats()`)
}

// presentedJS counts, per remote participant, the video frames its tile has presented.
const presentedJS = `Object.fromEntries([...document.querySelectorAll('#videos video')].map((v) => [v.dataset.participant, v.getVideoPlaybackQuality().totalVideoFrames]))`

// TestBrowserEpochs is issue 20's "no frame lost to a key change": three browsers and a Go
// member that publishes a recorded clip go through more than 20 epoch changes, made by a Go
// visitor joining (an Add committed by whoever the Delivery Service designates, browsers
// included), the Go member updating its own path, and the visitor leaving (a Remove). Each
// time the member that moves first sends under the new key while the others are still
// processing the commit: their workers hold those frames until the page installs the key.
// After every change every page decrypts every other publisher under the new epoch and
// presents new frames of each, and the Go member decrypts every browser under it. Over the
// whole meeting no page drops a frame for a missing key (worker counters printed per page).
func TestBrowserEpochs(t *testing.T) {
	needChromium(t)
	srv := startServer(t)
	browser := newBrowser(t)
	const room = "epochs"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	type page struct {
		name string
		ctx  context.Context
		id   string
	}
	var pages []*page
	for i, who := range []struct {
		sub, name string
		role      auth.Role
	}{{"dr-epoch", "Dr Epoch", auth.RoleHost}, {"patient-e1", "Pat", auth.RoleParticipant}, {"nurse-e2", "Nan", auth.RoleClinician}} {
		p := &page{name: who.sub, ctx: tab(t, browser, srv.url+"/join#token="+srv.roomToken(t, room, who.sub, who.name, who.role))}
		p.id = eval[string](t, p.ctx, `window.sealroomMe()`)
		pages = append(pages, p)
		browserPoll.Until(t, 30*time.Second, who.sub+" in the group with the others' code", func() bool {
			code := securityCodeOf(t, pages[0].ctx)
			for _, q := range pages[:i+1] {
				if !codePattern.MatchString(securityCodeOf(t, q.ctx)) || securityCodeOf(t, q.ctx) != code {
					return false
				}
			}
			return true
		})
	}

	rec, err := client.LoadRecording("../client/testdata/testsrc.ivf", "../client/testdata/tone.ogg")
	if err != nil {
		t.Fatal(err)
	}
	member, err := client.Dial(ctx, client.Config{URL: srv.url, Token: srv.roomToken(t, room, "go-member", "Go member", auth.RoleParticipant)})
	if err != nil {
		t.Fatalf("go member: %v", err)
	}
	t.Cleanup(func() { _ = member.Close() })
	if err := member.WaitJoined(ctx); err != nil {
		t.Fatalf("go member joining: %v", err)
	}
	gm, err := member.StartMedia(ctx, client.MediaConfig{Recording: rec, LoopbackOnly: true})
	if err != nil {
		t.Fatalf("go media: %v", err)
	}
	publishers := []string{member.ParticipantID()}
	for _, p := range pages {
		publishers = append(publishers, p.id)
	}
	epochOf := func() uint64 { e, _ := member.Epoch(); return e }

	// settled reports whether, at epoch e, every page shows the Go member's code, decrypts
	// every other publisher's video under e's KID bits and presented new frames of each since
	// `since`; and the Go member decrypts every browser under e.
	const bitsMask = 1<<4 - 1 // KID epoch bits, webapp/sframe DEFAULT_EPOCH_BITS
	presented := func() map[string]map[string]float64 {
		out := map[string]map[string]float64{}
		for _, p := range pages {
			out[p.name] = eval[map[string]float64](t, p.ctx, presentedJS)
		}
		return out
	}
	var lag string // what the last check waited for, for a timeout's message
	settled := func(e uint64, since map[string]map[string]float64) func() bool {
		return func() bool {
			if epochOf() != e {
				lag = fmt.Sprintf("the Go member at epoch %d, want %d", epochOf(), e)
				return false
			}
			code := goCode(member.EpochAuthenticator())
			src := gm.Stats().Sources
			for _, p := range pages {
				if c := securityCodeOf(t, p.ctx); c != code {
					lag = fmt.Sprintf("%s shows code %q, want %q", p.name, c, code)
					return false
				}
				if got := src[p.id].LastKID & bitsMask; got != e&bitsMask {
					lag = fmt.Sprintf("the Go member decrypts %s under epoch bits %d, want %d", p.name, got, e&bitsMask)
					return false
				}
				s := epochStatsOf(t, p.ctx)
				now := eval[map[string]float64](t, p.ctx, presentedJS)
				for _, id := range publishers {
					if id == p.id {
						continue
					}
					if got := s.Peers[id]["video"].Epoch; uint64(got) != e&bitsMask {
						lag = fmt.Sprintf("%s decrypts %s's video under epoch bits %v, want %d (%v) %s", p.name, id, got, e&bitsMask, mediaState(t, p.ctx), eval[string](t, p.ctx, codecDiagJS))
						return false
					}
					if now[id] <= since[p.name][id] {
						lag = fmt.Sprintf("%s presented no new frame of %s (%v)", p.name, id, now[id])
						return false
					}
				}
			}
			return true
		}
	}
	waitSettled := func(what string, e uint64) {
		t.Helper()
		since := presented()
		browserPoll.UntilOr(t, 40*time.Second, what, settled(e, since), func() any { return lag })
	}

	waitSettled("the meeting with the Go member", epochOf())
	for _, p := range pages {
		for _, id := range publishers {
			if id != p.id {
				browserPoll.UntilOr(t, 20*time.Second, p.name+" to render "+id+"'s decrypted video", func() bool { return brightFrom(t, p.ctx, id) },
					func() any { return mediaState(t, p.ctx) })
			}
		}
	}
	start := epochOf()
	before := map[string]epochWorker{}
	for _, p := range pages {
		before[p.name] = epochStatsOf(t, p.ctx)
	}
	t.Logf("three browsers and the Go member decrypt each other at epoch %d", start)

	// Each round makes three epoch changes: the visitor's Add, the member's Update, the
	// visitor's Remove.
	const rounds = 7
	began := time.Now()
	for i := range rounds {
		visitor, err := client.Dial(ctx, client.Config{URL: srv.url, Token: srv.roomToken(t, room, fmt.Sprintf("visitor-%d", i), "Visitor", auth.RoleParticipant)})
		if err != nil {
			t.Fatalf("visitor %d: %v", i, err)
		}
		t.Cleanup(func() { _ = visitor.Close() })
		if err := visitor.WaitJoined(ctx); err != nil {
			t.Fatalf("visitor %d joining: %v", i, err)
		}
		joined, _ := visitor.Epoch()
		waitSettled(fmt.Sprintf("round %d: the visitor's Add (epoch %d)", i, joined), joined)

		if err := member.Update(ctx); err != nil {
			t.Fatalf("round %d: update: %v", i, err)
		}
		waitSettled(fmt.Sprintf("round %d: the member's Update (epoch %d)", i, joined+1), joined+1)

		if err := visitor.Leave(ctx); err != nil {
			t.Fatalf("round %d: visitor leaving: %v", i, err)
		}
		waitSettled(fmt.Sprintf("round %d: the visitor's Remove (epoch %d)", i, joined+2), joined+2)
	}
	end := epochOf()
	if end-start <= 20 {
		t.Fatalf("only %d epoch changes (%d -> %d), want more than 20", end-start, start, end)
	}
	t.Logf("%d epoch changes (%d -> %d) in %v; after each, every page decrypted and presented every other publisher under the new epoch",
		end-start, start, end, time.Since(began).Round(time.Millisecond))

	for _, p := range pages {
		for _, id := range publishers {
			if id != p.id && !brightFrom(t, p.ctx, id) {
				t.Errorf("%s no longer renders %s's decrypted video: %v", p.name, id, mediaState(t, p.ctx))
			}
		}
	}
	for _, p := range pages {
		s, b := epochStatsOf(t, p.ctx), before[p.name]
		t.Logf("%s's worker: %.0f epochs installed; %.0f frames decrypted; dropped by reason %s (missing key %.0f; %.0f during the %d changes); "+
			"held %.0f, released %.0f after up to %.0f ms, holding %.0f; key frames generated %.0f (%.0f failed, %.0f switches without generateKeyFrame), requested %.0f on %.0f new sender keys",
			p.name, s.Epochs, s.Decrypted, reasons(s.Failures), s.MissingKey, s.Failed-b.Failed, end-start,
			s.Hold.Held, s.Hold.Released, s.Hold.MaxWaitMs, s.Hold.Holding,
			s.KeyFrames.Generated, s.KeyFrames.GenerateFailed, s.KeyFrames.GenerateUnavailable, s.KeyFrames.Requested, s.KeyFrames.NewSenderKeys)
		// Before a page holds keys it drops nothing for a missing key either: what it could
		// not read then is counted as before-join.
		if s.MissingKey != 0 {
			t.Errorf("%s dropped %.0f frames for a missing key: %s", p.name, s.MissingKey, reasons(s.Failures))
		}
		if s.Failed != b.Failed {
			t.Errorf("%s dropped %.0f frames during the epoch changes: %s", p.name, s.Failed-b.Failed, reasons(s.Failures))
		}
	}
	gs := gm.Stats()
	t.Logf("the Go member: %d frames decrypted, %d of them held for their epoch, failures %v", gs.Decrypted, gs.Held, gs.Failures)
}

// reasons prints a reason -> count map in a stable order ("none" when empty).
func reasons(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	var out []string
	for r, n := range m {
		out = append(out, fmt.Sprintf("%s=%.0f", r, n))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

const codecDiagJS = `(async () => {
  const pc = window.sealroomPC();
  const st = await pc.getStats();
  const out = [];
  st.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') { const c = st.get(r.codecId); out.push([r.mid, r.packetsReceived, r.framesReceived, r.nackCount, r.pliCount, c && c.payloadType, c && c.sdpFmtpLine]); } });
  const tr = pc.getTransceivers().map((t) => [t.mid, t.receiver.track.kind, JSON.stringify(t.receiver.getParameters().codecs.map((c) => c.payloadType + ' ' + c.mimeType + ' ' + (c.sdpFmtpLine || '')))]);
  return JSON.stringify({out, tr});
})()`
