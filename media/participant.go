package media

import (
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/packetio"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/signaling"
)

// Participant is one client's PeerConnection to the SFU. Its methods are
// safe for concurrent use; signaling calls HandleMessage (or the typed
// methods) for every message the client sends.
type Participant struct {
	sfu     *SFU
	room    *room
	id      string
	grants  Grants
	pc      *webrtc.PeerConnection
	binding *transportBinding
	signals *signalQueue

	counters counters

	// twcc numbers what the SFU sends this participant for transport-wide
	// congestion control, and bwe estimates its bandwidth from the
	// feedback; both nil for a participant that may not subscribe.
	twcc     *twccSender
	bwe      atomic.Pointer[sendSideBWE]
	estimate atomic.Int64 // > 0 overrides the estimator (tests)
	// rtx is what retransmissions to this subscriber may still send (rtxBudget).
	rtx rtxBudget
	// upstream is the RTCP about what this participant publishes; nil
	// for a participant that may not publish.
	upstream *upstream

	negMu      sync.Mutex // offer/answer state and transceiver changes
	dirty      bool       // tracks changed since the last offer
	gathered   bool
	offer      *webrtc.SessionDescription // SFU offer sent, not yet applied
	offerID    uint64
	midSeq     int
	downtracks map[*publication]*downtrack
	codecSet   map[string]bool // mids whose codec preferences preferRoomCodec set

	pubMu sync.Mutex
	pubs  map[string]*publication

	bufMu   sync.Mutex
	rtpBufs map[uint32]*rtpBuffer // by SSRC, as pion's SRTP session opened them
	outs    map[uint32]*downtrack // by the SSRC the participant receives it on

	policyMu  sync.Mutex
	announced []uint32
	bound     []uint32
	rids      bool

	view viewState // declared layer heights and tile heights (view.go)

	codecMu sync.Mutex
	decodes map[string]bool // video codecs the client declared it decodes; nil: none declared

	addrMu   sync.Mutex
	selected netip.AddrPort   // remote end of the selected candidate pair
	valid    []netip.AddrPort // remote ends of the other validated pairs

	videoPaused bool   // controller goroutine only
	speaker     string // controller goroutine only: the active speaker last told
	// Controller goroutine only: nanos of the last pause, resume or retry, of the last
	// resume, and how long a pause waits before the next retry (bwe.go).
	pauseChanged, resumedAt, retryWait int64
	lastReport                         int64 // controller goroutine only: nanos of the last sender reports

	closeOnce   sync.Once
	closed      atomic.Bool
	done        chan struct{}
	stopControl chan struct{} // closed by Close: the control loop returns
	controlDone chan struct{} // closed when it has
	// loops are the goroutines the participant starts (control, the RTCP ticker of
	// what it publishes, one per track waiting for the track's end); Close waits for
	// them. goMu orders starting one against Close's wait.
	goMu    sync.Mutex
	stopped bool
	loops   sync.WaitGroup
}

func newParticipant(s *SFU, r *room, id string, grants Grants, signal func(signaling.Media)) (*Participant, error) {
	p := &Participant{sfu: s, room: r, id: id, grants: grants,
		downtracks: map[*publication]*downtrack{}, codecSet: map[string]bool{}, pubs: map[string]*publication{},
		rtpBufs: map[uint32]*rtpBuffer{}, outs: map[uint32]*downtrack{}, done: make(chan struct{}),
		stopControl: make(chan struct{}), controlDone: make(chan struct{})}
	p.binding = newTransportBinding(&p.counters, s.cfg.RateLimit, s.conn.nanos())
	if grants.CanSubscribe {
		p.twcc = newTWCCSender()
		p.bwe.Store(newSendSideBWE(p.twcc, s.cfg.InitialBitrate, s.cfg.MinBitrate, s.cfg.MaxBitrate, s.nanos()))
	}
	if grants.CanPublish {
		p.upstream = newUpstream(p)
	}
	api, err := s.newParticipantAPI(p.newBuffer)
	if err != nil {
		return nil, err
	}
	p.pc, err = api.NewPeerConnection(webrtc.Configuration{
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
	})
	if err != nil {
		return nil, fmt.Errorf("media: new peer connection: %w", err)
	}
	p.signals = newSignalQueue(signal)
	p.pc.OnTrack(p.onTrack)
	p.pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(p.onSelectedPair)
	p.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed {
			_ = p.Close()
		}
	})
	if !p.spawn(p.controlLoop) {
		close(p.controlDone)
	}
	if p.upstream != nil {
		p.spawn(func() { p.upstream.run(p.done) })
	}
	return p, nil
}

// spawn runs f on a goroutine Close waits for; after Close it does nothing.
func (p *Participant) spawn(f func()) bool {
	p.goMu.Lock()
	defer p.goMu.Unlock()
	if p.stopped {
		return false
	}
	p.loops.Go(f)
	return true
}

// ID is the participant's identity in the room.
func (p *Participant) ID() string { return p.id }

// Counters returns this participant's counters: as a publisher, the
// packets forwarded from its tracks and those dropped on its transport
// (unannounced SSRC, rate limit, malformed) and the keyframe requests sent
// to it; as a subscriber, retransmissions, layer switches and pauses.
func (p *Participant) Counters() Counters { return p.counters.snapshot() }

// onSelectedPair binds the transport's remote address in the guard, so RTP
// from it is checked against this participant's announced SSRCs, and gives a
// pair that replaces another a bandwidth estimate of its own.
func (p *Participant) onSelectedPair(pair *webrtc.ICECandidatePair) {
	if pair == nil || pair.Remote == nil {
		return
	}
	ip, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return
	}
	p.addrMu.Lock()
	defer p.addrMu.Unlock()
	if p.selected.IsValid() {
		p.resetEstimate() // a new path (an ICE restart): its own estimate
	}
	p.selected = netip.AddrPortFrom(ip, pair.Remote.Port)
	p.bindAddrsLocked()
}

// refreshValidPairs binds, besides the selected pair's, the remote address
// of every candidate pair whose connectivity check succeeded. Those
// addresses proved they hold this participant's ICE password (RFC 8445
// §7.2.5, §7.3.1: checks carry MESSAGE-INTEGRITY), and an agent must
// accept media on any valid pair (RFC 8445 §12.2), as pion does. The
// client, as controlling agent, may move its media to another valid pair
// (Chrome does, to a host candidate of another interface) while pion keeps
// reporting the pair it first accepted a nomination for: binding only that
// address dropped every packet the client sent afterwards, so nothing of
// it reached its subscribers. Called from the control loop; reading the
// stats is kept out of pion's pair-change callback.
func (p *Participant) refreshValidPairs() {
	rep := p.pc.GetStats()
	var valid []netip.AddrPort
	for _, st := range rep {
		pair, ok := st.(webrtc.ICECandidatePairStats)
		if !ok || pair.State != webrtc.StatsICECandidatePairStateSucceeded {
			continue
		}
		c, ok := rep[pair.RemoteCandidateID].(webrtc.ICECandidateStats)
		if !ok || c.Port <= 0 || c.Port > 0xffff {
			continue
		}
		ip, err := netip.ParseAddr(c.IP)
		if err != nil {
			continue
		}
		valid = append(valid, netip.AddrPortFrom(ip, uint16(c.Port)))
	}
	p.addrMu.Lock()
	defer p.addrMu.Unlock()
	p.valid = valid
	p.bindAddrsLocked()
}

func (p *Participant) bindAddrsLocked() {
	if !p.selected.IsValid() {
		return // not connected yet: nothing is bound before ICE selects
	}
	addrs := append([]netip.AddrPort{p.selected}, p.valid...)
	p.sfu.conn.bind(addrs, p.binding)
}

// HandleMessage dispatches one client message.
func (p *Participant) HandleMessage(m signaling.Media) error {
	switch m.Type {
	case signaling.MediaOffer:
		return p.HandleOffer(m.SDP)
	case signaling.MediaAnswer:
		return p.HandleAnswer(m.SDP, m.ID)
	case signaling.MediaCandidate:
		if m.Candidate == nil {
			return fmt.Errorf("%w: candidate message without candidate", ErrBadCandidate)
		}
		return p.AddICECandidate(*m.Candidate)
	case signaling.MediaCodecs:
		return p.setDecodes(m.Codecs)
	case signaling.MediaLayers:
		return p.setLayers(m.Layers)
	case signaling.MediaView:
		return p.setView(m.Participant, m.Height)
	}
	return fmt.Errorf("%w: %q", ErrUnknownMessage, m.Type)
}

// setAnnounced records what the client's latest offer announces.
func (p *Participant) setAnnounced(ssrcs []uint32, rids bool) {
	p.policyMu.Lock()
	defer p.policyMu.Unlock()
	p.announced, p.rids = ssrcs, rids
	p.publishPolicyLocked()
}

// addBound records an SSRC pion bound to an announced rid.
func (p *Participant) addBound(ssrc uint32) {
	p.policyMu.Lock()
	defer p.policyMu.Unlock()
	p.bound = appendUnique(p.bound, ssrc)
	p.publishPolicyLocked()
}

// publishPolicyLocked hands the guard the SSRCs this transport may send.
// A participant without CanPublish may send none: all its RTP is dropped
// at the socket, before decryption.
func (p *Participant) publishPolicyLocked() {
	if !p.grants.CanPublish {
		p.binding.allowed.Store(&ssrcPolicy{})
		return
	}
	all := append(append([]uint32(nil), p.announced...), p.bound...)
	p.binding.allowed.Store(&ssrcPolicy{ssrcs: all, probe: p.rids, bwProbe: true})
}

// onTrack is called by pion for each new incoming stream (one per
// simulcast layer). Layers of one m-section form one publication.
func (p *Participant) onTrack(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	if !p.grants.CanPublish || p.closed.Load() {
		return
	}
	mid := ""
	for _, t := range p.pc.GetTransceivers() {
		if t.Receiver() == receiver {
			mid = t.Mid()
		}
	}
	id := p.id + ":" + mid
	p.pubMu.Lock()
	pub := p.pubs[id]
	isNew := pub == nil
	if isNew {
		pub = newPublication(id, p, track)
		p.pubs[id] = pub
	}
	p.pubMu.Unlock()
	var twccID, levelID uint8
	for _, e := range receiver.GetParameters().HeaderExtensions {
		if e.URI == sdp.TransportCCURI && e.ID > 0 && e.ID < 256 {
			twccID = uint8(e.ID)
		}
		if e.URI == sdp.AudioLevelURI && e.ID > 0 && e.ID < 256 && track.Kind() == webrtc.RTPCodecTypeAudio {
			levelID = uint8(e.ID)
		}
	}
	l, ok := pub.addLayer(track, twccID, levelID)
	if !ok {
		return
	}
	p.addBound(l.ssrc)
	forward := func() { pub.readLoop(l) }
	if b := p.rtpBuffer(l.ssrc); b != nil {
		forward = func() { pub.forwardFrom(l, b) }
	}
	if !p.spawn(forward) {
		return
	}
	if isNew {
		p.room.publish(pub)
	}
}

// newBuffer is the participant's SettingEngine.BufferFactory: pion's SRTP
// and SRTCP sessions call it for each SSRC they read. The RTCP of an
// incoming SSRC (pion opens it right after the RTP) goes to the upstream
// state; the RTCP about what the SFU sends is acted on as it arrives.
func (p *Participant) newBuffer(kind packetio.BufferPacketType, ssrc uint32) io.ReadWriteCloser {
	p.bufMu.Lock()
	defer p.bufMu.Unlock()
	if kind == packetio.RTPBufferPacket {
		b := newRTPBuffer()
		p.rtpBufs[ssrc] = b
		return b
	}
	if _, incoming := p.rtpBufs[ssrc]; incoming && p.upstream != nil {
		return &upstreamRTCP{u: p.upstream, done: make(chan struct{})}
	}
	return &subscriberRTCP{p: p, ssrc: ssrc, done: make(chan struct{})}
}

// rtpBuffer is the open buffer of an incoming SSRC, nil if there is none.
func (p *Participant) rtpBuffer(ssrc uint32) *rtpBuffer {
	p.bufMu.Lock()
	defer p.bufMu.Unlock()
	b := p.rtpBufs[ssrc]
	if b == nil {
		return nil
	}
	select {
	case <-b.done:
		delete(p.rtpBufs, ssrc)
		return nil
	default:
		return b
	}
}

func (p *Participant) forgetPublication(pub *publication) {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	if p.pubs[pub.id] == pub {
		delete(p.pubs, pub.id)
	}
}

// subscribe adds a downtrack for pub and offers it to the client.
func (p *Participant) subscribe(pub *publication) {
	if p.closed.Load() || !p.grants.CanSubscribe {
		return
	}
	dt := newDowntrack(pub, p)
	p.negMu.Lock()
	if _, dup := p.downtracks[pub]; dup {
		p.negMu.Unlock()
		return
	}
	// Always a new m-section of the SFU's own (mid sN, given now), never one
	// of the client's. pion's AddTrack sends on any transceiver of the kind
	// that has no sender, such as a section the client published on and then
	// stopped (rejected with port 0; JSEP §5.2.2 lets it come back only under
	// a new mid): the page then never showed what came on it, and after Firefox
	// left and the room's codec changed back, a Chromium lost another's video.
	// And a transceiver without a mid is one pion pairs with the next section a
	// client offers (satisfyTypeAndDirection): a sendonly one would take the
	// client's own publishing section and refuse what it sends.
	var sender *webrtc.RTPSender
	tr, err := p.pc.AddTransceiverFromTrack(dt, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err == nil {
		sender = tr.Sender()
		p.midSeq++
		err = tr.SetMid(fmt.Sprintf("s%d", p.midSeq))
	}
	if err != nil {
		p.negMu.Unlock()
		p.sfu.log.Warn("media: add track", "participant", p.id, "err", err)
		return
	}
	dt.sender = sender
	p.downtracks[pub] = dt
	p.negMu.Unlock()
	if !pub.addDowntrack(dt) {
		p.unsubscribe(dt)
		return
	}
	p.negotiate()
}

// unsubscribe withdraws a downtrack and offers the change to the client.
func (p *Participant) unsubscribe(dt *downtrack) {
	dt.pub.removeDowntrack(dt)
	p.negMu.Lock()
	if p.downtracks[dt.pub] != dt {
		p.negMu.Unlock()
		return
	}
	delete(p.downtracks, dt.pub)
	p.setOut(dt.outSSRC(), dt, false)
	if !p.closed.Load() {
		p.withdraw(dt)
	}
	p.negMu.Unlock()
	if !p.closed.Load() {
		p.negotiate()
	}
}

// withdraw takes dt's track out of the session (negMu held): its section
// stays sendonly with a silent track of no stream (msid "-") instead of
// going inactive. pion offers an inactive section without header
// extensions, a browser answers it without any, and Chromium then offers
// its own new video sections with the header extensions of the first video
// section of the session: a camera section without the rid extension,
// which it refuses to set for simulcast ("negotiates simulcast but does
// not negotiate the RID RTP header extension"), so the page never
// published. pion likewise fixes the session's video header extensions
// from the first video section a client answers, so a stopped section
// answered first also took transport-wide congestion control off every
// video section after it. A participant leaving as another joins, or a
// room changing codec, made such sections.
func (p *Participant) withdraw(dt *downtrack) {
	if err := dt.sender.ReplaceTrack(parkedTrack{id: dt.id, kind: dt.pub.kind}); err != nil {
		p.sfu.log.Debug("media: withdraw track", "participant", p.id, "err", err)
	}
}

func (p *Participant) downtrackList() []*downtrack {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	out := make([]*downtrack, 0, len(p.downtracks))
	for _, dt := range p.downtracks {
		out = append(out, dt)
	}
	return out
}

// setOut records (or, with add false, forgets) that the participant
// receives dt on ssrc, for the RTCP it sends about it.
func (p *Participant) setOut(ssrc uint32, dt *downtrack, add bool) {
	p.bufMu.Lock()
	defer p.bufMu.Unlock()
	switch {
	case add:
		p.outs[ssrc] = dt
	case p.outs[ssrc] == dt:
		delete(p.outs, ssrc)
	}
}

func (p *Participant) outDowntrack(ssrc uint32) *downtrack {
	p.bufMu.Lock()
	defer p.bufMu.Unlock()
	return p.outs[ssrc]
}

// subscriberRTCP takes the RTCP a subscriber sends about one SSRC (pion's
// SRTCP session opens a read stream per SSRC named) and acts on it at once
// on the session's goroutine: the SFU reads nothing else from it, and a
// reader goroutine per downtrack would cost a hand-off per RTCP packet,
// ten a second per subscriber for the transport-wide feedback alone.
type subscriberRTCP struct {
	p    *Participant
	ssrc uint32
	once sync.Once
	done chan struct{}
}

func (r *subscriberRTCP) Write(b []byte) (int, error) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return len(b), nil
	}
	now := r.p.sfu.nanos()
	if dt := r.p.outDowntrack(r.ssrc); dt != nil {
		r.p.handleSubscriberRTCP(dt, pkts, now)
		return len(b), nil
	}
	// Feedback whose media SSRC is none the SFU sends is still about the
	// whole transport.
	for _, pk := range pkts {
		if fb, ok := pk.(*rtcp.TransportLayerCC); ok {
			if e := r.p.bwe.Load(); e != nil {
				e.onFeedback(fb, now)
			}
		}
	}
	return len(b), nil
}

// Read has nothing to give: it waits for Close.
func (r *subscriberRTCP) Read([]byte) (int, error) {
	<-r.done
	return 0, io.EOF
}

func (r *subscriberRTCP) Close() error {
	r.once.Do(func() { close(r.done) })
	return nil
}

// handleSubscriberRTCP acts on one compound RTCP packet from a subscriber,
// read from the stream of downtrack dt: PLI (RFC 4585 §6.3.1) and FIR
// (RFC 5104 §4.3.1) go upstream as a rate-limited PLI, Generic NACKs
// (RFC 4585 §6.2.1) are answered from the layer cache, transport-wide
// feedback feeds the bandwidth estimate. Receiver reports are not used.
//
// pion hands a compound packet to the stream of every SSRC it names (a
// receiver report names every stream received), so one packet is read
// from several downtracks: each acts only on the requests for its own
// SSRC, and the estimator drops feedback it has already taken.
func (p *Participant) handleSubscriberRTCP(dt *downtrack, pkts []rtcp.Packet, now int64) {
	ssrc := dt.outSSRC()
	for _, pk := range pkts {
		switch pk := pk.(type) {
		case *rtcp.TransportLayerCC:
			if e := p.bwe.Load(); e != nil {
				e.onFeedback(pk, now)
			}
		case *rtcp.PictureLossIndication:
			if pk.MediaSSRC == ssrc {
				dt.keyframeWanted()
			}
		case *rtcp.FullIntraRequest:
			for _, e := range pk.FIR {
				if e.SSRC == ssrc {
					dt.keyframeWanted()
					break
				}
			}
		case *rtcp.TransportLayerNack:
			if pk.MediaSSRC != ssrc {
				continue
			}
			for _, pair := range pk.Nacks {
				for _, seq := range pair.PacketList() {
					if dt.retransmit(seq, now) {
						p.counters.retransmitted.Add(1)
					} else {
						p.counters.nackMisses.Add(1)
					}
				}
			}
		}
	}
}

// Close leaves the room: the participant's publications are withdrawn
// from every subscriber (who get a renegotiation offer) and its
// PeerConnection is closed. Close is idempotent.
func (p *Participant) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.room.release(p.id)
		p.room.chooseCodec(nil) // without this participant, a codec it lacked may be chosen
		for _, dt := range p.downtrackList() {
			dt.pub.removeDowntrack(dt)
		}
		p.sfu.conn.unbind(p.binding)
		// The control loop reads the connection's stats, which pion's Close
		// changes without a lock: it stops first.
		close(p.stopControl)
		<-p.controlDone
		err = p.pc.Close()
		p.signals.close()
		close(p.done)
		// The closed connection ends the reads; what a read loop does as its
		// track ends (unpublishing) happens before Close returns.
		p.goMu.Lock()
		p.stopped = true
		p.goMu.Unlock()
		p.loops.Wait()
		p.signals.wait()
		p.sfu.retire(p.counters.snapshot())
		p.sfu.dropRoomIfEmpty(p.room)
	})
	return err
}

// parkedTrack stands in for a withdrawn downtrack (withdraw): bound like
// any track, it never sends, and it belongs to no stream, so a browser
// shows nothing for it.
type parkedTrack struct {
	id   string
	kind webrtc.RTPCodecType
}

func (t parkedTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codecs := ctx.CodecParameters()
	if len(codecs) == 0 {
		return webrtc.RTPCodecParameters{}, ErrUnsupportedCodec
	}
	return codecs[0], nil
}

func (parkedTrack) Unbind(webrtc.TrackLocalContext) error { return nil }
func (t parkedTrack) ID() string                          { return t.id }
func (parkedTrack) RID() string                           { return "" }
func (parkedTrack) StreamID() string                      { return "-" }
func (t parkedTrack) Kind() webrtc.RTPCodecType           { return t.kind }
