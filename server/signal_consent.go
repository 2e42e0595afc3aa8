package server

import (
	"context"
	"errors"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/compliance"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/signaling"
)

// errLeftAtDoor ends a connection whose participant left before consenting.
var errLeftAtDoor = errors.New("server: left before consenting")

// signalConsent holds a participant at the door of a room that asks for a notice to be
// accepted: it is told consent_required and gets in only after a consent message for
// the current version has been recorded (and audited). Until then it is neither in the
// roster nor proposed for the room's MLS group.
func (s *Server) signalConsent(ctx context.Context, ws *websocket.Conn, claims *auth.Claims, c echo.Context) error {
	pol, pending, err := s.consents.Pending(ctx, claims.Room, claims.Subject)
	if err != nil {
		s.log.ErrorContext(ctx, "signaling: consent policy", "request_id", requestID(c), "err", err)
		_ = ws.Close(websocket.StatusInternalError, "internal error")
		return err
	}
	if !pending {
		return nil
	}
	write := func(typ, id string, data any) error { return writeNow(ctx, ws, typ, id, data) }
	refuse := func(id, code, msg string) {
		_ = write(signaling.TypeError, id, signaling.Error{Code: code, Message: msg})
	}
	if err := write(signaling.TypeConsentRequired, "", signaling.ConsentRequired{NoticeVersion: pol.NoticeVersion, NoticeURL: pol.NoticeURL}); err != nil {
		return err
	}
	// Reading the notice takes a person a while; the idle timeout bounds the wait.
	timer := s.cfg.Clock.AfterFunc(s.cfg.SignalIdleTimeout, func() { _ = ws.Close(signaling.CloseIdle, "no consent") })
	defer timer.Stop()
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			_ = ws.CloseNow()
			return err
		}
		var env signaling.Envelope
		if err := signaling.DecodeStrict(msg, &env); err != nil || env.V != signaling.Version {
			refuse("", signaling.CodeBadMessage, "message is not a valid signaling envelope")
			continue
		}
		switch env.Type {
		case signaling.TypePing:
			_ = write(signaling.TypePong, env.ID, nil)
		case signaling.TypeLeave:
			_ = write(signaling.TypeBye, env.ID, signaling.Bye{Reason: signaling.ReasonLeft})
			_ = ws.Close(websocket.StatusNormalClosure, "bye")
			return errLeftAtDoor
		case signaling.TypeConsent:
			var cd signaling.Consent
			if err := signaling.DecodeStrict(env.Data, &cd); err != nil {
				refuse(env.ID, signaling.CodeBadMessage, "consent needs notice_version")
				continue
			}
			err := s.consents.Accept(ctx, audit.Caller{Actor: claims.Subject, Role: string(claims.Role), RequestID: requestID(c),
				SourceIP: c.RealIP(), UserAgent: c.Request().UserAgent()}, claims.Room, cd.NoticeVersion)
			if errors.Is(err, compliance.ErrNoticeVersion) {
				refuse(env.ID, signaling.CodeConsentRequired, "accept the room's current notice version")
				continue
			}
			if err != nil {
				s.log.ErrorContext(ctx, "signaling: consent", "request_id", requestID(c), "err", err)
				refuse(env.ID, signaling.CodeInternal, "internal error")
				_ = ws.Close(websocket.StatusInternalError, "internal error")
				return err
			}
			return write(signaling.TypeAck, env.ID, nil)
		default:
			refuse(env.ID, signaling.CodeConsentRequired, "accept the room's notice first")
		}
	}
}
