package loadtest

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/sframe"
)

// What one publisher sends: a 720p-like camera and a microphone, shaped as
// sealroom's clients send them (client/media_send.go) and as a browser
// packetizes them.
//
//   - Video: VP8 at 30 frames/s, a keyframe every 2 s (and on request, as a
//     client answers a PLI), frames of several RTP packets. Each frame is
//     SFrame-encrypted whole (RFC 9605; clear prefix of 10 bytes on
//     keyframes, 3 on delta frames, docs/protocol.md "Media frames"), then
//     cut into packets of at most rtpMTU bytes, each with a VP8 payload
//     descriptor (RFC 7741 §4.2; S=1 and PID=0 on the first packet, a 15-bit
//     picture ID as Chrome sends it), the marker bit on the last packet
//     (RFC 7741 §4.1) and one RTP timestamp per frame.
//   - Audio: Opus, one 20 ms frame per packet (50 packets/s), TOC byte in
//     the clear (RFC 6716 §3.1), the rest SFrame ciphertext.
//
// Frame sizes are drawn from a generator seeded by the publisher index, so
// a publisher sends the same sizes in every run.
const (
	videoFPS        = 30
	videoClockRate  = 90000
	keyframeFrames  = 2 * videoFPS // a keyframe every 2 s
	keyframeFactor  = 6            // a keyframe is about six average delta frames
	audioFrameDur   = 20 * time.Millisecond
	audioClockRate  = 48000
	opusFrameBytes  = 80   // 32 kbit/s
	rtpMTU          = 1200 // RTP packet size of pion's and Chrome's packetizers
	rtpHeaderLen    = 12
	vp8DescLen      = 4 // X=1, I=1, M=1: the descriptor with a 15-bit picture ID
	maxVP8Fragment  = rtpMTU - rtpHeaderLen - vp8DescLen
	defaultBitrate  = 2_000_000
	minVideoBitrate = 300_000
	maxVideoBitrate = 8_000_000
)

// Simulcast layers as fractions of the top layer's bitrate (720p, 360p,
// 180p); rids as sealroom's webapp sends them, lowest last.
var simulcastLayers = []struct {
	rid     string
	divisor int
}{{"f", 1}, {"h", 4}, {"q", 16}}

// deltaSize and keySize are the mean frame sizes of a layer of bitrate
// bits/s: over one keyframe interval the layer sends its bitrate.
func deltaSize(bitrate int) int {
	return bitrate / 8 * keyframeFrames / videoFPS / (keyframeFrames - 1 + keyframeFactor)
}

// frameSize draws one frame's size: delta frames vary by ±25%, keyframes
// by ±10% around keyframeFactor mean delta frames.
func frameSize(rng *rand.Rand, bitrate int, key bool) int {
	d := deltaSize(bitrate)
	if key {
		return d*keyframeFactor*9/10 + rng.IntN(d*keyframeFactor/5+1)
	}
	return d*3/4 + rng.IntN(d/2+1)
}

// streamLog is one RTP stream a publisher sends (its audio, or one video
// layer): when each packet left, so that a subscriber can compute loss
// and delay for a packet whose header the SFU rewrote. The publisher
// writes, subscribers read, through atomics.
type streamLog struct {
	name    string
	video   bool
	counted bool // subscribers are expected to receive it
	index   uint8

	next  uint32 // publisher goroutine only: index of the next packet
	pkts  []pktEntry
	sent  atomic.Uint64 // packets stamped inside the window
	bytes atomic.Uint64 // their RTP payload bytes
}

// pktEntry: idx+1 (0 = empty), then the send time.
type pktEntry struct {
	idx   atomic.Uint32
	nanos atomic.Int64
}

// logSize is how many packets of a stream are remembered: more than 30 s
// of a 2.5 Mbit/s layer, far beyond any forwarding delay.
const logSize = 1 << 13

func newStreamLog(name string, video, counted bool, index uint8) *streamLog {
	return &streamLog{name: name, video: video, counted: counted, index: index, pkts: make([]pktEntry, logSize)}
}

func (s *streamLog) stamp(idx uint32, nanos int64) {
	e := &s.pkts[idx%logSize]
	e.idx.Store(0) // a reader racing the overwrite sees no entry
	e.nanos.Store(nanos)
	e.idx.Store(idx + 1)
}

// sentAt is when packet idx was sent.
func (s *streamLog) sentAt(idx uint32) (int64, bool) {
	e := &s.pkts[idx%logSize]
	if e.idx.Load() != idx+1 {
		return 0, false
	}
	n := e.nanos.Load()
	return n, e.idx.Load() == idx+1
}

// pubLog is one publisher's streams and, by SFrame counter, the frames it
// sent: the SFrame header (KID and CTR) stays in the clear at the start of
// every frame (RFC 9605 §4.3), so a subscriber that sees a frame's first
// packet learns which stream and which packet index it carries, whatever
// SSRC and sequence number the SFU gave it.
type pubLog struct {
	pub     uint16
	kid     uint64
	streams []*streamLog
	frames  []frameEntry
}

type frameEntry struct {
	ctr  atomic.Uint64 // CTR+1, 0 = empty
	info atomic.Uint64 // stream index << 32 | index of the frame's first packet
}

const frameLogSize = 1 << 12 // about 24 s of frames of audio and three layers

func (l *pubLog) recordFrame(ctr uint64, st *streamLog, first uint32) {
	e := &l.frames[ctr%frameLogSize]
	e.ctr.Store(0)
	e.info.Store(uint64(st.index)<<32 | uint64(first))
	e.ctr.Store(ctr + 1)
}

// frame finds the stream and first packet index of the frame with SFrame
// counter ctr.
func (l *pubLog) frame(ctr uint64) (*streamLog, uint32, bool) {
	e := &l.frames[ctr%frameLogSize]
	if e.ctr.Load() != ctr+1 {
		return nil, 0, false
	}
	info := e.info.Load()
	if e.ctr.Load() != ctr+1 || int(info>>32) >= len(l.streams) {
		return nil, 0, false
	}
	return l.streams[info>>32], uint32(info), true
}

// registry maps SFrame KIDs to publishers. It is complete before any
// traffic flows and read-only after.
type registry map[uint64]*pubLog

// loadKey is the SFrame base key of every load publisher. Only the parent
// process (the clients) holds it; the server child never does. It only has
// to be a valid key so that the frames are real SFrame.
var loadKey = []byte("sealroom-loadtest-base-key-16B..")[:16]

// source generates one publisher's frames and packets.
type source struct {
	log    *pubLog
	sf     *sframe.Context
	rng    *rand.Rand
	audio  *streamLog
	layers []*videoLayer

	frames   int // video frames since the last keyframe
	wantKey  atomic.Bool
	plain    []byte
	enc      []byte
	pkt      []byte
	audioTS  uint32
	audioN   uint64
	pictures uint16
}

type videoLayer struct {
	log     *streamLog
	rid     string
	bitrate int
	ts      uint32
}

// newSource builds publisher pub's generator: an audio stream and one video
// layer of bitrate bits/s, or three simulcast layers topped by it.
func newSource(pub uint16, bitrate int, simulcast bool) (*source, error) {
	sf, err := sframe.NewContext(sframe.DefaultSuite)
	if err != nil {
		return nil, err
	}
	kid, err := sframe.DefaultKIDLayout().KID(0, uint64(pub), 1)
	if err != nil {
		return nil, err
	}
	if err := sf.AddKey(kid, loadKey); err != nil {
		return nil, err
	}
	s := &source{
		log: &pubLog{pub: pub, kid: kid, frames: make([]frameEntry, frameLogSize)},
		sf:  sf,
		rng: rand.New(rand.NewPCG(uint64(pub)+1, 0x5ea1)),
		// Deterministic but distinct starting points, as real clients
		// pick random ones (RFC 3550 §5.1).
		audioTS:  uint32(pub) * 7919,
		pictures: uint16(pub) * 131,
	}
	s.audio = s.addStream("audio", false, true)
	if !simulcast {
		s.layers = []*videoLayer{{log: s.addStream("video", true, true), bitrate: bitrate}}
	} else {
		for i, l := range simulcastLayers {
			s.layers = append(s.layers, &videoLayer{log: s.addStream("video-"+l.rid, true, i == 0),
				rid: l.rid, bitrate: bitrate / l.divisor})
		}
	}
	for i, l := range s.layers {
		l.ts = uint32(pub)*104729 + uint32(i)*15485863
	}
	return s, nil
}

func (s *source) addStream(name string, video, counted bool) *streamLog {
	st := newStreamLog(name, video, counted, uint8(len(s.log.streams)))
	st.next = uint32(s.log.pub) * 1000 // where the sequence numbers start
	s.log.streams = append(s.log.streams, st)
	return st
}

// requestKeyframe makes the next video frame a keyframe on every layer (a
// client answers a PLI or FIR that way: RFC 4585 §6.3.1).
func (s *source) requestKeyframe() { s.wantKey.Store(true) }

// packet is one RTP packet as the publisher hands it to its transport.
type packet struct {
	stream  *streamLog
	layer   int // video layer index, 0 for audio
	seq     uint16
	ts      uint32
	marker  bool
	nanos   int64  // when it was stamped (clock.now)
	payload []byte // valid until the next call to the emit function
}

// emitFunc sends one packet; the payload must not be retained.
type emitFunc func(p packet) error

// audioFrame encrypts and sends one Opus frame. Each packet is stamped
// with clk's time just before it is handed to emit.
func (s *source) audioFrame(clk *clock, emit emitFunc) error {
	// TOC byte: config 15 (CELT FB 20 ms), mono, one frame (RFC 6716 §3.1).
	s.plain = append(s.plain[:0], 0x78)
	s.plain = fillBody(s.plain, opusFrameBytes, s.audioN)
	s.audioN++
	var err error
	if s.enc, err = s.sf.EncryptFrame(s.enc[:0], s.log.kid, sframe.CodecOpus, s.plain); err != nil {
		return err
	}
	ctr, err := frameCTR(s.enc, 1)
	if err != nil {
		return err
	}
	st := s.audio
	idx := st.next
	st.next++
	s.log.recordFrame(ctr, st, idx)
	ts := s.audioTS
	s.audioTS += uint32(audioClockRate * audioFrameDur / time.Second)
	now := clk.now()
	st.stamp(idx, now)
	return emit(packet{stream: st, seq: uint16(idx), ts: ts, nanos: now, payload: s.enc})
}

// videoFrame encrypts and sends one frame on every layer. The packets of a
// frame leave back to back, as from an encoder without a pacer: harsher on
// the forwarder than a browser's paced sender.
func (s *source) videoFrame(clk *clock, emit emitFunc) error {
	key := s.frames%keyframeFrames == 0 || s.wantKey.Swap(false)
	if key {
		s.frames = 0
	}
	s.frames++
	s.pictures = (s.pictures + 1) & 0x7fff
	for i, l := range s.layers {
		if err := s.layerFrame(i, l, key, clk, emit); err != nil {
			return err
		}
	}
	return nil
}

func (s *source) layerFrame(li int, l *videoLayer, key bool, clk *clock, emit emitFunc) error {
	size := frameSize(s.rng, l.bitrate, key)
	s.plain = vp8Frame(s.plain[:0], key, size, uint64(l.ts))
	var err error
	if s.enc, err = s.sf.EncryptFrame(s.enc[:0], s.log.kid, sframe.CodecVP8, s.plain); err != nil {
		return err
	}
	prefix := 3
	if key {
		prefix = 10
	}
	ctr, err := frameCTR(s.enc, prefix)
	if err != nil {
		return err
	}
	st := l.log
	s.log.recordFrame(ctr, st, st.next)
	n := (len(s.enc) + maxVP8Fragment - 1) / maxVP8Fragment
	ts := l.ts
	l.ts += videoClockRate / videoFPS
	rest := s.enc
	for i := range n {
		// Even fragments, as Chrome's packetizer cuts them.
		fl := len(rest) / (n - i)
		desc := media.VP8Descriptor{Start: i == 0, HasPictureID: true, LongPicture: true, PictureID: s.pictures}
		s.pkt = append(desc.AppendTo(s.pkt[:0]), rest[:fl]...)
		rest = rest[fl:]
		idx := st.next
		st.next++
		now := clk.now()
		st.stamp(idx, now)
		if err := emit(packet{stream: st, layer: li, seq: uint16(idx), ts: ts, marker: i == n-1, nanos: now, payload: s.pkt}); err != nil {
			return err
		}
	}
	return nil
}

// vp8Frame builds a frame shaped like VP8 (RFC 6386 §9.1): the 3-byte frame
// tag (P bit clear on keyframes), on keyframes the start code 9d 01 2a and
// a 1280x720 size, then filler that the SFrame transform encrypts.
func vp8Frame(dst []byte, key bool, size int, n uint64) []byte {
	if key {
		dst = append(dst, 0x10, 0x00, 0x01, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02)
	} else {
		dst = append(dst, 0x11, 0x00, 0x01)
	}
	return fillBody(dst, size, n)
}

func fillBody(dst []byte, size int, n uint64) []byte {
	for i := 0; len(dst) < size; i++ {
		dst = append(dst, byte(n)+byte(i))
	}
	return dst
}

// frameCTR reads the SFrame counter of an encrypted frame whose clear
// prefix is prefix bytes long.
func frameCTR(enc []byte, prefix int) (uint64, error) {
	if len(enc) <= prefix {
		return 0, fmt.Errorf("%w: encrypted frame of %d bytes", ErrChild, len(enc))
	}
	h, _, err := sframe.ParseHeader(enc[prefix:])
	return h.CTR, err
}

// frameHeader reads the SFrame header in front of a frame's ciphertext,
// from the RTP payload of the frame's first packet; ok is false for any
// other packet. It reads what the SFU may read (the VP8 descriptor and the
// clear prefix) and the SFrame header, which RFC 9605 §4.3 leaves in the
// clear.
func frameHeader(video bool, payload []byte) (kid, ctr uint64, ok bool) {
	prefix := payload
	if video {
		d, err := media.ParseVP8Descriptor(payload)
		if err != nil || !d.Start || d.PartitionID != 0 {
			return 0, 0, false
		}
		prefix = payload[d.Size:]
		n := 3
		if d.Keyframe {
			n = 10
		}
		if len(prefix) <= n {
			return 0, 0, false
		}
		prefix = prefix[n:]
	} else {
		if len(prefix) < 2 {
			return 0, 0, false
		}
		prefix = prefix[1:] // Opus TOC
	}
	h, _, err := sframe.ParseHeader(prefix)
	if err != nil {
		return 0, 0, false
	}
	return h.KID, h.CTR, true
}

// pace runs a source until stop: audio every 20 ms, video every 1/30 s,
// each on its own schedule. Until full is closed (setup: peers joining and
// negotiating) it sends one audio and one video frame every setupInterval
// instead, enough for the SFU to publish the tracks and for subscribers to
// receive them. A machine that stalls for more than maxLag restarts the
// schedule from now instead of sending a burst of stale frames (as
// client/media_send.go does).
func (s *source) pace(clk *clock, full, stop <-chan struct{}, emit emitFunc, onErr func(error)) {
	const (
		maxLag        = 200 * time.Millisecond
		setupInterval = 250 * time.Millisecond
	)
	audioDur, videoDur := setupInterval, setupInterval
	start := time.Now()
	audioDue, videoDue := start, start
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-full:
			if audioDur == setupInterval {
				audioDur, videoDur = audioFrameDur, time.Second/videoFPS
				audioDue, videoDue = time.Now(), time.Now()
			}
			full = nil
			continue
		case <-t.C:
		}
		now := time.Now()
		if !now.Before(audioDue) {
			if err := s.audioFrame(clk, emit); err != nil {
				onErr(err)
			}
			audioDue = audioDue.Add(audioDur)
			if now.Sub(audioDue) > maxLag {
				audioDue = now
			}
		}
		if !now.Before(videoDue) {
			if err := s.videoFrame(clk, emit); err != nil {
				onErr(err)
			}
			videoDue = videoDue.Add(videoDur)
			if now.Sub(videoDue) > maxLag {
				videoDue = now
			}
		}
		next := audioDue
		if videoDue.Before(next) {
			next = videoDue
		}
		t.Reset(time.Until(next))
	}
}
