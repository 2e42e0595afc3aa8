package client

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/sframe"
)

// Frame describes one received frame that decrypted.
type Frame struct {
	From  string // publisher's participant id
	Codec sframe.Codec
	KID   uint64 // authenticated SFrame KID: sender leaf and epoch bits (RFC 9605 §5.2)
	// Marked says the frame carried this client's marker: a synthetic frame of this
	// package (a recording or a browser's media carries none).
	Marked  bool
	Counter uint64 // the publisher's synthetic frame counter, if Marked
	Held    bool   // it waited for this member to reach its epoch
	// Payload is the decrypted frame (the codec's clear prefix included), valid only
	// during the OnFrame call.
	Payload []byte
}

const (
	maxHeld       = 256
	partialMaxAge = time.Second
)

func (m *Media) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	var codec sframe.Codec
	var depay func() rtp.Depacketizer
	switch mime := tr.Codec().MimeType; {
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		codec = sframe.CodecVP8
	case strings.EqualFold(mime, webrtc.MimeTypeOpus):
		codec = sframe.CodecOpus
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		codec, depay = sframe.CodecH264, func() rtp.Depacketizer { return &codecs.H264Packet{} }
	case strings.EqualFold(mime, webrtc.MimeTypeVP9):
		// VP9 is wholly protected (docs/protocol.md §3): its frame is the SFrame.
		codec, depay = sframe.CodecNone, func() rtp.Depacketizer { return &codecs.VP9Packet{} }
	case strings.EqualFold(mime, webrtc.MimeTypeAV1):
		// pion's depacketizer writes the OBUs back with their sizes, as libwebrtc's does
		// (docs/protocol.md §3.3).
		codec, depay = sframe.CodecAV1, func() rtp.Depacketizer { return &codecs.AV1Depacketizer{} }
	default:
		return // a codec this client did not publish or offer to decode
	}
	m.trackMu.Lock()
	defer m.trackMu.Unlock()
	if m.closed {
		return
	}
	m.wg.Add(1)
	go m.receive(tr, codec, depay)
}

type heldFrame struct {
	frame      []byte
	at         time.Time
	unverified bool // see assembler.unverified
}

// expired is the failure a held frame counts as when its epoch never came: no key, unless
// its header may have been garbage (a frame that lost its first packets).
func (h heldFrame) expired() string {
	if h.unverified {
		return FailIncomplete
	}
	return FailNoKey
}

// receive reassembles one remote track's frames from RTP, decrypts and counts them.
func (m *Media) receive(tr *webrtc.TrackRemote, codec sframe.Codec, depay func() rtp.Depacketizer) {
	defer m.wg.Done()
	from := tr.StreamID()
	asm := newAssembler(codec)
	asm.depay = depay
	var held []heldFrame
	var dst []byte
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			for _, h := range held {
				m.stats.fail(h.expired())
			}
			return
		}
		now := time.Now()
		frame, incomplete := asm.push(pkt, now)
		for range incomplete {
			m.stats.fail(FailIncomplete)
		}
		// Frames of an epoch we had not reached may open now; the others wait on, and no
		// frame opens ahead of one that still waits: frames leave in the order they came
		// (a commit may land between two tries, and audio must not be reordered). A frame
		// that may have lost its first packets (unverified) holds nothing up: its header
		// may be garbage that only looks like a future epoch's.
		kept := held[:0]
		blocked := false
		for _, h := range held {
			if blocked {
				kept = append(kept, h)
				continue
			}
			dst = dst[:0]
			switch ok, future := m.openFrame(from, codec, h.frame, &dst, true, h.unverified); {
			case ok || !future:
			case now.Sub(h.at) > m.cfg.HoldFuture:
				m.stats.fail(h.expired())
			default:
				kept = append(kept, h)
				blocked = !h.unverified
			}
		}
		held = kept
		if frame == nil {
			continue
		}
		m.stats.received(1)
		h := heldFrame{frame: frame, at: now, unverified: asm.unverified}
		if !blocked {
			dst = dst[:0]
			if ok, future := m.openFrame(from, codec, frame, &dst, false, h.unverified); ok || !future {
				continue
			}
		}
		if len(held) < maxHeld {
			held = append(held, h)
		} else {
			m.stats.fail(FailNoKey)
		}
	}
}

// openFrame decrypts one frame and counts the outcome. A frame under an unknown KID of
// the next epochs is reported as future and not counted: the commit that opens that
// epoch is on its way over signaling. A frame that may be missing its first packets
// (unverified, see assembler.unverified) and does not open is counted as lost in transport
// (incomplete), not as a failure after holding the keys, whatever the error: its SFrame
// header may be ciphertext read as one, naming any KID and counter.
func (m *Media) openFrame(from string, codec sframe.Codec, frame []byte, dst *[]byte, held, unverified bool) (ok, future bool) {
	keys := m.c.Keys()
	pt, hdr, err := keys.DecryptFrame((*dst)[:0], codec, frame)
	*dst = pt
	if err != nil {
		if errors.Is(err, sframe.ErrUnknownKID) && m.isFuture(keys, err) {
			return false, true
		}
		switch {
		case unverified:
			m.stats.fail(FailIncomplete)
		case errors.Is(err, sframe.ErrUnknownKID) && m.beforeJoin(keys, err):
			m.stats.fail(FailBeforeJoin)
		default:
			m.stats.fail(failReason(err))
		}
		return false, false
	}
	// A frame that authenticated came from a group member, whatever it holds: real
	// media (a browser, a recording) has no marker and is no failure. The marker only
	// tells this package's synthetic frames apart, for their counter.
	f := Frame{From: from, Codec: codec, KID: hdr.KID, Held: held, Payload: pt}
	if i := bytes.Index(pt, m.cfg.Marker); i >= 0 && len(pt) >= i+len(m.cfg.Marker)+8 {
		f.Marked, f.Counter = true, binary.BigEndian.Uint64(pt[i+len(m.cfg.Marker):])
	}
	m.stats.decrypted(f)
	if m.cfg.OnFrame != nil {
		m.cfg.OnFrame(f)
	}
	return true, false
}

// isFuture reports whether the frame's KID (err's, the header DecryptFrame read wherever
// the codec's layout puts it) names one of the next two epochs (by their low bits, RFC 9605
// §5.2) while this member is still in an earlier one.
func (m *Media) isFuture(keys *sframe.MLSKeys, err error) bool {
	cur, cerr := keys.Epoch()
	if cerr != nil {
		return true // not joined yet: the Welcome is on its way
	}
	e, mask, ok := kidEpochBits(keys, err)
	return ok && (e == (cur+1)&mask || e == (cur+2)&mask)
}

// beforeJoin reports whether the frame's KID names an epoch before the one this member
// joined at, by the low bits (the webapp's worker decides the same way): the nearest
// epoch behind the current one with those bits.
func (m *Media) beforeJoin(keys *sframe.MLSKeys, err error) bool {
	join := m.c.joinEpoch.Load()
	cur, cerr := keys.Epoch()
	if join == 0 || cerr != nil {
		return false
	}
	e, mask, ok := kidEpochBits(keys, err)
	if !ok {
		return false
	}
	back := (cur - e) & mask
	if back == 0 {
		back = mask + 1
	}
	return back <= cur && cur-back < join-1
}

// kidEpochBits reads the epoch bits (RFC 9605 §5.2), and their mask, of the KID a
// decryption error names. The error's KID is the one the layout's header gave: reading a
// header at a fixed offset was wrong for H.264 (clear NAL units first), AV1 (OBU header and
// size first) and VP9 (no clear prefix).
func kidEpochBits(keys *sframe.MLSKeys, err error) (e, mask uint64, ok bool) {
	var fe *sframe.FrameError
	if !errors.As(err, &fe) {
		return 0, 0, false
	}
	l := keys.Layout()
	_, _, e = l.Split(fe.KID)
	return e, uint64(1)<<l.EpochBits - 1, true
}

// assembler rebuilds frames from one track's RTP packets: Opus carries one frame
// per packet; a VP8 frame runs from the packet whose payload descriptor has S=1
// and PID=0 (RFC 7741 §4.2) to the packet with the RTP marker bit (RFC 7741 §4.1),
// all with the frame's timestamp. Packets may arrive out of order or twice (NACK
// retransmissions from the SFU's cache).
//
// H.264 (RFC 6184) and VP9 (RFC 9628) frames go through pion's depacketizer
// (depay, a fresh one per frame: the H.264 one keeps FU-A state), in sequence
// order once the frame's packets are all there: from the marker packet back
// to the first packet of the contiguous run, which must start a partition
// (a NAL unit; VP9's B bit; an AV1 packet whose first OBU element continues
// none, Z=0). H.264 and AV1 mark no frame's first packet (VP9's B bit does):
// a run that lost its first packets can still start a NAL unit or an OBU (an
// AV1 key frame's sequence header may travel alone), so the run must also
// follow the previous frame's marker packet, unless a frame was given up since.
type assembler struct {
	codec sframe.Codec
	parts map[uint32]*partial
	done  [64]uint32 // timestamps of recently completed frames
	doneN int
	vp8   codecs.VP8Packet
	depay func() rtp.Depacketizer

	lastEnd     uint16 // marker packet of the last frame completed
	haveLastEnd bool
	// unverified: the frame push returned last is H.264 or AV1 that follows a frame
	// given up on, so nothing proves its first packets all arrived (an SPS, a first
	// slice or a sequence header lost whole leaves a run that still starts a NAL unit
	// or an OBU).
	unverified bool
}

type partial struct {
	pkts             map[uint16][]byte
	start, end       uint16
	hasStart, hasEnd bool
	at               time.Time
}

func newAssembler(codec sframe.Codec) *assembler {
	return &assembler{codec: codec, parts: map[uint32]*partial{}}
}

func (a *assembler) completed(ts uint32) bool {
	for i := range min(a.doneN, len(a.done)) {
		if a.done[i] == ts {
			return true
		}
	}
	return false
}

func (a *assembler) finish(ts uint32) {
	a.done[a.doneN%len(a.done)] = ts
	a.doneN++
	delete(a.parts, ts)
}

// push adds a packet and returns the frame it completed (or nil), and how many
// partial frames it gave up on.
func (a *assembler) push(p *rtp.Packet, now time.Time) (frame []byte, incomplete int) {
	for ts, part := range a.parts {
		if now.Sub(part.at) > partialMaxAge {
			delete(a.parts, ts)
			incomplete++
			a.haveLastEnd = false
		}
	}
	ts := p.Timestamp
	if len(p.Payload) == 0 || a.completed(ts) {
		return nil, incomplete
	}
	if a.codec == sframe.CodecOpus {
		a.finish(ts)
		return p.Payload, incomplete
	}
	if a.depay != nil {
		return a.pushDepay(p, now), incomplete
	}
	payload, err := a.vp8.Unmarshal(p.Payload)
	if err != nil {
		return nil, incomplete
	}
	part := a.parts[ts]
	if part == nil {
		part = &partial{pkts: map[uint16][]byte{}, at: now}
		a.parts[ts] = part
	}
	part.pkts[p.SequenceNumber] = payload
	if a.vp8.S == 1 && a.vp8.PID == 0 {
		part.start, part.hasStart = p.SequenceNumber, true
	}
	if p.Marker {
		part.end, part.hasEnd = p.SequenceNumber, true
	}
	if !part.hasStart || !part.hasEnd {
		return nil, incomplete
	}
	n := int(part.end-part.start) + 1
	if len(part.pkts) < n {
		return nil, incomplete
	}
	for i := range n {
		b, ok := part.pkts[part.start+uint16(i)]
		if !ok {
			return nil, incomplete
		}
		frame = append(frame, b...)
	}
	a.finish(ts)
	return frame, incomplete
}

// pushDepay is push for the codecs read through a depacketizer.
func (a *assembler) pushDepay(p *rtp.Packet, now time.Time) []byte {
	ts := p.Timestamp
	part := a.parts[ts]
	if part == nil {
		part = &partial{pkts: map[uint16][]byte{}, at: now}
		a.parts[ts] = part
	}
	part.pkts[p.SequenceNumber] = bytes.Clone(p.Payload)
	if p.Marker {
		part.end, part.hasEnd = p.SequenceNumber, true
	}
	if !part.hasEnd {
		return nil
	}
	start := part.end
	for n := 0; n < len(part.pkts); n++ {
		if _, ok := part.pkts[start-1]; !ok {
			break
		}
		start--
	}
	d := a.depay()
	if !d.IsPartitionHead(part.pkts[start]) {
		return nil
	}
	unmarked := a.codec == sframe.CodecH264 || a.codec == sframe.CodecAV1
	if unmarked && a.haveLastEnd && start-1 != a.lastEnd {
		return nil // its first packets may be missing
	}
	a.unverified = unmarked && !a.haveLastEnd
	var frame []byte
	for seq := start; ; seq++ {
		out, err := d.Unmarshal(part.pkts[seq])
		if err != nil {
			return nil
		}
		frame = append(frame, out...)
		if seq == part.end {
			break
		}
	}
	a.finish(ts)
	a.lastEnd, a.haveLastEnd = part.end, true
	if len(frame) == 0 {
		return nil
	}
	return frame
}
