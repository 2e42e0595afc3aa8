package server

import (
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/media/turn"
	"github.com/sealroom/sealroom/server/signaling"
)

// TestSignalMedia negotiates a real pion PeerConnection with the SFU through the
// signaling WebSocket.
func TestSignalMedia(t *testing.T) {
	f, ts := signalFixture(t, nil)
	sfu, err := media.New(media.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sfu.Close() })
	f.srv.media = sfu

	c := dialSignal(t, ts)
	c.join(f.roomToken(t, "alice", time.Hour))

	c.send("media", "bad", signaling.Media{Type: signaling.MediaOffer, SDP: "v=0 nonsense"})
	var e signaling.Error
	_ = json.Unmarshal(c.expect("error").Data, &e)
	if e.Code != signaling.CodeBadSDP {
		t.Fatalf("bad SDP: %q", e.Code)
	}

	// Loopback only: the test must not send a packet to any other address.
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	c.send("media", "o1", signaling.Media{Type: signaling.MediaOffer, SDP: pc.LocalDescription().SDP})
	for {
		env := c.expect("media")
		var m signaling.Media
		if err := json.Unmarshal(env.Data, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "answer" {
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
				t.Fatalf("SFU answer: %v", err)
			}
			break
		}
	}
	connected := make(chan struct{})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			close(connected)
		}
	})
	if pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		select {
		case <-connected:
		case <-time.After(10 * time.Second):
			t.Fatalf("never connected: %s", pc.ConnectionState())
		}
	}
}

// With the embedded TURN server, ready carries relay credentials bound to the token.
func TestSignalTURNCredentials(t *testing.T) {
	f, ts := signalFixture(t, nil)
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	srv, err := turn.New(turn.Config{Conn: conn, RelayIP: net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1", Realm: "sealroom.test", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	f.srv.turn, f.srv.turnURLs = srv, []string{"turn:127.0.0.1:3478?transport=udp"}
	c := dialSignal(t, ts)
	r := c.join(f.roomToken(t, "alice", time.Hour))
	if len(r.ICEServers) != 1 || r.ICEServers[0].Username == "" || r.ICEServers[0].Credential == "" ||
		time.Until(r.ICEServers[0].Expires) <= 0 || r.ICEServers[0].URLs[0] != "turn:127.0.0.1:3478?transport=udp" {
		t.Fatalf("ice servers %+v", r.ICEServers)
	}
}
