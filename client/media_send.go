package client

import (
	"encoding/binary"
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

// publish sends synthetic frames until the media plane stops. Every frame is
// encrypted under the member's current KID; when the KID changes (new epoch) the
// next video frame is a key frame (DESIGN.md §5, docs/protocol.md §2).
func (m *Media) publish() {
	defer m.wg.Done()
	var videoC, audioC <-chan time.Time
	var vDur, aDur time.Duration
	if m.video != nil {
		vDur = time.Second / time.Duration(m.cfg.VideoFPS)
		t := time.NewTicker(vDur)
		defer t.Stop()
		videoC = t.C
	}
	if m.audio != nil {
		aDur = m.cfg.AudioInterval
		t := time.NewTicker(aDur)
		defer t.Stop()
		audioC = t.C
	}
	keys := m.c.Keys()
	var (
		plain, enc       []byte
		vN, aN           uint64
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
		case <-audioC:
			if _, err := keys.KID(); err != nil {
				continue // not a member yet: nothing to encrypt with
			}
			plain = synthOpus(plain, m.cfg.Marker, aN)
			var err error
			if enc, err = keys.EncryptFrame(enc[:0], sframe.CodecOpus, plain); err != nil {
				m.stats.sendFail(err)
				continue
			}
			aN++
			m.write(m.audio, sframe.CodecOpus, enc, aDur, false)
		case <-videoC:
			kid, err := keys.KID()
			if err != nil {
				continue
			}
			if kid != lastKID {
				if lastKID != noKID {
					m.stats.keySwitch()
				}
				lastKID, keyframeRequired = kid, true
			}
			key := keyframeRequired || time.Since(lastKey) >= m.cfg.KeyframeInterval
			plain = synthVP8(plain, key, m.cfg.Marker, vN)
			if enc, err = keys.EncryptFrame(enc[:0], sframe.CodecVP8, plain); err != nil {
				m.stats.sendFail(err)
				continue
			}
			vN++
			if key {
				keyframeRequired, lastKey = false, time.Now()
			}
			m.write(m.video, sframe.CodecVP8, enc, vDur, key)
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
