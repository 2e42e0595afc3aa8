package webapp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sealroom/sealroom/server/auth"
)

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
