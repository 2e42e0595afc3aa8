package media

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// downtrack is one publication as one subscriber receives it: a
// webrtc.TrackLocal bound to the subscriber's PeerConnection, with its own
// SSRC, payload type, sequence numbers and timestamps (RFC 3550 §8.2: the
// SFU is the source of the outgoing stream towards this subscriber, so the
// SSRC is the one negotiated with the subscriber, not the publisher's).
type downtrack struct {
	pub    *publication
	sub    *Participant
	id     string
	sender *webrtc.RTPSender

	mu      sync.Mutex
	writer  webrtc.TrackLocalWriter
	ssrc    uint32
	pt      uint8
	rw      rewriter
	hdr     rtp.Header // reused for every outgoing packet
	current *layer     // layer being forwarded, nil until a keyframe
	target  *layer     // layer wanted; switch on its next keyframe
	paused  bool

	// twccID is the negotiated ID of the transport-wide sequence number
	// header extension (0: not negotiated); twccBuf holds its value for
	// the packet being written.
	twccID  uint8
	twccBuf [2]byte
	// Sender report state (RFC 3550 §6.4.1): packets and payload octets
	// sent since Bind.
	srPackets, srOctets uint32

	// segments remember how recent outgoing sequence numbers map to
	// upstream ones, to answer NACKs from the layers' caches.
	segments [4]segment
	segNext  int
	rtxHdr   rtp.Header
	rtxBuf   [maxRTPSize]byte
	rtxLimit tokenBucket
}

// segment is one stretch of the outgoing stream fed by one source.
type segment struct {
	layer     *layer
	firstOut  uint16
	seqOffset uint16
	tsOffset  uint32
}

var _ webrtc.TrackLocal = (*downtrack)(nil)

func newDowntrack(pub *publication, sub *Participant) *downtrack {
	dt := &downtrack{pub: pub, sub: sub, id: pub.id}
	dt.rw = newRewriter(uint16(rand.Uint32()), rand.Uint32(), pub.codecCap.ClockRate)
	dt.hdr.Extensions = make([]rtp.Extension, 0, 4)
	dt.rtxHdr.Extensions = make([]rtp.Extension, 0, 4)
	// A subscriber may ask for retransmissions, not for a replay of the
	// cache: NACKs beyond this rate are ignored.
	dt.rtxLimit = newTokenBucket(RateLimit{PacketsPerSecond: 300, BurstPackets: 150}, 0)
	dt.target = pub.firstLayer()
	return dt
}

// Bind is called by pion when the subscriber's answer is applied.
func (dt *downtrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	// The first codec of the publisher's type, or the first with its exact
	// fmtp. pion's list may name one codec several times under different
	// payload types (the SFU's own numbering and each peer's, learnt from its
	// SDP), and only the first is the one this m-section was offered with:
	// taking a later one sent H.264 under a payload type the subscriber
	// never negotiated there, and it dropped every packet.
	var match *webrtc.RTPCodecParameters
	exact := false
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, dt.pub.codecCap.MimeType) {
			continue
		}
		c := c
		if match == nil || (!exact && c.SDPFmtpLine == dt.pub.codecCap.SDPFmtpLine) {
			match = &c
			exact = c.SDPFmtpLine == dt.pub.codecCap.SDPFmtpLine
		}
	}
	if match == nil {
		// The subscriber did not negotiate the publisher's codec. Failing
		// Bind would fail the whole answer (pion starts senders inside
		// SetRemoteDescription), so the track is bound but stays silent.
		codecs := ctx.CodecParameters()
		if len(codecs) == 0 {
			return webrtc.RTPCodecParameters{}, ErrUnsupportedCodec
		}
		dt.sub.sfu.log.Info("media: subscriber lacks codec", "participant", dt.sub.id,
			"track", dt.id, "codec", dt.pub.codecCap.MimeType)
		dt.mu.Lock()
		dt.writer = nil
		dt.mu.Unlock()
		return codecs[0], nil
	}
	var twccID uint8
	for _, e := range ctx.HeaderExtensions() {
		if e.URI == sdp.TransportCCURI && e.ID > 0 && e.ID < 15 {
			twccID = uint8(e.ID)
		}
	}
	dt.mu.Lock()
	dt.writer = ctx.WriteStream()
	dt.ssrc = uint32(ctx.SSRC())
	dt.pt = uint8(match.PayloadType)
	if dt.sub.twcc != nil {
		dt.twccID = twccID
	}
	dt.sub.setOut(dt.ssrc, dt, true)
	dt.current = nil
	dt.rw.unanchor()
	target := dt.target
	dt.mu.Unlock()
	if target != nil && dt.pub.codec.isVideo() {
		target.requestKeyframe()
	}
	return *match, nil
}

// Unbind is called by pion when the sender stops.
func (dt *downtrack) Unbind(webrtc.TrackLocalContext) error {
	dt.mu.Lock()
	dt.writer = nil
	dt.current = nil
	dt.rw.unanchor()
	dt.mu.Unlock()
	return nil
}

// outSSRC is the SSRC the subscriber receives this downtrack on (0 before
// Bind).
func (dt *downtrack) outSSRC() uint32 {
	dt.mu.Lock()
	defer dt.mu.Unlock()
	return dt.ssrc
}

func (dt *downtrack) ID() string                { return dt.id }
func (dt *downtrack) RID() string               { return "" }
func (dt *downtrack) StreamID() string          { return dt.pub.publisher.id }
func (dt *downtrack) Kind() webrtc.RTPCodecType { return dt.pub.kind }

// forward writes one upstream packet of layer l to the subscriber if l is
// the layer it receives, switching to the target layer on a keyframe. The
// payload is passed through untouched; only the header is rebuilt.
func (dt *downtrack) forward(l *layer, h *rtp.Header, payload []byte, keyframe bool, nanos int64) bool {
	dt.mu.Lock()
	defer dt.mu.Unlock()
	if dt.writer == nil || dt.paused {
		return false
	}
	if l != dt.current {
		if l != dt.target {
			return false
		}
		if !keyframe {
			// Waiting to start or switch: keep asking (rate-limited per layer),
			// in case the request or the keyframe itself was lost.
			l.requestKeyframe()
			return false
		}
		if dt.current != nil {
			dt.sub.counters.layerSwitches.Add(1)
		}
		if l.rid != "" {
			dt.sub.tellLayer(l)
		}
		dt.current = l
		dt.rw.anchor(h.SequenceNumber, h.Timestamp, nanos)
		dt.segments[dt.segNext] = segment{layer: l, firstOut: h.SequenceNumber + dt.rw.seqOffset,
			seqOffset: dt.rw.seqOffset, tsOffset: dt.rw.tsOffset}
		dt.segNext = (dt.segNext + 1) % len(dt.segments)
	}
	seq, ts, ok := dt.rw.rewrite(h.SequenceNumber, h.Timestamp, nanos)
	if !ok {
		return false
	}
	// Header extensions of the publisher's session mean nothing in the
	// subscriber's (IDs are negotiated per session); the only one the SFU
	// sends is the transport-wide sequence number (writeRTP).
	dt.hdr = rtp.Header{
		Version:        2,
		Marker:         h.Marker,
		PayloadType:    dt.pt,
		SequenceNumber: seq,
		Timestamp:      ts,
		SSRC:           dt.ssrc,
		Extensions:     dt.hdr.Extensions[:0],
	}
	return dt.writeRTP(&dt.hdr, payload, nanos)
}

// writeRTP sends one packet with its transport-wide sequence number
// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2, a one-byte
// header extension, RFC 8285 §4.2) and records it for the bandwidth
// estimate and the sender report. dt.mu is held.
func (dt *downtrack) writeRTP(h *rtp.Header, payload []byte, nanos int64) bool {
	var seq uint32
	if dt.twccID != 0 {
		seq = dt.sub.twcc.take()
		binary.BigEndian.PutUint16(dt.twccBuf[:], uint16(seq))
		_ = h.SetExtension(dt.twccID, dt.twccBuf[:]) // a fresh header: one-byte form, reuses Extensions

	}
	if _, err := dt.writer.WriteRTP(h, payload); err != nil {
		return false
	}
	if dt.twccID != 0 {
		// 12-byte header, 8 bytes of extension (RFC 8285 §4.2: 4-byte
		// header, 1+2 bytes padded to 4), the payload.
		dt.sub.twcc.sent(seq, nanos, 20+len(payload))
	}
	dt.srPackets++
	dt.srOctets += uint32(len(payload))
	return true
}

// setTarget chooses the layer to receive (nil pauses) and asks the
// publisher for a keyframe on it when a switch is needed.
func (dt *downtrack) setTarget(l *layer, paused bool) {
	dt.mu.Lock()
	changed := dt.target != l || dt.paused != paused
	dt.target = l
	if paused && !dt.paused {
		dt.current = nil
		dt.rw.unanchor()
	}
	dt.paused = paused
	need := !paused && l != nil && dt.current != l && dt.writer != nil
	dt.mu.Unlock()
	if changed && need {
		l.requestKeyframe()
	}
}

// targetLayer is the layer the subscriber receives or is switching to; nil
// while paused.
func (dt *downtrack) targetLayer() *layer {
	dt.mu.Lock()
	defer dt.mu.Unlock()
	if dt.paused {
		return nil
	}
	return dt.target
}

// keyframeWanted forwards a subscriber's PLI/FIR to the layer it
// receives (or is switching to).
func (dt *downtrack) keyframeWanted() {
	dt.mu.Lock()
	l := dt.current
	if l == nil || dt.target != l {
		l = dt.target
	}
	dt.mu.Unlock()
	if l != nil {
		l.requestKeyframe()
	}
}

// retransmit answers a subscriber's NACK for outgoing sequence number seq
// from the cache of the layer that fed it (RFC 4585 §6.2.1; RFC 4588 RTX
// is not negotiated, so the packet is resent as it was first sent).
func (dt *downtrack) retransmit(seq uint16, nanos int64) bool {
	dt.mu.Lock()
	defer dt.mu.Unlock()
	if dt.writer == nil || !dt.rw.sent || int16(seq-dt.rw.lastOutSeq) > 0 {
		return false
	}
	var seg *segment
	var best int16 = -1
	for i := range dt.segments {
		s := &dt.segments[i]
		if s.layer == nil || s.layer.cache == nil {
			continue
		}
		if d := int16(seq - s.firstOut); d >= 0 && (best < 0 || d < best) {
			seg, best = s, d
		}
	}
	if seg == nil || !dt.rtxLimit.allow(0, nanos) {
		return false
	}
	ts, marker, n, ok := seg.layer.cache.get(seq-seg.seqOffset, dt.rtxBuf[:])
	if !ok || !dt.sub.rtx.allow(n, rtxShare*float64(dt.sub.currentEstimate()), nanos) {
		return false
	}
	dt.rtxHdr = rtp.Header{
		Version:        2,
		Marker:         marker,
		PayloadType:    dt.pt,
		SequenceNumber: seq,
		Timestamp:      ts + seg.tsOffset,
		SSRC:           dt.ssrc,
		Extensions:     dt.rtxHdr.Extensions[:0],
	}
	return dt.writeRTP(&dt.rtxHdr, dt.rtxBuf[:n], nanos)
}
