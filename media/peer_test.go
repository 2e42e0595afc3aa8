package media

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/servertest/poll"
	"github.com/sealroom/sealroom/server/signaling"
)

// Real pion peers on loopback: the test side of the SFU's API.

func newTestSFU(t *testing.T, mod func(*Config)) *SFU {
	t.Helper()
	cfg := Config{ListenAddr: "127.0.0.1:0"}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func loopbackAPI(t testing.TB, mods ...func(*webrtc.SettingEngine)) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	for _, mod := range mods {
		mod(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

// client is a participant's browser stand-in: it answers the SFU's offers
// (ignoring one that crosses its own, as the impolite peer) and records
// the SFU's notices.
type client struct {
	t    *testing.T
	pc   *webrtc.PeerConnection
	part *Participant
	in   chan signaling.Media

	mu      sync.Mutex
	notices []signaling.Media
	tracks  chan *webrtc.TrackRemote
	negMu   sync.Mutex
}

func joinClient(t *testing.T, s *SFU, room, id string, g Grants) *client {
	t.Helper()
	return joinClientGated(t, s, room, id, g, nil)
}

// joinClientNoReplay joins a client whose SRTP replay protection is off,
// so it can see a retransmission of a packet it already has.
func joinClientNoReplay(t *testing.T, s *SFU, room, id string, g Grants) *client {
	t.Helper()
	return joinClientAPI(t, s, room, id, g, nil, loopbackAPI(t, func(se *webrtc.SettingEngine) {
		se.DisableSRTPReplayProtection(true)
	}))
}

// joinClientGated holds the client's incoming messages until gate closes.
func joinClientGated(t *testing.T, s *SFU, room, id string, g Grants, gate chan struct{}) *client {
	t.Helper()
	return joinClientAPI(t, s, room, id, g, gate, loopbackAPI(t))
}

func joinClientAPI(t *testing.T, s *SFU, room, id string, g Grants, gate chan struct{}, api *webrtc.API) *client {
	t.Helper()
	return joinClientHook(t, s, room, id, g, gate, api, nil)
}

// joinClientHook runs hook on the signaling goroutine for each SFU
// message before the client sees it, to act at an exact point of the
// exchange.
func joinClientHook(t *testing.T, s *SFU, room, id string, g Grants, gate chan struct{}, api *webrtc.API, hook func(*client, signaling.Media)) *client {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, pc: pc, in: make(chan signaling.Media, 64), tracks: make(chan *webrtc.TrackRemote, 16)}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { c.tracks <- tr })
	ctx, cancel := context.WithCancel(context.Background())
	c.part, err = s.Join(ctx, room, id, g, func(m signaling.Media) {
		if hook != nil {
			hook(c, m)
		}
		c.in <- m
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		if gate != nil {
			select {
			case <-gate:
			case <-done:
				return
			}
		}
		c.run(done)
	}()
	t.Cleanup(func() {
		close(done)
		<-exited
		cancel()
		_ = c.part.Close()
		// Graceful: pion starts a remote track's reader from its operations queue after
		// SetRemoteDescription returns, and Close does not wait for that queue; a reader
		// started after Close would wait forever for a packet (goleak saw one in CI, on a
		// section that never carries any: a withdrawn track's, see withdraw).
		_ = pc.GracefulClose()
	})
	return c
}

func (c *client) run(done chan struct{}) {
	for {
		select {
		case <-done:
			return
		case m := <-c.in:
			c.handle(m)
		}
	}
}

func (c *client) handle(m signaling.Media) {
	c.negMu.Lock()
	defer c.negMu.Unlock()
	switch m.Type {
	case signaling.MediaOffer:
		if c.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
			return // glare: the SFU yields and offers again
		}
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
			c.t.Errorf("client set offer: %v", err)
			return
		}
		ans, err := c.pc.CreateAnswer(nil)
		if err != nil {
			c.t.Errorf("client answer: %v", err)
			return
		}
		g := webrtc.GatheringCompletePromise(c.pc)
		if err := c.pc.SetLocalDescription(ans); err != nil {
			c.t.Errorf("client set answer: %v", err)
			return
		}
		<-g
		if err := c.part.HandleAnswer(c.pc.LocalDescription().SDP, m.ID); err != nil {
			c.t.Errorf("sfu HandleAnswer: %v", err)
		}
	case signaling.MediaAnswer:
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
			c.t.Errorf("client set answer: %v", err)
		}
	case signaling.MediaCandidate:
		if err := c.pc.AddICECandidate(*m.Candidate); err != nil {
			c.t.Errorf("client add candidate: %v", err)
		}
	default:
		c.mu.Lock()
		c.notices = append(c.notices, m)
		c.mu.Unlock()
	}
}

// offer sends the client's current tracks to the SFU.
func (c *client) offer() {
	c.t.Helper()
	c.negMu.Lock()
	defer c.negMu.Unlock()
	o, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(o); err != nil {
		c.t.Fatal(err)
	}
	<-g
	if err := c.part.HandleOffer(c.pc.LocalDescription().SDP); err != nil {
		c.t.Fatalf("HandleOffer: %v", err)
	}
}

func (c *client) waitConnected() {
	c.t.Helper()
	poll.Until(c.t, 10*time.Second, "client connected", func() bool {
		return c.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
}

func (c *client) nextTrack(timeout time.Duration) *webrtc.TrackRemote {
	c.t.Helper()
	select {
	case tr := <-c.tracks:
		return tr
	case <-time.After(timeout):
		c.t.Fatal("no track received")
		return nil
	}
}

func (c *client) noticeTypes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.notices {
		out = append(out, m.Type)
	}
	return out
}
