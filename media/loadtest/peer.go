package loadtest

import (
	"fmt"
	"net"
	"sync/atomic"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/signaling"
)

// peer is one loopback WebRTC client of the SFU child.
type peer struct {
	id     string
	pc     *webrtc.PeerConnection
	w      *wire
	in     chan signaling.Media
	tracks atomic.Int32 // tracks that delivered a packet
	errs   chan error
}

func loopbackAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

func newPeer(api *webrtc.API, id string, w *wire, sk *sink) (*peer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p := &peer{id: id, pc: pc, w: w, in: make(chan signaling.Media, 64), errs: make(chan error, 1)}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		var h rtp.Header
		first := true
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			hl, err := h.Unmarshal(buf[:n])
			if err != nil {
				continue
			}
			if first {
				p.tracks.Add(1)
				first = false
			}
			if sk != nil {
				sk.record(buf[hl:n])
			}
		}
	})
	go p.run()
	return p, nil
}

func (p *peer) fail(err error) {
	select {
	case p.errs <- err:
	default:
	}
}

// run applies the SFU's messages in order (the client is the impolite
// peer: an SFU offer crossing its own is ignored, see docs/protocol.md, "Media negotiation").
func (p *peer) run() {
	for m := range p.in {
		switch m.Type {
		case signaling.MediaOffer:
			if p.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
				continue
			}
			if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
				p.fail(err)
				continue
			}
			ans, err := p.pc.CreateAnswer(nil)
			if err != nil {
				p.fail(err)
				continue
			}
			g := webrtc.GatheringCompletePromise(p.pc)
			if err := p.pc.SetLocalDescription(ans); err != nil {
				p.fail(err)
				continue
			}
			<-g
			_ = p.w.send(frame{Op: "msg", ID: p.id, Msg: &signaling.Media{Type: signaling.MediaAnswer, SDP: p.pc.LocalDescription().SDP, ID: m.ID}})
		case signaling.MediaAnswer:
			if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
				p.fail(err)
			}
		case signaling.MediaCandidate:
			if m.Candidate != nil {
				if err := p.pc.AddICECandidate(*m.Candidate); err != nil {
					p.fail(err)
				}
			}
		}
	}
}

// publish adds one VP8 track and offers it.
func (p *peer) publish() (*webrtc.TrackLocalStaticRTP, error) {
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", p.id)
	if err != nil {
		return nil, err
	}
	rs, err := p.pc.AddTrack(tr)
	if err != nil {
		return nil, err
	}
	go func() { // drive the sender's RTCP interceptors
		buf := make([]byte, 1500)
		for {
			if _, _, err := rs.Read(buf); err != nil {
				return
			}
		}
	}()
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	g := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	<-g
	if err := p.w.send(frame{Op: "msg", ID: p.id, Msg: &signaling.Media{Type: signaling.MediaOffer, SDP: p.pc.LocalDescription().SDP}}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrChild, err)
	}
	return tr, nil
}

func (p *peer) close() {
	_ = p.pc.Close()
}
