package client

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/sealroom/sealroom/sframe"
)

// Synthetic frame sizes: a key frame spans several RTP packets (the VP8 payload
// descriptor of RFC 7741 §4.2 marks the first), a delta frame usually one.
const (
	keyframeSize = 2400
	deltaSize    = 600
	opusSize     = 80
	noKID        = ^uint64(0)
)

// synthVP8 builds a frame shaped like VP8 (RFC 6386 §9.1): the 3-byte frame tag
// (P bit 0 on key frames, show_frame set), on key frames the start code 9d 01 2a
// and a 640x480 size, then marker || counter (big-endian) and filler. The first 10
// or 3 bytes are the clear prefix of docs/protocol.md; the rest gets encrypted.
func synthVP8(dst []byte, key bool, marker []byte, n uint64) []byte {
	size := deltaSize
	tag := byte(0x11) // P=1 (interframe), version 0, show_frame
	if key {
		size, tag = keyframeSize, 0x10
	}
	dst = append(dst[:0], tag, 0x00, 0x01)
	if key {
		dst = append(dst, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01)
	}
	return synthBody(dst, size, marker, n)
}

// synthOpus builds an Opus-shaped frame: a TOC byte (RFC 6716 §3.1: config 15,
// mono, one frame), then marker || counter and filler.
func synthOpus(dst []byte, marker []byte, n uint64) []byte {
	return synthBody(append(dst[:0], 0x78), opusSize, marker, n)
}

func synthBody(dst []byte, size int, marker []byte, n uint64) []byte {
	dst = append(dst, marker...)
	dst = binary.BigEndian.AppendUint64(dst, n)
	for i := 0; len(dst) < size; i++ {
		dst = append(dst, byte(n)+byte(i))
	}
	return dst
}

// maxLag is how far a track may fall behind its schedule (a stalled machine)
// before it restarts from now instead of sending the missed frames in a burst.
const maxLag = 200 * time.Millisecond

// pubTrack is one published track and where its frames come from: synthetic
// frames every dur, or a recorded clip in a loop. It belongs to the publish
// goroutine.
type pubTrack struct {
	tr      *webrtc.TrackLocalStaticSample
	codec   sframe.Codec
	dur     time.Duration // synthetic frame duration
	n       uint64        // synthetic frame counter
	buf     []byte        // synthetic frame under construction
	clip    []recFrame    // nil: synthetic
	nextKey []int         // Recording.nextKey for a video clip
	pos     int           // next clip frame
	due     time.Time     // when the next frame is due
	timer   *time.Timer
}

func newPubTrack(tr *webrtc.TrackLocalStaticSample, codec sframe.Codec, dur time.Duration, clip []recFrame, nextKey []int, now time.Time) *pubTrack {
	if tr == nil {
		return nil
	}
	return &pubTrack{tr: tr, codec: codec, dur: dur, clip: clip, nextKey: nextKey, due: now, timer: time.NewTimer(0)}
}

func (p *pubTrack) c() <-chan time.Time {
	if p == nil {
		return nil
	}
	return p.timer.C
}

func (p *pubTrack) stop() {
	if p != nil {
		p.timer.Stop()
	}
}

// frameDur is how long the next frame lasts.
func (p *pubTrack) frameDur() time.Duration {
	if p.clip != nil {
		return p.clip[p.pos].dur
	}
	return p.dur
}

// next returns the next frame without consuming it. For video, key asks for a key
// frame: a synthetic one is made, a clip skips to its next key frame (wrapping to
// its first), since a delta frame could not be decoded after a key change.
func (p *pubTrack) next(key bool, marker []byte) (frame []byte, isKey bool) {
	if p.clip != nil {
		if key && p.nextKey != nil {
			p.pos = p.nextKey[p.pos]
		}
		f := p.clip[p.pos]
		return f.data, f.key
	}
	if p.codec == sframe.CodecVP8 {
		p.buf = synthVP8(p.buf, key, marker, p.n)
		return p.buf, key
	}
	p.buf = synthOpus(p.buf, marker, p.n)
	return p.buf, false
}

// advance consumes the frame next returned, once it was sent.
func (p *pubTrack) advance() {
	if p.clip != nil {
		p.pos = (p.pos + 1) % len(p.clip)
		return
	}
	p.n++
}

// schedule arms the timer for the frame after one lasting d. Pacing by the sum of
// frame durations, not a ticker, plays a clip at its own rate; the packetizer turns
// the same durations into RTP timestamps, so they run on across loops.
func (p *pubTrack) schedule(d time.Duration) {
	now := time.Now()
	p.due = p.due.Add(d)
	if now.Sub(p.due) > maxLag {
		p.due = now
	}
	p.timer.Reset(p.due.Sub(now))
}

// publish sends frames until the media plane stops. Every frame is encrypted under
// the member's current KID; when the KID changes (new epoch) the next video frame
// is a key frame (DESIGN.md §5, docs/protocol.md §2).
func (m *Media) publish() {
	defer m.wg.Done()
	now := time.Now()
	rec := m.cfg.Recording
	var video, audio *pubTrack
	if rec.HasVideo() {
		video = newPubTrack(m.video, sframe.CodecVP8, 0, rec.video, rec.nextKey, now)
	} else if m.cfg.VideoFPS > 0 {
		video = newPubTrack(m.video, sframe.CodecVP8, time.Second/time.Duration(m.cfg.VideoFPS), nil, nil, now)
	}
	if rec.HasAudio() {
		audio = newPubTrack(m.audio, sframe.CodecOpus, 0, rec.audio, nil, now)
	} else if m.cfg.AudioInterval > 0 {
		audio = newPubTrack(m.audio, sframe.CodecOpus, m.cfg.AudioInterval, nil, nil, now)
	}
	defer video.stop()
	defer audio.stop()
	keys := m.c.Keys()
	var (
		enc              []byte
		lastKID          = noKID
		lastKey          time.Time
		keyframeRequired = true
	)
	for {
		select {
		case <-m.done:
			return
		case <-m.keyframe:
			keyframeRequired = true
		case <-audio.c():
			d := audio.frameDur()
			if _, err := keys.KID(); err == nil { // else not a member yet: nothing to encrypt with
				plain, _ := audio.next(false, m.cfg.Marker)
				if enc, err = keys.EncryptFrame(enc[:0], sframe.CodecOpus, plain); err != nil {
					m.stats.sendFail(err)
				} else {
					audio.advance()
					m.write(audio.tr, sframe.CodecOpus, enc, d, false)
				}
			}
			audio.schedule(d)
		case <-video.c():
			now := time.Now()
			kid, err := keys.KID()
			if err != nil {
				video.schedule(video.frameDur())
				continue
			}
			if kid != lastKID {
				if lastKID != noKID {
					m.stats.keySwitch()
				}
				lastKID, keyframeRequired = kid, true
			}
			plain, key := video.next(keyframeRequired || now.Sub(lastKey) >= m.cfg.KeyframeInterval, m.cfg.Marker)
			d := video.frameDur()
			if enc, err = keys.EncryptFrameUnder(enc[:0], kid, sframe.CodecVP8, plain); errors.Is(err, sframe.ErrKIDChanged) {
				// A commit landed since KID: the next turn sends a key frame under the new one.
				video.schedule(0)
				continue
			} else if err != nil {
				m.stats.sendFail(err)
			} else {
				video.advance()
				if key {
					keyframeRequired, lastKey = false, now
				}
				m.write(video.tr, sframe.CodecVP8, enc, d, key)
			}
			video.schedule(d)
		}
	}
}

func (m *Media) write(tr *webrtc.TrackLocalStaticSample, codec sframe.Codec, enc []byte, d time.Duration, key bool) {
	if m.cfg.OnSent != nil {
		m.cfg.OnSent(codec, enc)
	}
	if err := tr.WriteSample(pmedia.Sample{Data: enc, Duration: d}); err != nil {
		m.stats.sendFail(err)
		return
	}
	m.stats.sent(codec, key)
}

// readRTCP drains a sender's RTCP (pion's interceptors need it read) and turns
// PLI and FIR into a key frame (RFC 4585 §6.3.1, RFC 5104 §4.3.1).
func (m *Media) readRTCP(s *webrtc.RTPSender) {
	defer m.wg.Done()
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				select {
				case m.keyframe <- struct{}{}:
				default:
				}
			}
		}
	}
}
