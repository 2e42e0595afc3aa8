package client_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/media/turn"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/servertest/netcut"
	"github.com/sealroom/sealroom/server/servertest/poll"
	"github.com/sealroom/sealroom/sframe"
)

// relayRoom is a server with the SFU and the embedded TURN relay on loopback, for media
// that must go through the relay. viaTCP, if set, gets the relay's TCP listener address
// and returns the address clients are told to reach TURN over TCP at (a netcut proxy in
// front of it); otherwise clients get TURN over UDP.
type relayRoom struct {
	*fixture
	relay *turn.Server
}

func newRelayRoom(t *testing.T, ttl time.Duration, viaTCP func(listener string) string) *relayRoom {
	t.Helper()
	sfu, err := media.New(media.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sfu.Close() })
	cfg := turn.Config{RelayIP: net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1", Realm: "sealroom",
		Secret: make([]byte, 32), TTL: ttl, AllowedPeers: []netip.AddrPort{sfu.Addr().(*net.UDPAddr).AddrPort()}}
	var url string
	if viaTCP != nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listeners = []net.Listener{ln}
		url = "turn:" + viaTCP(ln.Addr().String()) + "?transport=tcp"
	} else {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Conn = conn
		url = "turn:" + conn.LocalAddr().String() + "?transport=udp"
	}
	relay, err := turn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = relay.Close() })
	f := newFixture(t, func(d *server.Deps) { d.Media, d.TURN, d.TURNURLs = sfu, relay, []string{url} })
	return &relayRoom{fixture: f, relay: relay}
}

// frameClock records when a client last decrypted a video frame from each publisher,
// and the longest gap between two of them.
type frameClock struct {
	mu     sync.Mutex
	last   map[string]time.Time
	n      map[string]int
	maxGap time.Duration
}

func newFrameClock() *frameClock {
	return &frameClock{last: map[string]time.Time{}, n: map[string]int{}}
}

func (fc *frameClock) onFrame(f client.Frame) {
	if f.Codec != sframe.CodecVP8 {
		return
	}
	now := time.Now()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if l, ok := fc.last[f.From]; ok && now.Sub(l) > fc.maxGap {
		fc.maxGap = now.Sub(l)
	}
	fc.last[f.From] = now
	fc.n[f.From]++
}

func (fc *frameClock) frames(from string) int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.n[from]
}

func (fc *frameClock) gap() time.Duration {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.maxGap
}

// A long visit through a relay: TURN credentials live 8 s here (minutes in a
// deployment) and a relay closes when its credential expires. The server pushes fresh
// credentials with a quarter of their life left; the Go client applies them and
// restarts ICE, so a relay allocated with them takes over. Across two refreshes, each
// past the expiry of the credential before, the client keeps decrypting its peer's
// video, only ever through a relay.
func TestMediaAcrossTURNRefresh(t *testing.T) {
	const ttl = 8 * time.Second
	room := newRelayRoom(t, ttl, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	alice := room.dial(t, "alice")
	bob := room.dial(t, "bob")
	inOneEpoch(t, alice, bob)
	epoch, _ := bob.Epoch()
	am, err := alice.StartMedia(ctx, client.MediaConfig{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer am.Close()
	seen := newFrameClock()
	bm, err := bob.StartMedia(ctx, client.MediaConfig{RelayOnly: true, AudioInterval: -1, OnFrame: seen.onFrame})
	if err != nil {
		t.Fatal(err)
	}
	defer bm.Close()
	aliceID := alice.ParticipantID()
	onRelay := func() bool { p, ok := bm.Path(); return ok && p.Local == "relay" }
	poll.UntilOr(t, 20*time.Second, "bob to decrypt alice's video through the relay", func() bool {
		return seen.frames(aliceID) > 30 && onRelay()
	}, func() any { p, _ := bm.Path(); return fmt.Sprintf("path %+v, stats %+v", p, bm.Stats()) })

	start := time.Now()
	for i := range 2 {
		old := bob.ICEServers()[0]
		poll.Until(t, ttl, fmt.Sprintf("fresh credentials %d", i+1), func() bool {
			s := bob.ICEServers()
			return len(s) == 1 && s[0].Username != old.Username
		})
		// The old credential expires and its relay closes (the relay checks every
		// second): its lifetime is the scenario, not a wait for an event.
		poll.Until(t, ttl, fmt.Sprintf("credential %d to expire", i), func() bool {
			return time.Now().After(old.Expires.Add(1500 * time.Millisecond))
		})
		before := seen.frames(aliceID)
		poll.UntilOr(t, 10*time.Second, fmt.Sprintf("video after credential %d expired", i), func() bool {
			return seen.frames(aliceID) > before+15 && onRelay()
		}, func() any { p, _ := bm.Path(); return fmt.Sprintf("path %+v, stats %+v", p, bm.Stats()) })
	}
	st := bm.Stats()
	if st.ICEServerUpdates < 2 || st.ICERestarts < 2 {
		t.Fatalf("bob applied %d credential updates and restarted ICE %d times, want 2 each", st.ICEServerUpdates, st.ICERestarts)
	}
	if e, _ := bob.Epoch(); e != epoch {
		t.Fatalf("the epoch moved %d -> %d: the refreshes touched the group", epoch, e)
	}
	t.Logf("TURN credentials of %v refreshed %d times (%d ICE restarts) in %v: %d video frames decrypted through the relay, longest gap between two %v; %d live relays",
		ttl, st.ICEServerUpdates, st.ICERestarts, time.Since(start).Round(time.Millisecond), seen.frames(aliceID),
		seen.gap().Round(time.Millisecond), room.relay.Allocations())
}

// The whole network of a participant goes down for 5 s, ten times in a row: its
// signaling socket and its media (which goes through TURN over TCP, the relay being
// the only path its ICE may use) pass through proxies that are cut together. Each time
// the client resumes its session, restarts ICE, and both participants decrypt each
// other's video again; no commit changes the group. The figure is the time from the
// network's return to the next decrypted video frame, each way.
func TestMediaSurvivesNetworkCut(t *testing.T) {
	var turnProxy *netcut.Proxy
	room := newRelayRoom(t, 10*time.Minute, func(listener string) string {
		turnProxy = netcut.New(t, listener)
		return turnProxy.Addr()
	})
	sigProxy := netcut.New(t, room.url[len("http://"):])
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	alice := room.dial(t, "alice")
	bob := room.dialConfig(t, "bob", client.Config{URL: "http://" + sigProxy.Addr()})
	inOneEpoch(t, alice, bob)
	epoch, _ := alice.Epoch()
	atAlice, atBob := newFrameClock(), newFrameClock()
	am, err := alice.StartMedia(ctx, client.MediaConfig{LoopbackOnly: true, AudioInterval: -1, OnFrame: atAlice.onFrame})
	if err != nil {
		t.Fatal(err)
	}
	defer am.Close()
	bm, err := bob.StartMedia(ctx, client.MediaConfig{RelayOnly: true, AudioInterval: -1, OnFrame: atBob.onFrame})
	if err != nil {
		t.Fatal(err)
	}
	defer bm.Close()
	aliceID, bobID := alice.ParticipantID(), bob.ParticipantID()
	diag := func() any {
		p, _ := bm.Path()
		return fmt.Sprintf("bob's path %+v; bob %+v; alice %+v", p, bm.Stats(), am.Stats())
	}
	poll.UntilOr(t, 20*time.Second, "video both ways, bob's through the relay", func() bool {
		p, ok := bm.Path()
		return atBob.frames(aliceID) > 30 && atAlice.frames(bobID) > 30 && ok && p.Local == "relay" && p.Relay == "tcp"
	}, diag)

	const offline = 5 * time.Second
	var toBob, toAlice []time.Duration
	for i := range 10 {
		sigProxy.Cut()
		turnProxy.Cut()
		time.Sleep(offline) // the network is down this long: the scenario, not a wait for an event
		sigProxy.Restore()
		turnProxy.Restore()
		back := time.Now()
		b0, a0 := atBob.frames(aliceID), atAlice.frames(bobID)
		var tb, ta time.Duration
		poll.UntilOr(t, 30*time.Second, fmt.Sprintf("video both ways after cut %d", i+1), func() bool {
			if tb == 0 && atBob.frames(aliceID) > b0 {
				tb = time.Since(back)
			}
			if ta == 0 && atAlice.frames(bobID) > a0 {
				ta = time.Since(back)
			}
			// Video flows again, not a frame that slipped through: a second's worth, and
			// ICE has selected the new relayed pair (before it has, pion sends on the best
			// valid pair, and a restart from that checking state does not restart pion's
			// checking timer: see media/api.go).
			p, ok := bm.Path()
			return atBob.frames(aliceID) > b0+30 && atAlice.frames(bobID) > a0+30 && ok && p.Local == "relay"
		}, diag)
		toBob, toAlice = append(toBob, tb), append(toAlice, ta)
		if bob.ParticipantID() != bobID || bob.Resumes() != int64(i+1) {
			t.Fatalf("cut %d: bob is %s after %d resumes, was %s", i+1, bob.ParticipantID(), bob.Resumes(), bobID)
		}
		if e, _ := alice.Epoch(); e != epoch {
			t.Fatalf("cut %d: the epoch moved %d -> %d (a Remove and Add?)", i+1, epoch, e)
		}
	}
	if n := count(alice.Members(), "bob"); n != 1 {
		t.Fatalf("the group holds bob %d times", n)
	}
	p50, p99 := percentiles(toBob)
	q50, q99 := percentiles(toAlice)
	t.Logf("network back to the next decrypted video frame, over %d cuts of %v (signaling and TURN/TCP media): bob from alice p50 %v p99 %v; alice from bob p50 %v p99 %v; %d ICE restarts; epoch stayed %d",
		len(toBob), offline, p50, p99, q50, q99, bm.Stats().ICERestarts, epoch)
}

// percentiles are the p50 and p99 of ds (the largest, for fewer than 100), rounded.
func percentiles(ds []time.Duration) (time.Duration, time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond), s[(len(s)*99)/100].Round(time.Millisecond)
}
