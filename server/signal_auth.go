package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/signaling"
)

// signalAuth reads the first message, which must be auth with a valid room token, and
// returns its claims and the session it asks to resume, if any. Every failure closes the
// socket with its code.
// It also returns the auth message as it came, for a node that forwards the connection.
func (s *Server) signalAuth(ctx context.Context, ws *websocket.Conn) (*auth.Claims, *signaling.ResumeAuth, []byte, error) {
	// A Read whose context expires tears the connection down without a close frame, so
	// the timeout closes the socket from the side with a proper code instead.
	timer := s.cfg.Clock.AfterFunc(s.cfg.SignalAuthTimeout, func() {
		_ = ws.Close(signaling.CloseAuthTimeout, "authentication timeout")
	})
	_, msg, err := ws.Read(ctx)
	if !timer.Stop() || err != nil {
		_ = ws.CloseNow()
		return nil, nil, nil, auth.ErrMissing
	}
	var env signaling.Envelope
	if err := signaling.DecodeStrict(msg, &env); err != nil || env.Type != signaling.TypeAuth {
		_ = ws.Close(signaling.CloseProtocol, "first message must be auth")
		return nil, nil, nil, auth.ErrMissing
	}
	var td signaling.Auth
	if err := signaling.DecodeStrict(env.Data, &td); err != nil {
		_ = ws.Close(signaling.CloseProtocol, "malformed auth message")
		return nil, nil, nil, auth.ErrMissing
	}
	claims, err := s.verifier.Verify(td.Token)
	if err == nil && claims.Room == "" {
		err = fmt.Errorf("%w: signaling needs a room grant", auth.ErrClaims)
	}
	if err != nil {
		_ = ws.Close(signaling.CloseUnauthorized, "unauthorized")
		return nil, nil, nil, err
	}
	if env.V != signaling.Version {
		_ = ws.Close(signaling.CloseProtocol, "unsupported version")
		return nil, nil, nil, auth.ErrMissing
	}
	s.ids.seen(claims.Subject)
	return claims, td.Resume, msg, nil
}

// refresh replaces the connection's token with a newer one for the same identity, room
// and role, moves the automatic logoff to its expiry and (extend) hands out TURN
// credentials bound to it.
func (sc *signalConn) refresh(id string, data json.RawMessage, extend func(time.Time)) {
	var td signaling.Auth
	if err := signaling.DecodeStrict(data, &td); err != nil || td.Resume != nil {
		sc.sendError(id, signaling.CodeBadMessage, "refresh needs a token")
		return
	}
	c, err := sc.s.verifier.Verify(td.Token)
	if err != nil || c.Subject != sc.claims.Subject || c.Room != sc.claims.Room || c.Role != sc.claims.Role {
		sc.sendError(id, signaling.CodeUnauthorized, "the new token must be valid and carry the same identity, room and role")
		return
	}
	sc.claims = c
	sc.ack(id)
	extend(c.ExpiresAt.Time) // and, with the embedded relay, ice_servers bound to the new token
}
