package media

import (
	"fmt"
	"maps"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/signaling"
)

// The room's video codec. The SFU forwards what a publisher sends, as it is
// (it never holds a key, so it cannot transcode), so a publisher's codec
// must be one every subscriber decodes. Each client declares the video
// codecs it can decode under SFrame (a codecs message); the room's codec is
// the first of Config.VideoCodecs all of them can, and every participant
// is told it (a codec message) when it joins and whenever it changes: a
// browser publishes its video in it. A participant that declared nothing is
// taken to decode VP8 only, which every WebRTC endpoint does (RFC 7742 §5);
// the choice is made when a participant declares and when one leaves, so a
// joiner that declares right away does not make the room flip to VP8 first.
// The order is Config.VideoCodecs. By default H.264 comes first: enterprise
// devices and Safari prefer it, and it is hardware-encoded almost
// everywhere; VP9 next. AV1 (the most efficient, and the costliest to encode
// in software) is chosen only where the operator lists it.
var defaultVideoCodecs = []string{webrtc.MimeTypeH264, webrtc.MimeTypeVP9, webrtc.MimeTypeVP8}

// roomCodecs are the video codecs a room may choose, which have an SFrame
// layout in the browser and the Go client.
var roomCodecs = []string{webrtc.MimeTypeH264, webrtc.MimeTypeVP9, webrtc.MimeTypeVP8, webrtc.MimeTypeAV1}

// maxDeclaredCodecs bounds a codecs message.
const maxDeclaredCodecs = 16

// setDecodes records the video codecs p declared; the room's choice is
// made again and told. A participant declares once per session: a
// different declaration later is refused (ErrCodecsDeclared), since each
// change of the room's codec has every browser publish its camera again on a
// new m-section for every subscriber, which one participant could otherwise
// repeat at will. The same declaration again is answered with the codec.
func (p *Participant) setDecodes(codecs []string) error {
	if len(codecs) > maxDeclaredCodecs {
		codecs = codecs[:maxDeclaredCodecs]
	}
	set := map[string]bool{}
	for _, c := range codecs {
		for _, known := range roomCodecs {
			if strings.EqualFold(c, known) {
				set[known] = true
			}
		}
	}
	p.codecMu.Lock()
	if p.decodes != nil && !maps.Equal(p.decodes, set) {
		p.codecMu.Unlock()
		return fmt.Errorf("%w: %v", ErrCodecsDeclared, codecs)
	}
	p.decodes = set
	p.codecMu.Unlock()
	p.room.chooseCodec(p)
	return nil
}

func (p *Participant) canDecode(mime string) bool {
	p.codecMu.Lock()
	defer p.codecMu.Unlock()
	if p.decodes == nil {
		return mime == webrtc.MimeTypeVP8
	}
	return p.decodes[mime]
}

// codecOrder is the order in which the room chooses its codec
// (Config.VideoCodecs).
func (r *room) codecOrder() []string {
	if r.sfu == nil {
		return defaultVideoCodecs
	}
	return r.sfu.cfg.VideoCodecs
}

// chooseCodec makes the room's choice again with its participants now. If
// it changed, every participant is told; otherwise only asker (may be nil).
func (r *room) chooseCodec(asker *Participant) {
	ps := r.snapshotParticipants()
	choice := webrtc.MimeTypeVP8
	for _, c := range r.codecOrder() {
		all := true
		for _, p := range ps {
			if !p.canDecode(c) {
				all = false
				break
			}
		}
		if all {
			choice = c
			break
		}
	}
	r.mu.Lock()
	changed := r.codec != choice
	r.codec = choice
	r.mu.Unlock()
	tell := ps
	if !changed {
		tell = nil
		if asker != nil {
			tell = []*Participant{asker}
		}
	}
	for _, p := range tell {
		if !p.closed.Load() {
			p.signals.push(signaling.Media{Type: signaling.MediaCodec, Codec: choice})
		}
	}
}

// RoomCodec is the room's video codec as last chosen (a mimeType; VP8 before any
// choice).
func (p *Participant) RoomCodec() string {
	p.room.mu.Lock()
	defer p.room.mu.Unlock()
	if p.room.codec == "" {
		return webrtc.MimeTypeVP8
	}
	return p.room.codec
}

// preferRoomCodec answers each new video section that lists the room's
// codec first with that codec alone, so a browser that follows the room's
// codec publishes in it, whatever pion would pick (the browser lists the
// other codecs after it so that the SFU may forward it video in those: pion
// offers a peer only the codecs it has seen from it). Other sections (the Go
// client's lists VP8 first, the codec of its track) are answered as usual,
// and so is every section of a client that declared no codecs: it does not
// follow the room's codec (a pion peer lists its engine's codecs in the same
// order whatever its track's codec is). A section is set once, when it is
// new: called with negMu held.
func (p *Participant) preferRoomCodec(offered map[string][]string) {
	p.codecMu.Lock()
	declared := p.decodes != nil
	p.codecMu.Unlock()
	if !declared {
		return
	}
	room := p.RoomCodec()
	var prefs []webrtc.RTPCodecParameters
	for _, c := range videoCodecs() {
		if strings.EqualFold(c.MimeType, room) {
			prefs = append(prefs, c)
		}
	}
	for _, t := range p.pc.GetTransceivers() {
		mid := t.Mid()
		if t.Kind() != webrtc.RTPCodecTypeVideo || mid == "" || p.codecSet[mid] {
			continue
		}
		names, ok := offered[mid]
		if !ok || t.Direction() != webrtc.RTPTransceiverDirectionRecvonly {
			continue
		}
		p.codecSet[mid] = true
		if len(names) > 0 && strings.EqualFold(names[0], room) {
			if err := t.SetCodecPreferences(prefs); err != nil {
				p.sfu.log.Debug("media: room codec", "participant", p.id, "err", err)
			}
		}
	}
}
