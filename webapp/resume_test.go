package webapp_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/server/auth"
)

// visit is a clinician's and a patient's page in one room, and a Go member watching the
// group, once the patient renders the clinician's decrypted video.
type visit struct {
	host, patient context.Context
	patientLink   string
	watcher       *client.Client
	hostID, patID string
}

func openVisit(t *testing.T, srv *testServer, browser context.Context) visit {
	t.Helper()
	v := visit{patientLink: srv.url + "/join#token=" + srv.token(t, "pat", "Pat", auth.RoleParticipant)}
	v.host = tab(t, browser, srv.url+"/join#token="+srv.token(t, "dr-ada", "Dr Ada", auth.RoleHost))
	v.patient = tab(t, browser, v.patientLink)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	watcher, err := client.Dial(ctx, client.Config{URL: srv.url, Token: srv.token(t, "go-watch", "Watcher", auth.RoleParticipant)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = watcher.Close() })
	if err := watcher.WaitJoined(ctx); err != nil {
		t.Fatal(err)
	}
	v.watcher = watcher
	v.hostID = eval[string](t, v.host, `window.sealroomMe()`)
	v.patID = eval[string](t, v.patient, `window.sealroomMe()`)
	browserPoll.UntilOr(t, 30*time.Second, "the patient to see the clinician", func() bool { return brightFrom(t, v.patient, v.hostID) },
		func() any { return mediaState(t, v.patient) })
	return v
}

// TestBrowserResume: the patient's signaling connection is cut ten times (the page's
// socket closed as a lost network would close it). Each time the page reconnects by
// itself and resumes its session: the same participant, no commit changes the group, the
// host never sees the patient leave, and the patient keeps decrypting the host's video.
// The media path is not cut here (the cut is the signaling socket's), so the figure is
// the signaling outage.
func TestBrowserResume(t *testing.T) {
	needChromium(t)
	srv := startServer(t)
	browser := newBrowser(t)
	v := openVisit(t, srv, browser)
	host, patient, watcher, hostID, patID := v.host, v.patient, v.watcher, v.hostID, v.patID
	browserPoll.Until(t, 30*time.Second, "everyone in one epoch", func() bool {
		return securityCodeOf(t, patient) == goCode(watcher.EpochAuthenticator()) && securityCodeOf(t, host) == goCode(watcher.EpochAuthenticator())
	})
	epoch, _ := watcher.Epoch()
	frames := func() float64 { return statsOf(t, patient).Video.Decrypted }

	var outages []time.Duration
	for i := range 10 {
		start := time.Now()
		eval[any](t, patient, `window.sealroomDropSignal()`)
		var before float64
		browserPoll.UntilOr(t, 30*time.Second, fmt.Sprintf("the patient's session resumed after cut %d", i+1), func() bool {
			// The socket closes asynchronously: until the page counts this resume, the
			// status and the frames may still be those from before the cut.
			before = frames()
			return eval[int](t, patient, `window.sealroomResumes()`) == i+1
		}, func() any { return eval[string](t, patient, `document.getElementById('status').textContent`) })
		browserPoll.UntilOr(t, 30*time.Second, fmt.Sprintf("the patient's meeting back after cut %d", i+1), func() bool {
			// "Reconnected." (a notice from the SFU may follow it, as in any meeting).
			status := eval[string](t, patient, `document.getElementById('status').textContent`)
			return eval[string](t, patient, `document.body.dataset.reconnecting ?? ''`) == "" &&
				!strings.HasPrefix(status, "Connection lost") && !strings.Contains(status, "weak") &&
				frames() > before
		}, func() any { return eval[string](t, patient, `document.getElementById('status').textContent`) })
		outages = append(outages, time.Since(start))
		if id := eval[string](t, patient, `window.sealroomMe()`); id != patID {
			t.Fatalf("cut %d: the patient came back as %s, was %s", i+1, id, patID)
		}
		subs := eval[[]string](t, host, `[...document.querySelectorAll('#participants li')].map((li) => li.dataset.sub)`)
		if count(subs, "pat") != 1 {
			t.Fatalf("cut %d: the host's list %v", i+1, subs)
		}
	}
	if e, _ := watcher.Epoch(); e != epoch {
		t.Fatalf("the cuts changed the group: epoch %d -> %d", epoch, e)
	}
	if !brightFrom(t, patient, hostID) {
		t.Fatalf("the patient no longer renders the clinician: %v", mediaState(t, patient))
	}
	slices.Sort(outages)
	t.Logf("signaling cut to session resumed with new frames decrypted, over %d cuts: p50 %v, p99 %v; epoch stayed %d",
		len(outages), outages[len(outages)/2].Round(time.Millisecond), outages[len(outages)-1].Round(time.Millisecond), epoch)
}

// TestBrowserRejoinsAfterRefusedResume: a resume the server refuses (here the page
// presents a secret the server never issued, as it would for a session the server no
// longer holds: the outage outlasted the grace, the node is gone) does not leave the
// patient outside the visit. The page joins anew by itself: it comes back under a new
// participant id with the room's code and the clinician's decrypted video, the clinician
// sees its video again, and nobody sees the patient twice.
func TestBrowserRejoinsAfterRefusedResume(t *testing.T) {
	needChromium(t)
	// The refused session keeps its seat and leaf for the production grace, as in a
	// real outage; the page replaces its own leaf when it joins anew (resync).
	srv := startServer(t, func(c *keyservice.Config) { c.DisconnectTimeout = 30 * time.Second })
	browser := newBrowser(t)
	v := openVisit(t, srv, browser)
	host, patient, watcher, hostID, oldID := v.host, v.patient, v.watcher, v.hostID, v.patID

	browserPoll.UntilOr(t, 30*time.Second, "the clinician to see the patient", func() bool { return brightFrom(t, host, oldID) },
		func() any { return mediaState(t, host) })
	// The patient had turned the microphone off: it stays off after the rejoin.
	eval[any](t, patient, `(document.getElementById('mute').click(), true)`)
	browserPoll.Until(t, 10*time.Second, "the clinician to see the patient muted", func() bool {
		return strings.Contains(eval[string](t, host, `document.getElementById('participants').textContent`), "muted")
	})
	start := time.Now()
	eval[any](t, patient, `window.sealroomDropSignal(true)`)
	var newID string
	browserPoll.UntilOr(t, 30*time.Second, "the patient back in the visit with the clinician's video", func() bool {
		newID = eval[string](t, patient, `window.sealroomMe?.() ?? ''`)
		return newID != "" && newID != oldID && brightFrom(t, patient, hostID)
	}, func() any { return eval[string](t, patient, `document.getElementById('status')?.textContent ?? ''`) })
	back := time.Since(start)
	browserPoll.UntilOr(t, 30*time.Second, "everyone in one epoch, the clinician seeing the patient once, with video", func() bool {
		code := goCode(watcher.EpochAuthenticator())
		subs := eval[[]string](t, host, `[...document.querySelectorAll('#participants li')].map((li) => li.dataset.sub)`)
		return securityCodeOf(t, patient) == code && securityCodeOf(t, host) == code && count(subs, "pat") == 1 &&
			count(watcher.Members(), "pat") == 1 && brightFrom(t, host, newID)
	}, func() any {
		return fmt.Sprintf("host list %v, group %v; host %v; patient %v", eval[[]string](t, host, `[...document.querySelectorAll('#participants li')].map((li) => li.dataset.sub)`),
			watcher.Members(), mediaState(t, host), mediaState(t, patient))
	})
	if !eval[bool](t, patient, `document.getElementById('mute').getAttribute('aria-pressed') === 'true' && window.sealroomPC().getSenders().every((s) => s.track?.kind !== 'audio' || !s.track.enabled)`) {
		t.Fatal("the patient's microphone came back on after the rejoin")
	}
	browserPoll.Until(t, 10*time.Second, "the clinician to see the rejoined patient still muted", func() bool {
		return strings.Contains(eval[string](t, host, `document.getElementById('participants').textContent`), "muted")
	})
	t.Logf("resume refused; the page joined anew, microphone still off, and decrypted the clinician's video %v after the cut", back.Round(time.Millisecond))
}
