package media

import (
	"github.com/pion/rtp"

	"github.com/sealroom/sealroom/server/signaling"
)

// The active speaker, from the audio level each publisher's microphone
// reports in the clear (RFC 6464 client-to-mixer audio level header
// extension: the level in -dBov, 0 loudest, 127 silence, measured before
// encryption and carried outside the payload, so the SFU reads it without a
// key). Each audio layer holds its loudest level for levelHold (speech comes
// in syllables and pauses; an average of dBov values would count a speaker
// with pauses as silent); a subscriber is told which participant it hears
// speak loudest (an active_speaker message) whenever that changes, on its
// control loop's tick.
const (
	// speakingLevel is the held level, in -dBov, at or below which a
	// participant counts as speaking: speech at a normal distance from a
	// microphone is some 20 to 40 dB below full scale, background noise
	// and muted tracks (silence frames, level 127) far below.
	speakingLevel = 50
	// levelHold is how long the loudest level of a layer is held.
	levelHold = int64(1500e6)
	// speakerFresh: a level older than this (no audio packet since) no
	// longer counts.
	speakerFresh = int64(1e9)
)

// noteLevel reads the audio level extension of one packet of l (forwarding
// goroutine of l only) and updates l's held level.
func (l *layer) noteLevel(h *rtp.Header, nanos int64) {
	if l.levelID == 0 {
		return
	}
	b := h.GetExtension(l.levelID)
	if len(b) < 1 {
		return
	}
	lvl := int64(b[0] & 0x7f)
	if !l.levelSeen || lvl <= l.heldLevel || nanos-l.heldAt > levelHold {
		l.heldLevel, l.heldAt, l.levelSeen = lvl, nanos, true
	}
	l.level.Store(l.heldLevel + 1) // 0: no level seen
	l.levelAt.Store(nanos)
}

// loudestSpeaker is the publisher, among the audio this participant
// receives, whose held level is the loudest at or above speakingLevel ("" when
// nobody speaks).
func (p *Participant) loudestSpeaker(nanos int64) string {
	best, bestLevel := "", int64(speakingLevel)+1
	for _, dt := range p.downtrackList() {
		if dt.pub.codec != CodecOpus {
			continue
		}
		l := dt.pub.firstLayer()
		if l == nil || nanos-l.levelAt.Load() > speakerFresh {
			continue
		}
		if lv := l.level.Load() - 1; lv >= 0 && lv < bestLevel {
			best, bestLevel = dt.pub.publisher.id, lv
		}
	}
	return best
}

// tellSpeaker sends active_speaker when the loudest speaker changed (control
// goroutine only).
func (p *Participant) tellSpeaker(nanos int64) {
	s := p.loudestSpeaker(nanos)
	if s == p.speaker {
		return
	}
	p.speaker = s
	p.signals.push(signaling.Media{Type: signaling.MediaActiveSpeaker, Participant: s})
}
