package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/signaling"
	"github.com/sealroom/sealroom/sframe"
)

// MediaConfig configures the client's media plane (StartMedia).
type MediaConfig struct {
	// Marker is put, in the clear, at the start of every synthetic frame's protected
	// part, followed by a frame counter. Receivers look for it after decryption; tests
	// look for it in what the SFU handles. Default "sealroom-synthetic".
	Marker []byte
	// VideoFPS is the synthetic VP8 frame rate (default 30; negative: no video).
	VideoFPS int
	// AudioInterval is the synthetic Opus frame duration (default 20 ms; negative: no audio).
	AudioInterval time.Duration
	// KeyframeInterval is how often a VP8 key frame is sent regardless of key switches
	// and keyframe requests (default 3 s).
	KeyframeInterval time.Duration
	// Recording, if set, replaces the synthetic frames of the tracks it has (see
	// LoadRecording): they are sent in a loop at the clip's own rate, without the
	// marker, and a key frame that is due (new KID, keyframe request,
	// KeyframeInterval) is the clip's next key frame. A track it lacks stays
	// synthetic as VideoFPS and AudioInterval say.
	Recording *Recording
	// LoopbackOnly restricts ICE to IPv4 loopback candidates with mDNS off, so no packet
	// leaves the host (tests, local demos). The server's TURN relays are not used then.
	LoopbackOnly bool
	// RelayOnly makes ICE use the server's TURN relays only (RTCIceTransportPolicy
	// "relay"): no packet goes to the SFU but through a relay. For networks that must
	// not show the client's address to the SFU, and for tests of the relay path.
	RelayOnly bool
	// HoldFuture is how long a frame under a KID of an epoch this member has not
	// reached is held, waiting for the commit, before it counts as "no_key"
	// (default 2 s). Media may overtake the signaling that carries the commit.
	HoldFuture time.Duration
	// OnSent, if set, sees every encrypted frame this client sends (valid only during
	// the call, on the sending goroutine). Test and diagnostic hook.
	OnSent func(codec sframe.Codec, frame []byte)
	// OnFrame, if set, sees every received frame that decrypted, on the track's
	// receiving goroutine. It must not block.
	OnFrame func(f Frame)
}

func (cfg MediaConfig) withDefaults() MediaConfig {
	if len(cfg.Marker) == 0 {
		cfg.Marker = []byte("sealroom-synthetic")
	}
	if cfg.VideoFPS == 0 {
		cfg.VideoFPS = 30
	}
	if cfg.AudioInterval == 0 {
		cfg.AudioInterval = 20 * time.Millisecond
	}
	if cfg.KeyframeInterval <= 0 {
		cfg.KeyframeInterval = 3 * time.Second
	}
	if cfg.HoldFuture <= 0 {
		cfg.HoldFuture = 2 * time.Second
	}
	return cfg
}

// Media is the client's PeerConnection with the SFU: it publishes synthetic (or
// recorded) VP8 and Opus frames SFrame-encrypted under the member's current keys and
// decrypts every other participant's frames. It never sends a key or a plaintext frame.
type Media struct {
	c     *Client
	cfg   MediaConfig
	api   *webrtc.API
	pcMu  sync.Mutex
	pc    *webrtc.PeerConnection // replaced when the session moves to another node (peer)
	video *webrtc.TrackLocalStaticSample
	audio *webrtc.TrackLocalStaticSample
	in    chan signaling.Media
	stats *statsBook

	keyframe chan struct{} // a keyframe request (PLI/FIR) arrived
	restart  chan struct{} // ICE is to restart (a resume with media stalled, ICE failed)
	ice      chan struct{} // fresh TURN credentials arrived (Client.iceServers)
	moved    chan struct{} // the session moved to another node: a new PeerConnection
	done     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	trackMu  sync.Mutex // guards closed against receivers starting after Close
	closed   bool

	offerPending bool // our offer is unanswered; belongs to the run goroutine
	restartDue   bool // an ICE restart waits for the offer exchange under way; run's
}

// StartMedia opens the PeerConnection with the SFU through the client's signaling
// connection and starts publishing and receiving. The client is the impolite peer
// (docs/protocol.md, "Negotiation rules"): while its own offer is unanswered it
// ignores the SFU's offers, and it echoes the SFU offer's id in its answers.
func (c *Client) StartMedia(ctx context.Context, cfg MediaConfig) (*Media, error) {
	cfg = cfg.withDefaults()
	api, err := newMediaAPI(cfg.LoopbackOnly)
	if err != nil {
		return nil, err
	}
	m := &Media{c: c, cfg: cfg, api: api, in: make(chan signaling.Media, 64), stats: newStatsBook(),
		keyframe: make(chan struct{}, 1), restart: make(chan struct{}, 1), ice: make(chan struct{}, 1),
		moved: make(chan struct{}, 1), done: make(chan struct{})}
	pc, err := m.newPeer()
	if err != nil {
		return nil, err
	}
	m.pc = pc
	if !c.media.CompareAndSwap(nil, m) {
		_ = pc.Close()
		return nil, ErrMediaActive
	}
	if err := m.announceCodecs(); err != nil {
		m.Close()
		return nil, err
	}
	if cfg.VideoFPS > 0 || cfg.Recording.HasVideo() {
		if m.video, err = m.addTrack(webrtc.MimeTypeVP8, "video"); err != nil {
			m.Close()
			return nil, err
		}
	}
	if cfg.AudioInterval > 0 || cfg.Recording.HasAudio() {
		if m.audio, err = m.addTrack(webrtc.MimeTypeOpus, "audio"); err != nil {
			m.Close()
			return nil, err
		}
	}
	if m.video != nil || m.audio != nil {
		if err := m.offer(ctx); err != nil {
			m.Close()
			return nil, err
		}
	}
	m.wg.Add(2)
	go m.run()
	go m.publish()
	return m, nil
}

// pionICEServers are the server's TURN relays (ready's ice_servers: turn: over UDP and
// TCP, turns: over TLS) for pion, or none when ICE must stay on loopback.
func pionICEServers(p *[]signaling.ICEServer, loopbackOnly bool) []webrtc.ICEServer {
	if loopbackOnly || p == nil {
		return nil
	}
	var out []webrtc.ICEServer
	for _, s := range *p {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential,
			CredentialType: webrtc.ICECredentialTypePassword})
	}
	return out
}

// Path is how the media plane reaches the SFU: the selected ICE candidate pair.
type Path struct {
	// Local and Remote are the candidates' types: host, srflx, prflx or relay.
	Local, Remote string
	// Protocol is the transport the pair uses: "udp", or "tcp" for ICE-TCP (RFC 6544).
	// From a relay it is the relay's UDP.
	Protocol string
	// Relay, when Local is relay, is how the client reaches its TURN server: "udp",
	// "tcp" or "tls".
	Relay string
}

// Path reports the media plane's selected candidate pair; false before ICE has
// selected one.
func (m *Media) Path() (Path, bool) {
	pc := m.peer()
	if pc.ICEConnectionState() == webrtc.ICEConnectionStateNew {
		// The ICE transport has not started: pion sets up what the pair is read from
		// when it starts, without a lock.
		return Path{}, false
	}
	var t *webrtc.DTLSTransport
	for _, s := range pc.GetSenders() {
		if t = s.Transport(); t != nil {
			break
		}
	}
	for _, r := range pc.GetReceivers() {
		if t != nil {
			break
		}
		t = r.Transport()
	}
	if t == nil {
		return Path{}, false
	}
	pair, ok := t.ICETransport().GetSelectedCandidatePairStats()
	if !ok {
		return Path{}, false
	}
	report := pc.GetStats()
	local, ok := report[pair.LocalCandidateID].(webrtc.ICECandidateStats)
	if !ok {
		return Path{}, false
	}
	remote, ok := report[pair.RemoteCandidateID].(webrtc.ICECandidateStats)
	if !ok {
		return Path{}, false
	}
	return Path{Local: local.CandidateType.String(), Remote: remote.CandidateType.String(),
		Protocol: local.Protocol, Relay: local.RelayProtocol}, true
}

func newMediaAPI(loopbackOnly bool) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	if loopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	} else {
		// pion gathers UDP only by default; with TCP it also answers the SFU's passive
		// ICE-TCP candidates with active ones (RFC 6544), for networks that block UDP.
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6,
			webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6})
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg),
		webrtc.WithSettingEngine(se)), nil
}

func (m *Media) addTrack(mime, id string) (*webrtc.TrackLocalStaticSample, error) {
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime}, id, "sealroom")
	if err != nil {
		return nil, fmt.Errorf("client: media: %w", err)
	}
	return tr, m.sendTrack(m.peer(), tr)
}

// sendTrack adds tr to pc and reads the RTCP its sender receives (keyframe requests).
func (m *Media) sendTrack(pc *webrtc.PeerConnection, tr webrtc.TrackLocal) error {
	sender, err := pc.AddTrack(tr)
	if err != nil {
		return fmt.Errorf("client: media: %w", err)
	}
	m.wg.Add(1)
	go m.readRTCP(sender)
	return nil
}

// newPeer opens a PeerConnection with the server's ICE servers now, receiving into
// onTrack and restarting ICE when it fails.
func (m *Media) newPeer() (*webrtc.PeerConnection, error) {
	policy := webrtc.ICETransportPolicyAll
	if m.cfg.RelayOnly {
		policy = webrtc.ICETransportPolicyRelay
	}
	pc, err := m.api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire, ICETransportPolicy: policy,
		ICEServers: pionICEServers(m.c.iceServers.Load(), m.cfg.LoopbackOnly)})
	if err != nil {
		return nil, fmt.Errorf("client: media: %w", err)
	}
	pc.OnTrack(m.onTrack)
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		// ICE gave up on every pair (RFC 8445 §8.1.2): only a restart, with new
		// candidates and credentials, brings media back.
		if st == webrtc.ICEConnectionStateFailed && m.peer() == pc {
			m.requestRestart()
		}
	})
	return pc, nil
}

// announceCodecs tells the SFU session the video codecs this client receives and
// decrypts (media_recv.go), so the room may choose one the browsers prefer; it publishes
// VP8, which every participant decodes.
func (m *Media) announceCodecs() error {
	return m.send(signaling.Media{Type: signaling.MediaCodecs, Codecs: []string{webrtc.MimeTypeH264, webrtc.MimeTypeVP9, webrtc.MimeTypeVP8, webrtc.MimeTypeAV1}})
}

// peer is the PeerConnection with the SFU now.
func (m *Media) peer() *webrtc.PeerConnection {
	m.pcMu.Lock()
	defer m.pcMu.Unlock()
	return m.pc
}

// renew replaces the PeerConnection after the session moved to another node of the
// cluster, whose SFU knows nothing of the old one: the same tracks (the same SSRCs, so
// receivers' SFrame state carries on), a new ICE and DTLS session, a new offer. The
// member's keys are untouched: the MLS group did not change.
func (m *Media) renew(ctx context.Context) error {
	pc, err := m.newPeer()
	if err != nil {
		return err
	}
	for _, tr := range []*webrtc.TrackLocalStaticSample{m.video, m.audio} {
		if tr == nil {
			continue
		}
		if err := m.sendTrack(pc, tr); err != nil {
			_ = pc.Close()
			return err
		}
	}
	m.trackMu.Lock()
	if m.closed {
		m.trackMu.Unlock()
		_ = pc.Close()
		return ErrClosed
	}
	m.pcMu.Lock()
	old := m.pc
	m.pc = pc
	m.pcMu.Unlock()
	m.trackMu.Unlock()
	_ = old.Close()
	m.offerPending, m.restartDue = false, false
	if err := m.announceCodecs(); err != nil {
		return err
	}
	return m.offer(ctx)
}

// Stats returns a snapshot of the media counters.
func (m *Media) Stats() MediaStats { return m.stats.snapshot() }

// Done is closed when the media plane has stopped.
func (m *Media) Done() <-chan struct{} { return m.done }

// Close stops publishing and receiving, closes the PeerConnection and waits for the
// media plane's goroutines.
func (m *Media) Close() {
	m.stop()
	m.wg.Wait()
}

// stop is Close without the wait, for the media plane's own goroutines.
func (m *Media) stop() {
	m.once.Do(func() {
		m.trackMu.Lock()
		m.closed = true
		m.trackMu.Unlock()
		close(m.done)
		m.c.media.CompareAndSwap(m, nil)
		_ = m.peer().Close()
	})
}

// deliver hands an SFU message to the media goroutine; called on the client's
// goroutine, so it never blocks.
func (m *Media) deliver(msg signaling.Media) {
	select {
	case m.in <- msg:
	default:
		m.stats.fail("signal_overflow")
	}
}

// mediaMessage routes a "media" envelope to the running media plane; before
// StartMedia there is none and the message is dropped (our first offer makes the
// SFU abandon and resend any offer it made meanwhile).
func (c *Client) mediaMessage(data json.RawMessage) {
	m := c.media.Load()
	if m == nil {
		return
	}
	var msg signaling.Media
	if json.Unmarshal(data, &msg) != nil {
		return
	}
	m.deliver(msg)
}

func (m *Media) run() {
	defer m.wg.Done()
	for {
		select {
		case <-m.done:
			return
		case <-m.c.done:
			m.stop() // Client.Close waits for the rest
			return
		case msg := <-m.in:
			// A move comes before any message of the new node's SFU, which is for the
			// new PeerConnection.
			select {
			case <-m.moved:
				if err := m.renew(context.Background()); err != nil {
					m.c.cfg.Log.Warn("client: new media session after a move", "err", err)
				}
			default:
			}
			if err := m.handle(msg); err != nil {
				m.c.cfg.Log.Warn("client: media negotiation", "type", msg.Type, "err", err)
			}
		case <-m.restart:
			m.restartICE()
		case <-m.ice:
			m.applyICEServers()
		case <-m.moved:
			if err := m.renew(context.Background()); err != nil {
				m.c.cfg.Log.Warn("client: new media session after a move", "err", err)
			}
		}
		if m.restartDue && !m.offerPending {
			m.restartICE()
		}
	}
}

// restartICE offers an ICE restart (RFC 8445 §9): new credentials, candidates gathered
// anew with the current ICE servers. It waits for our unanswered offer's answer (an
// offer that could not be sent leaves no answer to wait for: the restart replaces it).
func (m *Media) restartICE() {
	if m.offerPending {
		m.restartDue = true
		return
	}
	m.restartDue = false
	m.stats.iceRestart()
	if err := m.offerWith(context.Background(), &webrtc.OfferOptions{ICERestart: true}); err != nil {
		m.c.cfg.Log.Warn("client: ICE restart", "err", err)
	}
}

func (m *Media) requestRestart() {
	select {
	case m.restart <- struct{}{}:
	default:
	}
}

// resumed runs after the signaling session came back. If media stalled meanwhile (the
// same network cut took the media path down, which ICE may not have noticed yet: its
// disconnected timeout is 5 s), ICE restarts with a new offer; the SFU kept our
// subscriptions and asks the publishers for keyframes. A signaling-only blip, with
// frames still arriving, leaves the media path alone.
//
// moved: another node took the session over; its SFU never saw this PeerConnection, so a
// new one replaces it (renew).
func (m *Media) resumed(moved bool) {
	if moved {
		select {
		case m.moved <- struct{}{}:
		default:
		}
		return
	}
	st := m.peer().ICEConnectionState()
	up := st == webrtc.ICEConnectionStateConnected || st == webrtc.ICEConnectionStateCompleted
	if !up || !m.stats.receivedSince(time.Second) {
		m.requestRestart()
	}
}

// iceServersChanged tells the media plane fresh TURN credentials arrived.
func (m *Media) iceServersChanged() {
	select {
	case m.ice <- struct{}{}:
	default:
	}
}

// applyICEServers gives the PeerConnection the latest TURN credentials, for its next
// gathering. A relay lives only as long as the credential it was allocated with (the
// TURN client keeps the allocation's credential for its refreshes, and the server
// closes it at expiry), so when media goes through a relay, ICE restarts now: the new
// gathering allocates a relay with the fresh credentials before the old one closes.
func (m *Media) applyICEServers() {
	pc := m.peer()
	cfg := pc.GetConfiguration()
	cfg.ICEServers = pionICEServers(m.c.iceServers.Load(), m.cfg.LoopbackOnly)
	if len(cfg.ICEServers) == 0 {
		return
	}
	if err := pc.SetConfiguration(cfg); err != nil {
		m.c.cfg.Log.Warn("client: apply ICE servers", "err", err)
		return
	}
	m.stats.iceServers()
	if p, ok := m.Path(); ok && p.Local == "relay" {
		m.restartICE()
	}
}

func (m *Media) handle(msg signaling.Media) error {
	pc := m.peer()
	switch msg.Type {
	case signaling.MediaAnswer:
		m.offerPending = false
		return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: msg.SDP})
	case signaling.MediaOffer:
		if m.offerPending || pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
			return nil // impolite peer: the SFU abandons its offer and sends a new one
		}
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: msg.SDP}); err != nil {
			return err
		}
		ans, err := pc.CreateAnswer(nil)
		if err != nil {
			return err
		}
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(ans); err != nil {
			return err
		}
		select {
		case <-gathered:
		case <-m.done:
			return ErrClosed
		}
		return m.send(signaling.Media{Type: signaling.MediaAnswer, ID: msg.ID, SDP: pc.LocalDescription().SDP})
	case signaling.MediaCandidate:
		if msg.Candidate == nil {
			return nil
		}
		return pc.AddICECandidate(*msg.Candidate)
	case signaling.MediaVideoPaused, signaling.MediaVideoResumed:
		m.stats.notice(msg.Type)
	case signaling.MediaCodec:
		m.stats.roomCodec(msg.Codec)
	}
	return nil
}

// offer sends our tracks to the SFU with every candidate in the SDP (no trickle).
func (m *Media) offer(ctx context.Context) error { return m.offerWith(ctx, nil) }

func (m *Media) offerWith(ctx context.Context, opts *webrtc.OfferOptions) error {
	pc := m.peer()
	o, err := pc.CreateOffer(opts)
	if err != nil {
		return fmt.Errorf("client: media offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		return fmt.Errorf("client: media offer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := m.send(signaling.Media{Type: signaling.MediaOffer, SDP: pc.LocalDescription().SDP}); err != nil {
		return err
	}
	m.offerPending = true
	return nil
}

func (m *Media) send(msg signaling.Media) error {
	return m.c.write(context.Background(), signaling.TypeMedia, "", msg)
}

// ParticipantID is this connection's participant id, the stream id of the tracks
// other participants receive from it.
func (c *Client) ParticipantID() string { return c.connID }
