package webapp_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/media/turn"
	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/servertest"
	"github.com/sealroom/sealroom/server/servertest/netcut"
)

// relayServer is a whole sealroom on loopback with the embedded TURN relay. With cut
// set, the relay is reached over TCP through a netcut proxy, and the server is also
// reachable through a second proxy (cutURL): a page loaded from cutURL has its whole
// network (signaling and, relay-only, media) behind proxies a test can cut.
type relayServer struct {
	testServer
	relay            *turn.Server
	cutURL           string
	sigCut, mediaCut *netcut.Proxy
}

func startRelayServer(t *testing.T, ttl time.Duration, cut bool, mods ...func(*server.Config)) *relayServer {
	t.Helper()
	assets := builtAssets(t)
	sfu, err := media.New(media.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sfu.Close() })
	rs := &relayServer{}
	cfg := turn.Config{RelayIP: net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1", Realm: "sealroom",
		Secret: make([]byte, 32), TTL: ttl, AllowedPeers: []netip.AddrPort{sfu.Addr().(*net.UDPAddr).AddrPort()}}
	var url string
	if cut {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listeners = []net.Listener{ln}
		rs.mediaCut = netcut.New(t, ln.Addr().String())
		url = "turn:" + rs.mediaCut.Addr() + "?transport=tcp"
	} else {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Conn = conn
		url = "turn:" + conn.LocalAddr().String() + "?transport=udp"
	}
	if rs.relay, err = turn.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.relay.Close() })
	st := servertest.Start(t, servertest.Options{Pool: pgtest.Pool(t),
		KeyService: func(cfg *keyservice.Config, _ *audit.Log) {
			cfg.SweepInterval, cfg.CommitTimeout, cfg.DisconnectTimeout = 100*time.Millisecond, 3*time.Second, -1
		},
		Server: func(c *server.Config) {
			for _, m := range mods {
				m(c)
			}
		},
		Deps: func(d *server.Deps) {
			d.Assets, d.Media, d.TURN, d.TURNURLs = assets, sfu, rs.relay, []string{url}
		},
	})
	rs.url, rs.signer = st.URL, st.Signer
	if cut {
		rs.sigCut = netcut.New(t, strings.TrimPrefix(st.URL, "http://"))
		rs.cutURL = "http://" + rs.sigCut.Addr()
	}
	return rs
}

// pathOf is what the page shows of its media path: the local candidate type of the
// selected pair (document.body.dataset.path, refreshed every 2 s) and the relay notice.
func pathOf(t *testing.T, page context.Context) (string, string) {
	t.Helper()
	p := eval[[]string](t, page, `[document.body.dataset.path ?? '', document.getElementById('path').hidden ? '' : document.getElementById('path').textContent]`)
	return p[0], p[1]
}

func epochOf(t *testing.T, page context.Context) string {
	return eval[string](t, page, `document.body.dataset.epoch ?? ''`)
}

// TestBrowserNetworkCut: two browsers in a meeting; the patient's whole network goes
// down for 5 s, ten times in a row. Its page was loaded through a proxy (signaling) and
// its media is relay-only through TURN over TCP, through another proxy: cutting both
// resets every connection the page has and refuses new ones, as a lost network does (and
// as DevTools' offline emulation does not: it leaves WebRTC alone). Each time, the page
// resumes its session, restarts ICE, and both browsers decrypt each other's video again;
// no commit changes the group. The figure is the time from the network's return to the
// next decrypted video frame, each way (polled every 100 ms).
func TestBrowserNetworkCut(t *testing.T) {
	needChromium(t)
	srv := startRelayServer(t, 10*time.Minute, true)
	browser := newBrowser(t)
	host := tab(t, browser, srv.url+"/join#token="+srv.token(t, "dr-ada", "Dr Ada", auth.RoleHost))
	patient := tab(t, browser, srv.cutURL+"/join#relay=1&token="+srv.token(t, "pat", "Pat", auth.RoleParticipant))
	hostID := eval[string](t, host, `window.sealroomMe()`)
	patID := eval[string](t, patient, `window.sealroomMe()`)
	seeEachOther := func() bool { return brightFrom(t, patient, hostID) && brightFrom(t, host, patID) }
	browserPoll.UntilOr(t, 45*time.Second, "both to see each other, the patient through the relay", func() bool {
		kind, notice := pathOf(t, patient)
		return seeEachOther() && kind == "relay" && strings.HasPrefix(notice, "Connected through a relay")
	}, func() any { return fmt.Sprintf("patient %v; host %v", mediaState(t, patient), mediaState(t, host)) })
	browserPoll.Until(t, 30*time.Second, "both in one epoch", func() bool {
		return epochOf(t, patient) != "" && epochOf(t, patient) == epochOf(t, host)
	})
	epoch := epochOf(t, host)
	if kind, _ := pathOf(t, host); kind == "relay" {
		t.Fatalf("the host's media goes through the relay too: the cut would not be the patient's alone")
	}

	const offline = 5 * time.Second
	var toPatient, toHost []time.Duration
	for i := range 10 {
		srv.sigCut.Cut()
		srv.mediaCut.Cut()
		cutAt := time.Now()
		if i == 0 {
			// The host's page explains the patient's still tile while the seat waits.
			browserPoll.Until(t, offline, "the host to show the patient reconnecting", func() bool {
				return eval[bool](t, host, fmt.Sprintf(`(document.querySelector('#participants li[data-sub="pat"]')?.textContent ?? '').includes('reconnecting') &&
  Boolean(document.getElementById('tile-%s')?.classList.contains('reconnecting'))`, patID))
			})
		}
		time.Sleep(offline - time.Since(cutAt)) // the network is down this long: the scenario, not a wait for an event
		p0, h0 := statsOf(t, patient).Video.Decrypted, statsOf(t, host).Video.Decrypted
		srv.sigCut.Restore()
		srv.mediaCut.Restore()
		back := time.Now()
		var tp, th time.Duration
		browserPoll.UntilOr(t, 45*time.Second, fmt.Sprintf("video both ways after cut %d", i+1), func() bool {
			if tp == 0 && statsOf(t, patient).Video.Decrypted > p0 {
				tp = time.Since(back)
			}
			if th == 0 && statsOf(t, host).Video.Decrypted > h0 {
				th = time.Since(back)
			}
			kind, _ := pathOf(t, patient)
			return tp > 0 && th > 0 && seeEachOther() && kind == "relay"
		}, func() any {
			return fmt.Sprintf("status %q; patient %v; host %v", eval[string](t, patient, `document.getElementById('status').textContent`),
				mediaState(t, patient), mediaState(t, host))
		})
		toPatient, toHost = append(toPatient, tp), append(toHost, th)
		if id := eval[string](t, patient, `window.sealroomMe()`); id != patID {
			t.Fatalf("cut %d: the patient came back as %s, was %s", i+1, id, patID)
		}
		if e := epochOf(t, host); e != epoch || epochOf(t, patient) != epoch {
			t.Fatalf("cut %d: the epoch moved %s -> %s/%s (a Remove and Add?)", i+1, epoch, e, epochOf(t, patient))
		}
		subs := eval[[]string](t, host, `[...document.querySelectorAll('#participants li')].map((li) => li.dataset.sub)`)
		if count(subs, "pat") != 1 {
			t.Fatalf("cut %d: the host's list %v", i+1, subs)
		}
	}
	p50, p99 := percentiles(toPatient)
	q50, q99 := percentiles(toHost)
	t.Logf("network back to the next decrypted video frame, over %d cuts of %v (signaling and TURN/TCP media): patient from host p50 %v p99 %v; host from patient p50 %v p99 %v; epoch stayed %s",
		len(toPatient), offline, p50, p99, q50, q99, epoch)
}

// TestBrowserGraceRanOut: the patient's network stays down longer than the session's
// grace (2 s here, 30 s in a deployment). The page shows the outage as it lasts; the host
// sees the patient leave with the reason; when the network returns and the server refuses
// the resume, the page joins the visit anew by itself (never a silent frozen tile, never
// a patient left to find the reload button), and patient and clinician see each other
// again.
func TestBrowserGraceRanOut(t *testing.T) {
	needChromium(t)
	srv := startRelayServer(t, 10*time.Minute, true, func(c *server.Config) { c.SessionGrace = 2 * time.Second })
	browser := newBrowser(t)
	host := tab(t, browser, srv.url+"/join#token="+srv.token(t, "dr-ada", "Dr Ada", auth.RoleHost))
	patient := tab(t, browser, srv.cutURL+"/join#relay=1&token="+srv.token(t, "pat", "Pat", auth.RoleParticipant))
	hostID := eval[string](t, host, `window.sealroomMe()`)
	patID := eval[string](t, patient, `window.sealroomMe()`)
	browserPoll.UntilOr(t, 45*time.Second, "the patient to see the host", func() bool { return brightFrom(t, patient, hostID) },
		func() any { return mediaState(t, patient) })
	status := func() string { return eval[string](t, patient, `document.getElementById('status')?.textContent ?? ''`) }
	srv.sigCut.Cut()
	srv.mediaCut.Cut()
	browserPoll.Until(t, 10*time.Second, "the patient's page to show the outage", func() bool {
		return strings.HasPrefix(status(), "Connection lost: reconnecting…")
	})
	browserPoll.Until(t, 10*time.Second, "the host to see the patient leave", func() bool {
		subs := eval[[]string](t, host, `[...document.querySelectorAll('#participants li')].map((li) => li.dataset.sub)`)
		return count(subs, "pat") == 0
	})
	srv.sigCut.Restore()
	srv.mediaCut.Restore()
	var newID string
	browserPoll.UntilOr(t, 45*time.Second, "the patient back in the visit by itself, patient and clinician seeing each other", func() bool {
		newID = eval[string](t, patient, `window.sealroomMe?.() ?? ''`)
		subs := eval[[]string](t, host, `[...document.querySelectorAll('#participants li')].map((li) => li.dataset.sub)`)
		return newID != "" && newID != patID && count(subs, "pat") == 1 && brightFrom(t, patient, hostID) && brightFrom(t, host, newID)
	}, func() any {
		return fmt.Sprintf("status %q; patient %v; host %v", status(), mediaState(t, patient), mediaState(t, host))
	})
}

// TestBrowserStaleTabStaysOut: the patient's network drops for longer than the session's
// grace (2 s here) and, meanwhile, the patient opens the visit in another tab (or on a
// phone). When the first tab's network returns, it must not rejoin by itself and take the
// visit back from the tab in use: it asks the server once more with a resume, is told a
// newer connection holds the seat (4409), and says so. The clinician keeps seeing the
// patient once, from the new tab.
func TestBrowserStaleTabStaysOut(t *testing.T) {
	needChromium(t)
	srv := startRelayServer(t, 10*time.Minute, true, func(c *server.Config) { c.SessionGrace = 2 * time.Second })
	browser := newBrowser(t)
	host := tab(t, browser, srv.url+"/join#token="+srv.token(t, "dr-ada", "Dr Ada", auth.RoleHost))
	stale := tab(t, browser, srv.cutURL+"/join#token="+srv.token(t, "pat", "Pat", auth.RoleParticipant))
	hostID := eval[string](t, host, `window.sealroomMe()`)
	staleID := eval[string](t, stale, `window.sealroomMe()`)
	browserPoll.UntilOr(t, 45*time.Second, "the patient to see the host", func() bool { return brightFrom(t, stale, hostID) },
		func() any { return mediaState(t, stale) })
	status := func() string { return eval[string](t, stale, `document.getElementById('status')?.textContent ?? ''`) }
	srv.sigCut.Cut()
	srv.mediaCut.Cut()
	// The page gives up resuming after the grace the server announced, and waits for the
	// server to be reachable again.
	browserPoll.UntilOr(t, 20*time.Second, "the first tab to give up resuming", func() bool {
		return strings.HasSuffix(status(), "rejoining…")
	}, func() any { return status() })
	fresh := tab(t, browser, srv.url+"/join#token="+srv.token(t, "pat", "Pat", auth.RoleParticipant))
	freshID := eval[string](t, fresh, `window.sealroomMe()`)
	patients := func() int {
		return count(eval[[]string](t, host, `[...document.querySelectorAll('#participants li')].map((li) => li.dataset.sub)`), "pat")
	}
	browserPoll.UntilOr(t, 45*time.Second, "the clinician to see the patient in the new tab", func() bool {
		return patients() == 1 && brightFrom(t, host, freshID)
	}, func() any { return fmt.Sprintf("patients %d; host %v", patients(), mediaState(t, host)) })
	srv.sigCut.Restore()
	srv.mediaCut.Restore()
	browserPoll.UntilOr(t, 45*time.Second, "the first tab to say the visit went on in another window", func() bool {
		return status() == "You joined from another window."
	}, func() any { return status() })
	// Its verdict is final: it did not reload and will not (the reload would have given it
	// a new participant id), and a manual reload there waits in the lobby.
	if id := eval[string](t, stale, `window.sealroomMe?.() ?? ''`); id != staleID {
		t.Fatalf("the first tab joined again as %q", id)
	}
	if eval[bool](t, stale, `sessionStorage.getItem('sealroom.inMeeting') === '1'`) {
		t.Fatal("the first tab would rejoin by itself on a reload")
	}
	browserPoll.UntilOr(t, 10*time.Second, "the clinician still to see the patient once, from the new tab", func() bool {
		return patients() == 1 && brightFrom(t, host, freshID) && brightFrom(t, fresh, hostID)
	}, func() any { return fmt.Sprintf("patients %d; host %v", patients(), mediaState(t, host)) })
}

// TestBrowserTURNRefresh: a long visit through a relay in Chromium. TURN credentials
// live 8 s here and a relay closes when its credential expires; the page applies the
// fresh credentials the server pushes (setConfiguration) and restarts ICE, and keeps
// decrypting the host's video, only ever through a relay, across two refreshes, each
// past the expiry of the credential before.
func TestBrowserTURNRefresh(t *testing.T) {
	needChromium(t)
	srv := startRelayServer(t, 8*time.Second, false)
	browser := newBrowser(t)
	host := tab(t, browser, srv.url+"/join#token="+srv.token(t, "dr-ada", "Dr Ada", auth.RoleHost))
	patient := tab(t, browser, srv.url+"/join#relay=1&token="+srv.token(t, "pat", "Pat", auth.RoleParticipant))
	hostID := eval[string](t, host, `window.sealroomMe()`)
	onRelay := func() bool { kind, _ := pathOf(t, patient); return kind == "relay" }
	browserPoll.UntilOr(t, 45*time.Second, "the patient to see the host through the relay", func() bool {
		return brightFrom(t, patient, hostID) && onRelay()
	}, func() any { return mediaState(t, patient) })
	username := func() string {
		return eval[string](t, patient, `window.sealroomPC().getConfiguration().iceServers?.[0]?.username ?? ''`)
	}
	start := time.Now()
	for i := range 2 {
		old := username()
		// The TURN REST username starts with the credential's expiry (unix seconds).
		sec, err := strconv.ParseInt(strings.SplitN(old, ":", 2)[0], 10, 64)
		if err != nil {
			t.Fatalf("username %q carries no expiry", old)
		}
		browserPoll.Until(t, 8*time.Second, fmt.Sprintf("fresh credentials %d", i+1), func() bool { return username() != old })
		// The old credential expires and its relay closes (checked every second): its
		// lifetime is the scenario, not a wait for an event.
		expired := time.Unix(sec, 0).Add(1500 * time.Millisecond)
		browserPoll.Until(t, 10*time.Second, fmt.Sprintf("credential %d to expire", i), func() bool { return time.Now().After(expired) })
		before := statsOf(t, patient).Video.Decrypted
		browserPoll.UntilOr(t, 10*time.Second, fmt.Sprintf("video after credential %d expired", i), func() bool {
			return statsOf(t, patient).Video.Decrypted > before+15 && brightFrom(t, patient, hostID) && onRelay()
		}, func() any { return mediaState(t, patient) })
	}
	t.Logf("Chromium kept decrypting the host's video through the relay across 2 credential refreshes (8 s credentials) in %v: %v video frames; %d live relays",
		time.Since(start).Round(time.Millisecond), statsOf(t, patient).Video.Decrypted, srv.relay.Allocations())
}

// percentiles are the p50 and p99 of ds (the largest, for fewer than 100), rounded.
func percentiles(ds []time.Duration) (time.Duration, time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond), s[(len(s)*99)/100].Round(time.Millisecond)
}
