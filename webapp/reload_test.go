package webapp_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sealroom/sealroom/keyservice"
)

// TestBrowserReload: a patient reloads the page mid-visit, ten times. The access code
// lives in sessionStorage (never the URL), so each reload goes straight back into the
// meeting; the page's MLS state is gone, so it replaces its own earlier leaf by an external
// commit the server offers (resync). Each time it is back with the clinician's decrypted
// video; no one ever sees the patient twice, in the keys or in the announced room; and
// the invite link opened again in the same tab works too.
func TestBrowserReload(t *testing.T) {
	needChromium(t)
	// A dropped page keeps its seat and leaf for the production grace (30 s), so that a
	// reload can replace its own leaf.
	srv := startServer(t, func(c *keyservice.Config) { c.DisconnectTimeout = 30 * time.Second })
	browser := newBrowser(t)
	v := openVisit(t, srv, browser)
	host, patient, patientLink, watcher, hostID := v.host, v.patient, v.patientLink, v.watcher, v.hostID

	// Watch for a duplicate all along: in the MLS group (the Go member's view) and in the
	// host's announced list and key holders.
	var mu sync.Mutex
	var dupes []string
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if n := count(watcher.Members(), "pat"); n > 1 {
				mu.Lock()
				dupes = append(dupes, fmt.Sprintf("the group holds pat %d times", n))
				mu.Unlock()
			}
		}
	}()
	hostSees := func() {
		subs := eval[[]string](t, host, `[...document.querySelectorAll('#participants li')].map((li) => li.dataset.sub)`)
		if n := count(subs, "pat"); n > 1 {
			dupes = append(dupes, fmt.Sprintf("the host's list shows pat %d times: %v", n, subs))
		}
		if strings.Count(eval[string](t, host, `document.getElementById('keyholders').textContent`), "pat") > 1 {
			dupes = append(dupes, "the host's key holders show pat twice")
		}
	}

	var took []time.Duration
	for i := range 10 {
		before, _ := watcher.Epoch()
		oldConn := eval[string](t, patient, `window.sealroomMe()`)
		start := time.Now()
		if i < 9 {
			run(t, patient, fmt.Sprintf("reload %d", i+1), chromedp.Reload())
		} else {
			// The invite link opened again in the same tab: a fragment-only navigation,
			// which loads no page by itself.
			run(t, patient, "open the invite link again", js(fmt.Sprintf(`(location.href = %q, true)`, patientLink)))
		}
		browserPoll.UntilOr(t, 30*time.Second, fmt.Sprintf("the clinician's video after reload %d", i+1), func() bool {
			hostSees()
			me := eval[string](t, patient, `window.sealroomMe?.() ?? ''`)
			return me != "" && me != oldConn && brightFrom(t, patient, hostID)
		}, func() any { return mediaState(t, patient) })
		// The first decrypted frame's time as the page saw it (performance.timeOrigin is
		// wall-clock milliseconds), not when this poll noticed it.
		firstAt := eval[float64](t, patient, fmt.Sprintf(`performance.timeOrigin + window.sealroomEnteredAt() + (window.sealroomMetrics().firstFrameMs[%q] ?? 0)`, hostID))
		took = append(took, time.UnixMilli(int64(firstAt)).Sub(start))
		after, _ := watcher.Epoch()
		if code := securityCodeOf(t, patient); code != goCode(watcher.EpochAuthenticator()) {
			browserPoll.Until(t, 15*time.Second, "the patient's code to match the room's", func() bool {
				return securityCodeOf(t, patient) == goCode(watcher.EpochAuthenticator())
			})
		}
		t.Logf("reload %d: first decrypted frame of the clinician %v after the reload; epoch %d -> %d", i+1, took[i].Round(time.Millisecond), before, after)
	}
	close(stop)
	<-watched
	mu.Lock()
	defer mu.Unlock()
	if len(dupes) > 0 {
		t.Fatalf("the patient was seen twice: %v", dupes[:min(5, len(dupes))])
	}
	sorted := slices.Clone(took)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	t.Logf("reload to first decrypted frame over %d reloads: p50 %v, max %v", len(sorted), sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
