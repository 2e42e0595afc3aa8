package media

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// publication is one published media source (one m-section of the
// publisher) with up to three simulcast layers.
type publication struct {
	id        string // "<publisher>:<mid>"
	publisher *Participant
	kind      webrtc.RTPCodecType
	codecCap  webrtc.RTPCodecCapability
	codec     Codec

	// downtracks is replaced copy-on-write so the forwarding loops read
	// it without a lock.
	downtracks atomic.Pointer[[]*downtrack]

	mu      sync.Mutex
	layers  []*layer
	started int // layers whose read loop has run
	ended   bool
}

const maxLayers = 3

// layer is one simulcast encoding (one SSRC) of a publication.
type layer struct {
	pub   *publication
	rid   string
	ssrc  uint32
	track *webrtc.TrackRemote

	lastPLI    atomic.Int64 // nanos of the last keyframe request sent
	pendingPLI atomic.Bool  // a rate-limited request waits for its turn
	cache      *rtxCache    // video only
	twccID     uint8        // transport-wide sequence number extension, as negotiated with the publisher
	levelID    uint8        // audio level extension (RFC 6464), as negotiated; 0: none

	// The held audio level (speaker.go): written by the read loop, read
	// by subscribers' control loops.
	heldLevel, heldAt int64 // read loop only
	levelSeen         bool  // read loop only
	level             atomic.Int64
	levelAt           atomic.Int64

	// Written by the read loop only; bitrate and lastNanos are read by
	// subscribers' controllers.
	winBytes  int64
	winStart  int64
	bitrate   atomic.Int64 // bits/s over the last window
	lastNanos atomic.Int64
}

func newPublication(id string, publisher *Participant, track *webrtc.TrackRemote) *publication {
	pub := &publication{id: id, publisher: publisher, kind: track.Kind(),
		codecCap: track.Codec().RTPCodecCapability, codec: codecFromMime(track.Codec().MimeType)}
	empty := []*downtrack{}
	pub.downtracks.Store(&empty)
	return pub
}

// addLayer registers a layer; false if the publication already has this
// rid or is full. twccID is the publisher's transport-wide sequence
// number extension ID (0: not negotiated).
func (pub *publication) addLayer(track *webrtc.TrackRemote, twccID, levelID uint8) (*layer, bool) {
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if pub.ended || len(pub.layers) >= maxLayers {
		return nil, false
	}
	for _, l := range pub.layers {
		if l.rid == track.RID() {
			return nil, false
		}
	}
	l := &layer{pub: pub, rid: track.RID(), ssrc: uint32(track.SSRC()), track: track, twccID: twccID, levelID: levelID}
	if pub.codec.isVideo() {
		l.cache = newRTXCache()
	}
	pub.layers = append(pub.layers, l)
	pub.started++
	return l, true
}

// layersByRate returns the layers that sent recently, lowest bitrate
// first. A layer silent for staleAfter is left out: the publisher's own
// congestion control has stopped it.
func (pub *publication) layersByRate(nanos int64) []*layer {
	pub.mu.Lock()
	ls := make([]*layer, 0, len(pub.layers))
	for _, l := range pub.layers {
		if last := l.lastNanos.Load(); last != 0 && nanos-last < staleAfter {
			ls = append(ls, l)
		}
	}
	pub.mu.Unlock()
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].bitrate.Load() < ls[j].bitrate.Load() })
	return ls
}

func (pub *publication) firstLayer() *layer {
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.layers) == 0 {
		return nil
	}
	return pub.layers[0]
}

func (pub *publication) isEnded() bool {
	pub.mu.Lock()
	defer pub.mu.Unlock()
	return pub.ended
}

// addDowntrack is false once the publication has ended.
func (pub *publication) addDowntrack(dt *downtrack) bool {
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if pub.ended {
		return false
	}
	old := *pub.downtracks.Load()
	next := make([]*downtrack, len(old), len(old)+1)
	copy(next, old)
	next = append(next, dt)
	pub.downtracks.Store(&next)
	return true
}

func (pub *publication) removeDowntrack(dt *downtrack) {
	pub.mu.Lock()
	defer pub.mu.Unlock()
	old := *pub.downtracks.Load()
	next := make([]*downtrack, 0, len(old))
	for _, d := range old {
		if d != dt {
			next = append(next, d)
		}
	}
	pub.downtracks.Store(&next)
}

const (
	rateWindow = int64(500e6)
	staleAfter = int64(2e9)
	maxRTPSize = 1500
)

// forwardFrom forwards one layer from its SRTP buffer until the track ends
// or the publisher leaves. Forwarding itself happens on pion's SRTP
// goroutine, as each packet is decrypted (rtpBuffer); this goroutine only
// waits for the end. It is the forwarding hot path: one reused header, no
// allocation per packet (BenchmarkForward, TestForwardingAllocations).
func (pub *publication) forwardFrom(l *layer, b *rtpBuffer) {
	s := pub.publisher.sfu
	var h rtp.Header
	b.attach(func(pkt []byte) { pub.forwardPacket(l, &h, pkt, s.nanos()) })
	select {
	case <-b.done:
	case <-pub.publisher.done:
	}
	b.detach()
	pub.layerEnded()
}

// readLoop forwards one layer until its track ends, reading on its own
// goroutine: for a track whose SSRC has no rtpBuffer (none is expected).
func (pub *publication) readLoop(l *layer) {
	s := pub.publisher.sfu
	buf := make([]byte, maxRTPSize)
	var h rtp.Header
	for {
		n, _, err := l.track.Read(buf)
		if err != nil {
			break
		}
		pub.forwardPacket(l, &h, buf[:n], s.nanos())
	}
	pub.layerEnded()
}

// forwardPacket parses one upstream packet and writes it to every
// downtrack fed by layer l.
func (pub *publication) forwardPacket(l *layer, h *rtp.Header, pkt []byte, nanos int64) {
	c := &pub.publisher.counters
	if o := pub.publisher.sfu.cfg.Observe; o != nil {
		o(pkt)
	}
	hl, err := h.Unmarshal(pkt)
	if err != nil {
		c.malformed.Add(1)
		return
	}
	if u := pub.publisher.upstream; u != nil {
		u.record(l, h, nanos)
	}
	end := len(pkt)
	if h.Padding { // RFC 3550 §5.1: last octet counts the padding
		pad := int(pkt[end-1])
		if pad == 0 || hl+pad > end {
			c.malformed.Add(1)
			return
		}
		end -= pad
	}
	payload := pkt[hl:end]
	l.account(len(pkt), nanos)
	l.noteLevel(h, nanos)
	if len(payload) == 0 {
		return // padding-only bandwidth probe: nothing to forward
	}
	if l.cache != nil {
		l.cache.put(h.SequenceNumber, h.Timestamp, h.Marker, payload)
	}
	kf := IsKeyframeStart(pub.codec, payload)
	sent := pub.fanOut(l, h, payload, kf, nanos)
	if sent > 0 {
		c.forwardedPackets.Add(sent)
		c.forwardedBytes.Add(sent * uint64(len(payload)))
	}
}

// fanOut writes one packet to every downtrack as one batch of datagrams
// (batchWriter) and returns how many took it.
func (pub *publication) fanOut(l *layer, h *rtp.Header, payload []byte, kf bool, nanos int64) uint64 {
	conn := pub.publisher.sfu.conn
	conn.holdWrites()
	defer conn.releaseWrites()
	var sent uint64
	for _, dt := range *pub.downtracks.Load() {
		if dt.forward(l, h, payload, kf, nanos) {
			sent++
		}
	}
	return sent
}

func (l *layer) account(size int, nanos int64) {
	l.lastNanos.Store(nanos)
	if l.winStart == 0 {
		l.winStart = nanos
	}
	l.winBytes += int64(size)
	if d := nanos - l.winStart; d >= rateWindow {
		l.bitrate.Store(l.winBytes * 8 * 1e9 / d)
		l.winBytes = 0
		l.winStart = nanos
	}
}

// requestKeyframe sends a PLI (RFC 4585 §6.3.1) for this layer to the
// publisher, at most once per PLIMinInterval: many subscribers asking at
// once, or one asking in a loop, cost the publisher one keyframe. A request
// inside the interval is deferred to its end, not dropped: the subscriber
// that asked gets nothing until a keyframe comes, and a browser publisher
// sends none on its own.
func (l *layer) requestKeyframe() {
	p := l.pub.publisher
	now := p.sfu.nanos()
	last := l.lastPLI.Load()
	if wait := int64(p.sfu.cfg.PLIMinInterval) - (now - last); last != 0 && wait > 0 {
		p.counters.pliRateLimited.Add(1)
		if l.pendingPLI.CompareAndSwap(false, true) {
			time.AfterFunc(time.Duration(wait), func() {
				l.pendingPLI.Store(false)
				if !l.pub.isEnded() {
					l.requestKeyframe()
				}
			})
		}
		return
	}
	if !l.lastPLI.CompareAndSwap(last, now) {
		p.counters.pliRateLimited.Add(1)
		return
	}
	if err := p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: l.ssrc}}); err == nil {
		p.counters.pliForwarded.Add(1)
	}
}

// layerEnded is called when a layer's track ends; the publication ends
// with its last layer and is withdrawn from every subscriber.
func (pub *publication) layerEnded() {
	pub.mu.Lock()
	pub.started--
	last := pub.started == 0 && !pub.ended
	if last {
		pub.ended = true
	}
	pub.mu.Unlock()
	if !last {
		return
	}
	pub.publisher.room.unpublish(pub)
	pub.publisher.forgetPublication(pub)
	for _, dt := range *pub.downtracks.Load() {
		dt.sub.unsubscribe(dt)
	}
}
