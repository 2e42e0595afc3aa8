package loadtest

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/signaling"
)

// peer is one loopback WebRTC client of the SFU child.
type peer struct {
	id     string
	pc     *webrtc.PeerConnection
	w      *wire
	in     chan signaling.Media
	sub    *subscriber  // nil for a publisher
	tracks atomic.Int32 // tracks that delivered a packet
	errs   chan error
	done   chan struct{} // closed by close: run stops
	wg     sync.WaitGroup
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
	// Browsers number every packet for transport-wide congestion control
	// (the SFU sends them feedback); pion's defaults do not.
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, reg); err != nil {
		return nil, err
	}
	se := loopbackSettings()
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

func loopbackSettings() webrtc.SettingEngine {
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return se
}

// newPeer makes a publisher (sk nil) on api, or a subscriber measuring
// into sk on its own API (subscriber.go).
func newPeer(api *webrtc.API, id string, w *wire, sk *sink) (*peer, error) {
	var sub *subscriber
	if sk != nil {
		sub = newSubscriber(sk)
		var err error
		if api, err = sub.api(); err != nil {
			return nil, err
		}
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		if sub != nil {
			_ = sub.mux.Close()
		}
		return nil, err
	}
	p := &peer{id: id, pc: pc, w: w, sub: sub, in: make(chan signaling.Media, 64), errs: make(chan error, 1),
		done: make(chan struct{})}
	// pion announces a track once it has read its first packet; the
	// subscriber's buffers measure every packet as it is decrypted.
	pc.OnTrack(func(*webrtc.TrackRemote, *webrtc.RTPReceiver) { p.tracks.Add(1) })
	p.wg.Add(1)
	go p.run()
	if sub != nil {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			sub.feedback(pc, p.done)
		}()
	}
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
	defer p.wg.Done()
	for {
		var m signaling.Media
		select {
		case <-p.done:
			return
		case m = <-p.in:
		}
		switch m.Type {
		case signaling.MediaOffer:
			if p.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
				continue
			}
			if p.sub != nil {
				p.sub.learn(m.SDP)
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

// publication is what a publisher peer sends on: one local track per
// stream of its source, indexed like the source's streams.
type publication struct {
	tracks []*webrtc.TrackLocalStaticRTP
	video  *webrtc.RTPSender
	// mid and rid header extension IDs (RFC 8843 §15, RFC 8852 §3.1),
	// set on simulcast layers once negotiated: pion's static tracks do not
	// add them, and the SFU binds a layer's SSRC by them.
	midID, ridID uint8
	mid          string
}

// publish adds the source's audio and video tracks (one video encoding per
// layer: simulcast is three encodings of one sender) and offers them. RTCP
// from the SFU is read: PLI and FIR make the source send a keyframe.
func (p *peer) publish(src *source) (*publication, error) {
	pub := &publication{tracks: make([]*webrtc.TrackLocalStaticRTP, len(src.log.streams))}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: audioClockRate, Channels: 2}, "audio", p.id)
	if err != nil {
		return nil, err
	}
	pub.tracks[src.audio.index] = audio
	var senders []*webrtc.RTPSender
	for _, l := range src.layers {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if l.rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(l.rid))
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: videoClockRate}, "video", p.id, opts...)
		if err != nil {
			return nil, err
		}
		pub.tracks[l.log.index] = tr
		if pub.video == nil {
			if pub.video, err = p.pc.AddTrack(tr); err != nil {
				return nil, err
			}
			senders = append(senders, pub.video)
		} else if err := pub.video.AddEncoding(tr); err != nil {
			return nil, err
		}
	}
	as, err := p.pc.AddTrack(audio)
	if err != nil {
		return nil, err
	}
	senders = append(senders, as)
	for _, rs := range senders {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				pkts, _, err := rs.ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					switch pk.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						src.requestKeyframe()
					}
				}
			}
		}()
	}
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
	return pub, nil
}

// simulcastReady reports whether the SFU's answer is applied and, for a
// simulcast publication, reads the negotiated mid and rid extension IDs.
func (p *peer) simulcastReady(pub *publication, simulcast bool) bool {
	if p.pc.SignalingState() != webrtc.SignalingStateStable || p.pc.RemoteDescription() == nil {
		return false
	}
	if !simulcast {
		return true
	}
	for _, e := range pub.video.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			pub.midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			pub.ridID = uint8(e.ID)
		}
	}
	for _, t := range p.pc.GetTransceivers() {
		if t.Sender() == pub.video {
			pub.mid = t.Mid()
		}
	}
	return pub.midID != 0 && pub.ridID != 0 && pub.mid != ""
}

// emitter returns the function that sends a source's packets on pub's
// tracks. It reuses one packet and is for one goroutine.
func (pub *publication) emitter(src *source) emitFunc {
	var pkt rtp.Packet
	pkt.Extensions = make([]rtp.Extension, 0, 2)
	rids := make([][]byte, len(src.layers))
	for i, l := range src.layers {
		rids[i] = []byte(l.rid)
	}
	mid := []byte(pub.mid)
	return func(p packet) error {
		pkt.Header = rtp.Header{Version: 2, Marker: p.marker, SequenceNumber: p.seq, Timestamp: p.ts,
			Extensions: pkt.Extensions[:0]}
		if p.stream.video && pub.ridID != 0 {
			_ = pkt.SetExtension(pub.midID, mid)
			_ = pkt.SetExtension(pub.ridID, rids[p.layer])
		}
		pkt.Payload = p.payload
		return pub.tracks[p.stream.index].WriteRTP(&pkt)
	}
}

func (p *peer) close() {
	close(p.done)
	_ = p.pc.Close()
	if p.sub != nil {
		_ = p.sub.mux.Close()
	}
	p.wg.Wait()
}
