package server

import (
	"context"
	"encoding/json"

	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/server/signaling"
)

// joinMedia gives the connection its PeerConnection with the SFU. The SFU's messages go
// out as media envelopes; it never sees a key, only the grants.
func (sc *signalConn) joinMedia(ctx context.Context) (*media.Participant, error) {
	return sc.s.media.Join(ctx, sc.claims.Room, sc.me.ID,
		media.Grants{CanPublish: sc.claims.CanPublish, CanSubscribe: sc.claims.CanSubscribe},
		func(m signaling.Media) { sc.send(signaling.TypeMedia, "", m) })
}

// handleMedia passes a client's media message to its SFU participant.
func (sc *signalConn) handleMedia(id string, data json.RawMessage) {
	if sc.media == nil {
		sc.sendError(id, signaling.CodeMediaClosed, "no media session")
		return
	}
	var m signaling.Media
	if err := signaling.DecodeStrict(data, &m); err != nil {
		sc.sendError(id, signaling.CodeBadMessage, "media needs a media message")
		return
	}
	if err := sc.media.HandleMessage(m); err != nil {
		sc.sendDomainError(id, err)
		return
	}
	if id != "" {
		sc.ack(id)
	}
}
