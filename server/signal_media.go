package server

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/media"
)

// Media signaling error codes (docs/protocol.md, "Media").
const (
	sigBadSDP           = "bad_sdp"
	sigStaleAnswer      = "stale_answer"
	sigUnexpectedAnswer = "unexpected_answer"
	sigBadCandidate     = "bad_candidate"
	sigMediaClosed      = "media_closed"
)

// joinMedia gives the connection its PeerConnection with the SFU. The SFU's messages go
// out as "media" envelopes; it never sees a key, only the grants.
func (sc *signalConn) joinMedia(ctx context.Context) (*media.Participant, error) {
	return sc.s.media.Join(ctx, sc.claims.Room, sc.me.ID,
		media.Grants{CanPublish: sc.claims.CanPublish, CanSubscribe: sc.claims.CanSubscribe},
		func(m media.Message) { sc.send("media", "", m) })
}

// handleMedia passes a client's "media" message to its SFU participant.
func (sc *signalConn) handleMedia(id string, data json.RawMessage) {
	if sc.media == nil {
		sc.sendError(id, sigMediaClosed, "no media session")
		return
	}
	var m media.Message
	if err := keyservice.DecodeStrict(data, &m); err != nil {
		sc.sendError(id, sigBadMessage, "media needs a media message")
		return
	}
	err := sc.media.HandleMessage(m)
	switch {
	case err == nil:
		if id != "" {
			sc.send("ack", id, nil)
		}
	case errors.Is(err, media.ErrBadSDP):
		sc.sendError(id, sigBadSDP, "the session description was refused")
	case errors.Is(err, media.ErrStaleAnswer):
		sc.sendError(id, sigStaleAnswer, "that offer was abandoned; answer the next one")
	case errors.Is(err, media.ErrUnexpectedAnswer):
		sc.sendError(id, sigUnexpectedAnswer, "no offer is waiting for an answer")
	case errors.Is(err, media.ErrBadCandidate):
		sc.sendError(id, sigBadCandidate, "the ICE candidate was refused")
	case errors.Is(err, media.ErrUnknownMessage):
		sc.sendError(id, sigBadMessage, "unknown media message type")
	case errors.Is(err, media.ErrClosed):
		sc.sendError(id, sigMediaClosed, "the media session has ended")
	default:
		sc.s.log.Error("signaling: media", "request_id", sc.requestID, "err", err)
		sc.sendError(id, sigInternal, "internal error")
	}
}
