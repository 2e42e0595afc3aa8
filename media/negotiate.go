package media

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sealroom/sealroom/server/signaling"
)

// Offer/answer (RFC 8829 JSEP) between one client and the SFU.
//
// Both sides offer: the client when its own tracks change, the SFU when the
// tracks it forwards to the client change. pion cannot roll back a local
// description, so the SFU never sits in have-local-offer while waiting for
// the client: it sends the offer it created and applies it (SetLocal) only
// together with the client's answer. If a client offer arrives while an SFU
// offer is unanswered (glare), the SFU abandons its offer, answers the
// client, and offers again. The client is therefore the impolite peer: it
// ignores an SFU offer that arrives while its own offer is unanswered, and
// never needs a rollback (pion clients cannot do one either). Each SFU
// offer carries an id the answer echoes, so an answer to an abandoned
// offer is recognised and refused.
//
// Transceivers the SFU creates get mids "s1", "s2", ... so an abandoned
// offer's mids cannot collide with the client's own (numeric) mids.

const (
	gatherTimeout = 5 * time.Second
	// maxSDPLen bounds what a client may make the SFU parse. Real offers
	// with a few dozen m-sections are well under it.
	maxSDPLen = 128 << 10
)

// HandleOffer applies a client offer and sends the answer through signal.
// A bad offer returns an *SDPError and leaves the session as it was.
func (p *Participant) HandleOffer(sdpText string) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if len(sdpText) > maxSDPLen {
		return &SDPError{Op: "parse offer", Err: errors.New("too long")}
	}
	ssrcs, rids, err := announcedSources(sdpText)
	if err != nil {
		return &SDPError{Op: "parse offer", Err: err}
	}
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdpText}); err != nil {
		return &SDPError{Op: "set remote offer", Err: err}
	}
	if p.offer != nil { // glare: the client's offer wins
		p.offer = nil
		p.dirty = true
	}
	p.setAnnounced(ssrcs, rids)
	p.preferRoomCodec(offeredVideo(sdpText))
	answer, err := p.pc.CreateAnswer(nil)
	if err == nil {
		_, err = p.setLocal(answer)
	}
	if err != nil {
		// The remote offer is applied and pion cannot roll it back: this
		// session can no longer negotiate.
		go func() { _ = p.Close() }()
		return &SDPError{Op: "answer", Err: err}
	}
	p.signals.push(signaling.Media{Type: signaling.MediaAnswer, SDP: p.pc.LocalDescription().SDP})
	if p.dirty {
		return p.offerLocked()
	}
	return nil
}

// HandleAnswer applies the client's answer to the SFU's outstanding offer.
// offerID is the id of the offer message (0 if the client did not echo
// it). An answer to an abandoned offer returns ErrStaleAnswer.
func (p *Participant) HandleAnswer(sdpText string, offerID uint64) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if len(sdpText) > maxSDPLen {
		return &SDPError{Op: "parse answer", Err: errors.New("too long")}
	}
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(sdpText); err != nil {
		return &SDPError{Op: "parse answer", Err: err}
	}
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.offer == nil {
		return ErrUnexpectedAnswer
	}
	if offerID != 0 && offerID != p.offerID {
		return ErrStaleAnswer
	}
	offer := *p.offer
	p.offer = nil
	first, err := p.setLocal(offer)
	if err != nil {
		p.dirty = true // offer again at the next occasion
		return err
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdpText}); err != nil {
		// pion cannot roll back the local offer: this session can no
		// longer negotiate, so it ends rather than linger half-applied.
		go func() { _ = p.Close() }()
		return &SDPError{Op: "set remote answer", Err: err}
	}
	if first {
		// The client got our first offer before we gathered: trickle.
		p.trickleLocalCandidates()
	}
	if p.dirty {
		return p.offerLocked()
	}
	return nil
}

// setLocal applies a local description and, the first time or when an
// ICE restart gathers anew, waits for candidate gathering (one UDP mux:
// immediate). first reports that this call did the gathering.
//
// A client's offer with new ICE credentials (an ICE restart, RFC 8445
// §9, after a network cut) makes pion restart the agent and gather again
// inside SetRemoteDescription; the answer must wait for those candidates,
// or it carries none and the client, which pairs only with candidates it
// was told of, cannot reach the SFU.
func (p *Participant) setLocal(d webrtc.SessionDescription) (first bool, err error) {
	var gathered <-chan struct{}
	if !p.gathered || p.pc.ICEGatheringState() != webrtc.ICEGatheringStateComplete {
		gathered = webrtc.GatheringCompletePromise(p.pc)
	}
	if err := p.pc.SetLocalDescription(d); err != nil {
		return false, &SDPError{Op: "set local " + d.Type.String(), Err: err}
	}
	if gathered == nil {
		return false, nil
	}
	select {
	case <-gathered:
		p.gathered = true
		return true, nil
	case <-time.After(gatherTimeout):
		return false, &SDPError{Op: "gather candidates", Err: errors.New("timeout")}
	}
}

// trickleLocalCandidates sends the SFU's candidates as candidate messages.
func (p *Participant) trickleLocalCandidates() {
	ld := p.pc.LocalDescription()
	if ld == nil {
		return
	}
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(ld.SDP); err != nil || len(parsed.MediaDescriptions) == 0 {
		return
	}
	m := parsed.MediaDescriptions[0] // max-bundle: one transport
	mid, _ := m.Attribute("mid")
	idx := uint16(0)
	for _, a := range m.Attributes {
		if a.Key != "candidate" {
			continue
		}
		c := webrtc.ICECandidateInit{Candidate: "candidate:" + a.Value, SDPMid: &mid, SDPMLineIndex: &idx}
		p.signals.push(signaling.Media{Type: signaling.MediaCandidate, Candidate: &c})
	}
}

// AddICECandidate adds a candidate the client trickled.
func (p *Participant) AddICECandidate(c webrtc.ICECandidateInit) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if strings.TrimSpace(c.Candidate) == "" {
		return nil // end-of-candidates
	}
	if err := p.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCandidate, err)
	}
	return nil
}

// negotiate offers the current tracks, now or once the pending exchange
// completes.
func (p *Participant) negotiate() {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	p.dirty = true
	if err := p.offerLocked(); err != nil {
		p.sfu.log.Warn("media: renegotiation failed", "participant", p.id, "err", err)
	}
}

func (p *Participant) offerLocked() error {
	if p.closed.Load() || p.offer != nil || p.pc.SignalingState() != webrtc.SignalingStateStable {
		return nil
	}
	for _, t := range p.pc.GetTransceivers() {
		if t.Mid() == "" {
			p.midSeq++
			if err := t.SetMid(fmt.Sprintf("s%d", p.midSeq)); err != nil {
				return &SDPError{Op: "assign mid", Err: err}
			}
		}
	}
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return &SDPError{Op: "create offer", Err: err}
	}
	p.offer = &offer
	p.offerID++
	p.dirty = false
	p.signals.push(signaling.Media{Type: signaling.MediaOffer, SDP: offer.SDP, ID: p.offerID})
	return nil
}
