package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/compliance"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/server/auth"
)

// SignalVersion is the signaling protocol version this server speaks (docs/protocol.md).
const SignalVersion = 1

// Signaling close codes (RFC 6455 §7.4.2 reserves 4000-4999 for applications).
const (
	closeUnauthorized websocket.StatusCode = 4401 // bad token, or the token expired
	closeAuthTimeout  websocket.StatusCode = 4408 // no auth message in time
	closeReplaced     websocket.StatusCode = 4409 // the same identity joined elsewhere
	closeRateLimited  websocket.StatusCode = 4429 // kept flooding after rate_limited errors
	closeProtocol     websocket.StatusCode = 4400 // the first message was not auth
	closeIdle         websocket.StatusCode = 4410 // no client message within the idle timeout
	closeRemoved      websocket.StatusCode = 4403 // a host removed the participant
)

// Signaling error codes, sent in "error" messages; docs/protocol.md lists them.
const (
	sigBadMessage         = "bad_message"
	sigUnsupportedVersion = "unsupported_version"
	sigUnknownType        = "unknown_type"
	sigUnauthorized       = "unauthorized"
	sigForbidden          = "forbidden"
	sigRateLimited        = "rate_limited"
	sigInternal           = "internal"
	sigConsentRequired    = "consent_required"
)

// envelope is every signaling message, both directions.
type envelope struct {
	V    int             `json:"v"`
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

type tokenData struct {
	Token string `json:"token"`
}

type muteData struct {
	AudioMuted bool `json:"audio_muted"`
	VideoMuted bool `json:"video_muted"`
}

type readyData struct {
	Version      int                      `json:"version"`
	Participant  keyservice.Participant   `json:"participant"`
	Participants []keyservice.Participant `json:"participants"`
	ExpiresAt    time.Time                `json:"expires_at"`
	ICEServers   []iceServer              `json:"ice_servers,omitempty"`
}

// iceServer is an RTCIceServer: the embedded TURN relay with credentials bound to this
// connection's token.
type iceServer struct {
	URLs       []string  `json:"urls"`
	Username   string    `json:"username"`
	Credential string    `json:"credential"`
	Expires    time.Time `json:"expires"`
}

type leftData struct {
	Participant keyservice.Participant `json:"participant"`
	Reason      string                 `json:"reason"`
}

type errorData struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type byeData struct {
	Reason string `json:"reason"`
}

type consentRequiredData struct {
	NoticeVersion string `json:"notice_version"`
	NoticeURL     string `json:"notice_url,omitempty"`
}

type consentData struct {
	NoticeVersion string `json:"notice_version"`
}

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
	write := func(typ, id string, data any) error {
		b, _ := json.Marshal(data)
		env, _ := json.Marshal(envelope{V: SignalVersion, Type: typ, ID: id, Data: b})
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return ws.Write(wctx, websocket.MessageText, env)
	}
	if err := write("consent_required", "", consentRequiredData{NoticeVersion: pol.NoticeVersion, NoticeURL: pol.NoticeURL}); err != nil {
		return err
	}
	// Reading the notice takes a person a while; the idle timeout bounds the wait.
	timer := time.AfterFunc(s.cfg.SignalIdleTimeout, func() { _ = ws.Close(closeIdle, "no consent") })
	defer timer.Stop()
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			_ = ws.CloseNow()
			return err
		}
		var env envelope
		if err := keyservice.DecodeStrict(msg, &env); err != nil || env.V != SignalVersion {
			_ = write("error", "", errorData{Code: sigBadMessage, Message: "message is not a valid signaling envelope"})
			continue
		}
		switch env.Type {
		case "ping":
			_ = write("pong", env.ID, nil)
		case "leave":
			_ = write("bye", env.ID, byeData{Reason: keyservice.ReasonLeft})
			_ = ws.Close(websocket.StatusNormalClosure, "bye")
			return errors.New("left before consenting")
		case "consent":
			var cd consentData
			if err := keyservice.DecodeStrict(env.Data, &cd); err != nil {
				_ = write("error", env.ID, errorData{Code: sigBadMessage, Message: "consent needs notice_version"})
				continue
			}
			err := s.consents.Accept(ctx, audit.Caller{Actor: claims.Subject, Role: string(claims.Role), RequestID: requestID(c),
				SourceIP: c.RealIP(), UserAgent: c.Request().UserAgent()}, claims.Room, cd.NoticeVersion)
			if errors.Is(err, compliance.ErrNoticeVersion) {
				_ = write("error", env.ID, errorData{Code: sigConsentRequired, Message: "accept the room's current notice version"})
				continue
			}
			if err != nil {
				s.log.ErrorContext(ctx, "signaling: consent", "request_id", requestID(c), "err", err)
				_ = write("error", env.ID, errorData{Code: sigInternal, Message: "internal error"})
				_ = ws.Close(websocket.StatusInternalError, "internal error")
				return err
			}
			return write("ack", env.ID, nil)
		default:
			_ = write("error", env.ID, errorData{Code: sigConsentRequired, Message: "accept the room's notice first"})
		}
	}
}

// Rooms is the MLS Delivery Service behind signaling (package keyservice): it learns of
// each member's arrival and departure and handles every message type signaling itself
// does not know.
type Rooms interface {
	Join(ctx context.Context, m keyservice.Member, c keyservice.Conn) error
	Handle(ctx context.Context, m keyservice.Member, typ string, data json.RawMessage) error
	Leave(ctx context.Context, m keyservice.Member, reason string)
}

// signalConn is one participant's signaling connection.
type signalConn struct {
	s         *Server
	ws        *websocket.Conn
	claims    *auth.Claims
	me        keyservice.Participant
	out       chan []byte
	closeMu   sync.Once
	done      chan struct{}
	requestID string
	remoteIP  string
	media     *media.Participant // nil without an SFU
	// closeCode and closeReason are set once, before done closes.
	closeCode   websocket.StatusCode
	closeReason string
	// removedBy is the host who removed this participant (kick), stored before done
	// closes; nil otherwise.
	removedBy atomic.Pointer[string]
}

// signal upgrades to a WebSocket, authenticates the first message, seats the participant
// in its room and runs the connection until either side ends it. The token travels in
// the first message, not the URL, so it never lands in access logs or browser history.
func (s *Server) signal(c echo.Context) error {
	ws, err := websocket.Accept(c.Response(), c.Request(), &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins})
	if err != nil {
		return nil // Accept has answered the request already
	}
	ws.SetReadLimit(s.cfg.SignalMaxMessage)
	ctx := c.Request().Context()
	claims, err := s.signalAuth(ctx, ws)
	if err != nil {
		s.authDenied(ctx, requestID(c), c.RealIP(), c.Request().UserAgent(), err)
		return nil
	}
	if s.consents != nil {
		if err := s.signalConsent(ctx, ws, claims, c); err != nil {
			return nil
		}
	}
	sc := &signalConn{
		s: s, ws: ws, claims: claims,
		me: keyservice.Participant{
			ID: uuid.NewString(), Subject: claims.Subject, Name: claims.Name,
			Role: string(claims.Role), JoinedAt: time.Now().UTC(),
		},
		out:       make(chan []byte, 256),
		done:      make(chan struct{}),
		requestID: requestID(c),
		remoteIP:  c.RealIP(),
	}
	sc.run(ctx)
	return nil
}

func (s *Server) signalAuth(ctx context.Context, ws *websocket.Conn) (*auth.Claims, error) {
	// A Read whose context expires tears the connection down without a close frame, so
	// the timeout closes the socket from the side with a proper code instead.
	timer := time.AfterFunc(s.cfg.SignalAuthTimeout, func() {
		_ = ws.Close(closeAuthTimeout, "authentication timeout")
	})
	_, msg, err := ws.Read(ctx)
	if !timer.Stop() || err != nil {
		_ = ws.CloseNow()
		return nil, auth.ErrMissing
	}
	var env envelope
	if err := keyservice.DecodeStrict(msg, &env); err != nil || env.Type != "auth" {
		_ = ws.Close(closeProtocol, "first message must be auth")
		return nil, auth.ErrMissing
	}
	var td tokenData
	if err := keyservice.DecodeStrict(env.Data, &td); err != nil {
		_ = ws.Close(closeProtocol, "malformed auth message")
		return nil, auth.ErrMissing
	}
	claims, err := s.verifier.Verify(td.Token)
	if err == nil && claims.Room == "" {
		err = fmt.Errorf("%w: signaling needs a room grant", auth.ErrClaims)
	}
	if err != nil {
		_ = ws.Close(closeUnauthorized, "unauthorized")
		return nil, err
	}
	if env.V != SignalVersion {
		_ = ws.Close(closeProtocol, "unsupported version")
		return nil, auth.ErrMissing
	}
	s.ids.seen(claims.Subject)
	return claims, nil
}

func (sc *signalConn) run(ctx context.Context) {
	s := sc.s
	room := sc.claims.Room
	roster := s.presence.Join(room, sc.me, sc.deliver)
	ready := readyData{Version: SignalVersion, Participant: sc.me, Participants: roster, ExpiresAt: sc.claims.ExpiresAt.Time}
	if s.turn != nil && len(s.turnURLs) > 0 {
		cr, err := s.turn.Credentials(turnGrant(sc.claims))
		if err != nil {
			s.log.WarnContext(ctx, "signaling: no TURN credentials", "request_id", sc.requestID, "err", err)
		} else {
			ready.ICEServers = []iceServer{{URLs: s.turnURLs, Username: cr.Username, Credential: cr.Password, Expires: cr.Expires}}
		}
	}
	sc.send("ready", "", ready)
	reason := keyservice.ReasonDisconnected
	defer func() { s.presence.Leave(room, sc.me.ID, reason) }()
	if s.rooms != nil {
		if err := s.rooms.Join(ctx, sc.member(), sc); err != nil {
			sc.sendKeyserviceError("", err)
			sc.close(websocket.StatusInternalError, "could not join the room's group")
		}
		// Leave runs on every way out, with a context that outlives the request's.
		defer func() {
			lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s.rooms.Leave(lctx, sc.member(), reason)
		}()
	}

	// A host's removal wins over however the loop below ends (the client may close its
	// socket at the same moment); this runs before the Leave calls deferred above.
	defer func() {
		if by := sc.removedBy.Load(); by != nil {
			reason = keyservice.ReasonRemoved
			sc.revokeRemoved(ctx, *by)
		}
	}()

	if s.media != nil {
		p, err := sc.joinMedia(ctx)
		if err != nil {
			s.log.Error("signaling: media join", "request_id", sc.requestID, "err", err)
			sc.sendError("", sigMediaClosed, "could not start the media session")
		} else {
			sc.media = p
			defer p.Close()
		}
	}

	writerDone := make(chan struct{})
	go sc.writeLoop(ctx, writerDone)
	defer func() { <-writerDone }()

	// Automatic logoff (HIPAA §164.312(a)(2)(iii)): the connection ends when its token
	// does, unless the client refreshed it.
	expiry := time.NewTimer(time.Until(sc.claims.ExpiresAt.Time))
	defer expiry.Stop()
	// Automatic logoff after inactivity: a client that sends nothing (not even its
	// keep-alive ping, which the webapp sends only while a call is live) is logged off.
	idle := time.NewTimer(s.cfg.SignalIdleTimeout)
	defer idle.Stop()

	msgs := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, msg, err := sc.ws.Read(ctx)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case msgs <- msg:
			case <-sc.done:
				return
			}
		}
	}()

	// A revoked token loses its connection too, not just its next request.
	recheck := time.NewTicker(s.cfg.RevocationCheck)
	defer recheck.Stop()

	limit := rate.NewLimiter(rate.Limit(s.cfg.SignalRatePerSecond), s.cfg.SignalRateBurst)
	strikes := 0
	for {
		select {
		case <-sc.done:
			if sc.closeCode == closeReplaced {
				reason = keyservice.ReasonReplaced
			}
			return
		case err := <-readErr:
			var ce websocket.CloseError
			if errors.As(err, &ce) && ce.Code == websocket.StatusNormalClosure {
				reason = keyservice.ReasonLeft
			}
			if websocket.CloseStatus(err) == websocket.StatusMessageTooBig {
				sc.close(websocket.StatusMessageTooBig, "message too large")
			}
			sc.close(websocket.StatusNormalClosure, "")
			return
		case <-expiry.C:
			reason = keyservice.ReasonExpired
			sc.logoff(ctx, "token_expired")
			sc.send("bye", "", byeData{Reason: keyservice.ReasonExpired})
			sc.close(closeUnauthorized, "token expired")
			return
		case <-recheck.C:
			if err := s.verifier.StillValid(sc.claims); errors.Is(err, auth.ErrRevoked) {
				reason = keyservice.ReasonRevoked
				sc.logoff(ctx, "revoked")
				sc.send("bye", "", byeData{Reason: keyservice.ReasonRevoked})
				sc.close(closeUnauthorized, "token revoked")
				return
			}
		case <-idle.C:
			reason = keyservice.ReasonIdle
			sc.logoff(ctx, "idle")
			sc.send("bye", "", byeData{Reason: keyservice.ReasonIdle})
			sc.close(closeIdle, "idle timeout")
			return
		case msg := <-msgs:
			idle.Reset(s.cfg.SignalIdleTimeout)
			if !limit.Allow() {
				strikes++
				sc.sendError("", sigRateLimited, "slow down")
				if strikes > 3*s.cfg.SignalRateBurst {
					sc.close(closeRateLimited, "rate limited")
					return
				}
				continue
			}
			if sc.handle(ctx, msg, expiry) {
				reason = keyservice.ReasonLeft
				return
			}
		}
	}
}

// handle acts on one client message; it reports whether the client said goodbye.
func (sc *signalConn) handle(ctx context.Context, msg []byte, expiry *time.Timer) (left bool) {
	var env envelope
	if err := keyservice.DecodeStrict(msg, &env); err != nil {
		sc.sendError("", sigBadMessage, "message is not a valid signaling envelope")
		return false
	}
	if env.V != SignalVersion {
		sc.sendError(env.ID, sigUnsupportedVersion, fmt.Sprintf("this server speaks version %d", SignalVersion))
		return false
	}
	switch env.Type {
	case "ping":
		sc.send("pong", env.ID, nil)
	case "mute":
		var m muteData
		if err := keyservice.DecodeStrict(env.Data, &m); err != nil {
			sc.sendError(env.ID, sigBadMessage, "mute needs audio_muted and video_muted")
			return false
		}
		if _, err := sc.s.presence.Update(sc.claims.Room, sc.me.ID, m.AudioMuted, m.VideoMuted); err != nil {
			sc.sendError(env.ID, sigForbidden, "not in the room")
			return false
		}
		sc.send("ack", env.ID, nil)
	case "refresh":
		var td tokenData
		if err := keyservice.DecodeStrict(env.Data, &td); err != nil {
			sc.sendError(env.ID, sigBadMessage, "refresh needs a token")
			return false
		}
		c, err := sc.s.verifier.Verify(td.Token)
		if err != nil || c.Subject != sc.claims.Subject || c.Room != sc.claims.Room || c.Role != sc.claims.Role {
			sc.sendError(env.ID, sigUnauthorized, "the new token must be valid and carry the same identity, room and role")
			return false
		}
		sc.claims = c
		expiry.Reset(time.Until(c.ExpiresAt.Time))
		sc.send("ack", env.ID, nil)
	case "media":
		sc.handleMedia(env.ID, env.Data)
	case "leave":
		sc.send("bye", env.ID, byeData{Reason: keyservice.ReasonLeft})
		sc.close(websocket.StatusNormalClosure, "bye")
		return true
	default:
		if sc.s.rooms == nil {
			sc.sendError(env.ID, sigUnknownType, "unknown message type")
			return false
		}
		if err := sc.s.rooms.Handle(ctx, sc.member(), env.Type, env.Data); err != nil {
			sc.sendKeyserviceError(env.ID, err)
			return false
		}
		if env.ID != "" {
			sc.send("ack", env.ID, nil)
		}
	}
	return false
}

// logoff records an automatic logoff. It is on the audit allow-list: ending access must
// never wait for the audit log.
func (sc *signalConn) logoff(ctx context.Context, why string) {
	err := sc.s.audit.Record(ctx, audit.Event{
		Actor: sc.claims.Subject, ActorRole: string(sc.claims.Role), Action: audit.ActionSessionExpired,
		Room: sc.claims.Room, Outcome: audit.OutcomeSuccess, RequestID: sc.requestID,
		Details:  map[string]string{"reason": why, "connection": sc.me.ID},
		Personal: audit.Personal{SourceIP: sc.remoteIP},
	})
	if err != nil {
		sc.s.log.Error("audit: session expiry", "request_id", sc.requestID, "err", err)
	}
}

func (sc *signalConn) member() keyservice.Member {
	return keyservice.Member{
		ConnID: sc.me.ID, Subject: sc.claims.Subject, Name: sc.claims.Name, Room: sc.claims.Room,
		Role: string(sc.claims.Role), CanPublish: sc.claims.CanPublish, CanSubscribe: sc.claims.CanSubscribe,
		ExpiresAt: sc.claims.ExpiresAt.Time, RequestID: sc.requestID, RemoteIP: sc.remoteIP,
	}
}

// Send lets the Delivery Service write to this connection (keyservice.Conn). A host's
// removal ends the connection: the Delivery Service has proposed the Remove already, and
// a removed participant must not stay in the roster or keep receiving media.
func (sc *signalConn) Send(typ string, data any) {
	sc.send(typ, "", data)
	if typ != keyservice.TypeRemoved {
		return
	}
	var by struct {
		By string `json:"by"`
	}
	if raw, ok := data.(json.RawMessage); ok {
		_ = json.Unmarshal(raw, &by)
	}
	if by.By == "" {
		by.By = "service:signaling"
	}
	sc.removedBy.Store(&by.By)
	sc.send("bye", "", byeData{Reason: keyservice.ReasonRemoved})
	sc.close(closeRemoved, "removed by a host")
}

// revokeRemoved revokes the token of a removed participant, so that reloading the
// invite link does not bring them back; the host can invite them again with a new token.
// It runs on the connection's goroutine, after the Remove was proposed.
func (sc *signalConn) revokeRemoved(ctx context.Context, by string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := sc.s.audit.Record(ctx, audit.Event{
		Actor: by, ActorRole: "host", Action: audit.ActionTokenRevoked, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: audit.TargetToken, ID: sc.claims.ID}, Room: sc.claims.Room, RequestID: sc.requestID,
		Details: map[string]string{"sub": sc.claims.Subject, "reason": keyservice.ReasonRemoved},
	})
	if err == nil {
		err = sc.s.revoked.RevokeToken(ctx, sc.claims.ID, sc.claims.Subject, by)
	}
	if err != nil {
		sc.s.log.Error("signaling: revoke a removed participant's token", "request_id", sc.requestID, "err", err)
	}
}

func (sc *signalConn) sendKeyserviceError(id string, err error) {
	var ke *keyservice.Error
	if errors.As(err, &ke) {
		sc.sendError(id, ke.Code, ke.Message)
		return
	}
	sc.s.log.Error("signaling: key service", "request_id", sc.requestID, "err", err)
	sc.sendError(id, sigInternal, "internal error")
}

// deliver turns a room event into a message for this connection. It runs on the
// goroutine of whoever caused the event and must not block.
func (sc *signalConn) deliver(ev keyservice.Event) {
	switch ev.Kind {
	case keyservice.EventJoined, keyservice.EventUpdated:
		sc.send(ev.Kind, "", ev.Participant)
	case keyservice.EventLeft:
		if ev.Participant.ID == sc.me.ID && ev.Reason == keyservice.ReasonReplaced {
			sc.send("bye", "", byeData{Reason: keyservice.ReasonReplaced})
			sc.close(closeReplaced, "replaced by a newer connection")
			return
		}
		sc.send(ev.Kind, "", leftData{Participant: ev.Participant, Reason: ev.Reason})
	}
}

func (sc *signalConn) send(typ, id string, data any) {
	env := envelope{V: SignalVersion, Type: typ, ID: id}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			sc.s.log.Error("signaling: encode", "type", typ, "err", err)
			return
		}
		env.Data = b
	}
	b, err := json.Marshal(env)
	if err != nil {
		return
	}
	select {
	case <-sc.done:
	case sc.out <- b:
	default:
		// A client that does not read its messages would hold everyone's fan-out back.
		sc.close(websocket.StatusTryAgainLater, "too slow")
	}
}

func (sc *signalConn) sendError(id, code, msg string) {
	sc.send("error", id, errorData{Code: code, Message: msg})
}

func (sc *signalConn) close(code websocket.StatusCode, reason string) {
	sc.closeMu.Do(func() {
		sc.closeCode, sc.closeReason = code, reason
		close(sc.done)
	})
}

// writeLoop is the only writer to the socket. After done it flushes what was queued
// (the bye message, say) and closes with the recorded code.
func (sc *signalConn) writeLoop(ctx context.Context, finished chan<- struct{}) {
	defer close(finished)
	write := func(b []byte) bool {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return sc.ws.Write(wctx, websocket.MessageText, b) == nil
	}
	for {
		select {
		case b := <-sc.out:
			if !write(b) {
				sc.close(websocket.StatusGoingAway, "")
				_ = sc.ws.CloseNow()
				return
			}
		case <-sc.done:
			for {
				select {
				case b := <-sc.out:
					if !write(b) {
						_ = sc.ws.CloseNow()
						return
					}
				default:
					_ = sc.ws.Close(sc.closeCode, sc.closeReason)
					return
				}
			}
		}
	}
}
