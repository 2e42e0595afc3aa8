package client

import (
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/sealroom/sealroom/sframe"
)

// Failure reasons counted in MediaStats.Failures.
const (
	FailNoKey = "no_key" // no key for the frame's KID (ever, or held past MediaConfig.HoldFuture)
	// FailBeforeJoin: under an epoch before the one this member joined at, whose keys a
	// joiner never holds (RFC 9420 §8): a sender had not processed the commit adding it.
	FailBeforeJoin = "before_join"
	FailAuth       = "auth"       // the SFrame tag did not verify
	FailReplay     = "replay"     // the counter was already accepted
	FailTooOld     = "too_old"    // the counter fell behind the replay window
	FailMalformed  = "malformed"  // not an SFrame of the codec's layout
	FailIncomplete = "incomplete" // some RTP packets of the frame never arrived
	FailOverflow   = "signal_overflow"
)

// MediaStats are the counters of a client's media plane.
type MediaStats struct {
	VideoSent, AudioSent uint64 // frames encrypted and handed to the packetizer
	KeyframesSent        uint64 // VP8 key frames among VideoSent
	KeySwitches          uint64 // times the sending KID changed (new epoch)
	SendErrors           uint64

	Received  uint64 // frames reassembled from other participants' RTP
	Decrypted uint64 // frames that authenticated and decrypted
	Marked    uint64 // decrypted frames that carried the marker (synthetic frames of this package)
	Failed    uint64 // sum of Failures
	Held      uint64 // frames of a future epoch that waited for the commit, then decrypted
	Failures  map[string]uint64
	Notices   map[string]uint64 // video_paused / video_resumed from the SFU

	// ICEServerUpdates counts the fresh TURN credentials applied (ice_servers);
	// ICERestarts the ICE restarts this client offered (after a resume with media
	// stalled, a failed ICE, or fresh credentials while on a relay).
	ICEServerUpdates, ICERestarts uint64
	// RoomCodec is the room's video codec the SFU last named (a mimeType).
	RoomCodec string
	// Codecs counts decrypted video frames by SFrame layout ("vp8", "h264", "none" for VP9).
	Codecs map[string]uint64

	// Sources counts decrypted frames by publisher (its participant id, the stream
	// id of its tracks).
	Sources map[string]SourceStats
}

// SourceStats are the frames decrypted from one publisher.
type SourceStats struct {
	Video, Audio uint64
	// Marked counts the decrypted frames that carried the marker.
	Marked uint64
	// Gaps counts frames skipped in the publisher's synthetic frame counter after the
	// first marked one received (lost, or not reassembled).
	Gaps uint64
	// LastKID is the KID of the last decrypted frame.
	LastKID uint64
}

type statsBook struct {
	mu       sync.Mutex
	s        MediaStats
	lastCtr  map[string]uint64 // source+codec -> last counter seen
	lastRecv time.Time         // when the last frame was reassembled
}

func newStatsBook() *statsBook {
	return &statsBook{s: MediaStats{Failures: map[string]uint64{}, Notices: map[string]uint64{},
		Sources: map[string]SourceStats{}, Codecs: map[string]uint64{}}, lastCtr: map[string]uint64{}}
}

func (b *statsBook) snapshot() MediaStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.s
	s.Failures = maps.Clone(b.s.Failures)
	s.Notices = maps.Clone(b.s.Notices)
	s.Sources = maps.Clone(b.s.Sources)
	s.Codecs = maps.Clone(b.s.Codecs)
	return s
}

func (b *statsBook) sent(codec sframe.Codec, key bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if codec == sframe.CodecVP8 {
		b.s.VideoSent++
		if key {
			b.s.KeyframesSent++
		}
	} else {
		b.s.AudioSent++
	}
}

// receivedSince reports whether a frame arrived within d.
func (b *statsBook) receivedSince(d time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.lastRecv.IsZero() && time.Since(b.lastRecv) < d
}

func (b *statsBook) iceServers() {
	b.mu.Lock()
	b.s.ICEServerUpdates++
	b.mu.Unlock()
}

func (b *statsBook) iceRestart() {
	b.mu.Lock()
	b.s.ICERestarts++
	b.mu.Unlock()
}

func (b *statsBook) sendFail(error) {
	b.mu.Lock()
	b.s.SendErrors++
	b.mu.Unlock()
}

func (b *statsBook) keySwitch() {
	b.mu.Lock()
	b.s.KeySwitches++
	b.mu.Unlock()
}

func (b *statsBook) roomCodec(mime string) {
	b.mu.Lock()
	b.s.RoomCodec = mime
	b.mu.Unlock()
}

func (b *statsBook) notice(typ string) {
	b.mu.Lock()
	b.s.Notices[typ]++
	b.mu.Unlock()
}

func (b *statsBook) received(n int) {
	b.mu.Lock()
	b.s.Received += uint64(n)
	b.lastRecv = time.Now()
	b.mu.Unlock()
}

func (b *statsBook) fail(reason string) {
	b.mu.Lock()
	b.s.Failed++
	b.s.Failures[reason]++
	b.mu.Unlock()
}

func (b *statsBook) decrypted(f Frame) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.s.Decrypted++
	if f.Held {
		b.s.Held++
	}
	src := b.s.Sources[f.From]
	if f.Codec == sframe.CodecOpus {
		src.Audio++
	} else {
		src.Video++
		b.s.Codecs[f.Codec.String()]++
	}
	src.LastKID = f.KID
	if f.Marked {
		b.s.Marked++
		src.Marked++
		key := f.From + "/" + f.Codec.String()
		last, ok := b.lastCtr[key]
		if ok && f.Counter > last+1 {
			src.Gaps += f.Counter - last - 1
		}
		if !ok || f.Counter > last {
			b.lastCtr[key] = f.Counter
		}
	}
	b.s.Sources[f.From] = src
}

// failReason maps a decryption error to its counter.
func failReason(err error) string {
	switch {
	case errors.Is(err, sframe.ErrUnknownKID), errors.Is(err, sframe.ErrNoEpoch):
		return FailNoKey
	case errors.Is(err, sframe.ErrAuthentication):
		return FailAuth
	case errors.Is(err, sframe.ErrReplay):
		return FailReplay
	case errors.Is(err, sframe.ErrTooOld):
		return FailTooOld
	default:
		return FailMalformed
	}
}
