package media

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/packetio"
	"github.com/pion/webrtc/v4"
)

// codecs the SFU negotiates. RTX is deliberately absent: retransmissions
// travel on the media SSRC (RFC 4585 NACK answered from the cache), so every
// SSRC a publisher may use is either announced in its SDP or bound by rid,
// and the SSRC binding stays exact.
func registerCodecs(m *webrtc.MediaEngine) error {
	audio := []webrtc.RTPCodecParameters{{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine:  "minptime=10;useinbandfec=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}},
		},
		PayloadType: 111,
	}}
	video := videoCodecs()
	for _, c := range audio {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return err
		}
	}
	for _, c := range video {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
	}
	return nil
}

// videoCodecs are the video codecs the SFU negotiates.
func videoCodecs() []webrtc.RTPCodecParameters {
	videoFB := []webrtc.RTCPFeedback{
		{Type: "ccm", Parameter: "fir"},
		{Type: "nack"}, {Type: "nack", Parameter: "pli"},
		{Type: webrtc.TypeRTCPFBTransportCC},
	}
	return []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB}, PayloadType: 96},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0", RTCPFeedback: videoFB}, PayloadType: 98},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: videoFB}, PayloadType: 102},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", RTCPFeedback: videoFB}, PayloadType: 104},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000, RTCPFeedback: videoFB}, PayloadType: 45},
	}
}

// newParticipantAPI builds one pion API per participant. It has no
// interceptor: what pion's interceptors would do per packet the SFU does
// itself, from the one header parse of the forwarding path.
//
// Towards subscribers the SFU numbers what it sends for transport-wide
// congestion control and keeps the send times (twcc.go), estimates the
// bandwidth from the feedback (gcc.go), answers NACKs from one cache per
// upstream layer (rtxcache.go) and writes sender reports
// (senderreport.go). Towards publishers it sends transport-wide feedback,
// NACKs and receiver reports (upstream.go). pion's interceptors for these
// cost an allocation, a lock or a map operation per packet and per
// subscriber, and a ticker goroutine each per PeerConnection.
//
// buffers is the participant's BufferFactory (rtpbuffer.go).
func (s *SFU) newParticipantAPI(buffers func(packetio.BufferPacketType, uint32) io.ReadWriteCloser) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return nil, fmt.Errorf("media: register codecs: %w", err)
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return nil, err
		}
	}
	// RFC 6464: the publisher's microphone level, in the clear, for the active speaker.
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, err
	}

	se := webrtc.SettingEngine{}
	se.BufferFactory = buffers // see rtpbuffer.go
	se.SetICEUDPMux(s.mux)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// The SFU never declares a participant's ICE failed (a zero failed timeout): the
	// signaling session decides how long a participant lasts (its grace after a dropped
	// connection), and the client restarts ICE when its own side fails or its session
	// resumes. pion would otherwise fail a session 30 s after the first of several quick
	// ICE restarts (a flapping network): a restart from the checking state does not start
	// its checking timer again, and a failed participant is closed (participant.go).
	se.SetICETimeouts(5*time.Second, 0, 2*time.Second)
	// For the same reason pion does not close the connection when the client's DTLS
	// closes: Participant.Close does, once the control loop that reads the connection's
	// stats has stopped (pion's own close, from the DTLS close_notify, raced that read).
	se.DisableCloseByDTLS(true)
	if ua, ok := s.conn.LocalAddr().(*net.UDPAddr); ok && ua.IP.IsLoopback() {
		se.SetIncludeLoopbackCandidate(true)
	}
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if ua, ok := s.conn.LocalAddr().(*net.UDPAddr); !ok || ua.IP.To4() == nil {
		types = append(types, webrtc.NetworkTypeUDP6)
	}
	if s.tcp != nil {
		// ICE-TCP: passive candidates on the one TCP listener (RFC 6544).
		se.SetICETCPMux(s.tcp)
		types = append(types, webrtc.NetworkTypeTCP4)
		if ta, ok := s.tcpLn.Addr().(*net.TCPAddr); !ok || ta.IP.To4() == nil {
			types = append(types, webrtc.NetworkTypeTCP6)
		}
	}
	se.SetNetworkTypes(types)
	if len(s.cfg.PublicIPs) > 0 {
		// Advertise the public addresses in place of the host candidates (the SFU
		// behind a 1:1 NAT).
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        s.cfg.PublicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, fmt.Errorf("media: public IPs: %w", err)
		}
	}
	// An empty registry, not none: without one pion installs its defaults.
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{})), nil
}
