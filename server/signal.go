package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/signaling"
)

// Signaling is split along its seams, one file each:
//
//	signal.go          the connection: upgrade, the loop with its timers, dispatch
//	signal_auth.go     the first message (auth) and token refresh
//	signal_consent.go  the door of a room that asks for a notice to be accepted
//	signal_session.go  the seat: presence, the Delivery Service, the SFU; leaving
//	signal_wire.go     the outbound queue and the only writer to the socket
//	signal_errors.go   domain errors to signaling error codes, in one table
//	signal_media.go    the SFU's messages
//
// The protocol itself (envelope, types, data, codes) is package signaling's.

// Rooms is the MLS Delivery Service behind signaling (package keyservice): it learns of
// each member's arrival and departure and handles every message type signaling itself
// does not know.
type Rooms interface {
	Join(ctx context.Context, m keyservice.Member, c keyservice.Conn) error
	Handle(ctx context.Context, m keyservice.Member, typ string, data json.RawMessage) error
	Leave(ctx context.Context, m keyservice.Member, reason string)
	// Forget stops delivering to the connection without ending its seat: the session
	// moved to another node, which seats it again.
	Forget(ctx context.Context, m keyservice.Member)
}

// signalConn is one participant's signaling connection.
type signalConn struct {
	s         *Server
	ws        *websocket.Conn
	claims    *auth.Claims
	room      string // claims.Room, which no refresh or resume changes; read by other goroutines
	me        signaling.Participant
	out       chan outMsg
	closeOnce sync.Once
	done      chan struct{}
	requestID string
	remoteIP  string
	media     *media.Participant // nil without an SFU
	// closeCode and closeReason are set once, before done closes.
	closeCode   websocket.StatusCode
	closeReason string
	// removedBy is the host who removed this participant (kick), stored before removed
	// closes; nil otherwise.
	removedBy   atomic.Pointer[string]
	removed     chan struct{}
	removedOnce sync.Once
	revokeOnce  sync.Once

	// The session outlives its socket (signal_resume.go): secretHash is of the current
	// resume secret and prevHash of the one the last resume presented, valid until
	// prevUntil (zero: there is none) or until the client says on the socket of that
	// resume (claimGen) that it has the new one (resume_ack); all under sessions.mu. sockGen is the
	// claimGen of the socket serving the session now (the run goroutine's). detached is
	// set while no socket serves the session, attach brings the next one, and unsent is a
	// message a dying socket failed to write.
	secretHash [32]byte
	prevHash   [32]byte
	prevUntil  time.Time
	claimGen   uint64
	sockGen    uint64
	detached   atomic.Bool
	sock       atomic.Pointer[websocket.Conn] // the socket serving the session now
	attach     chan attachment
	unsent     []outMsg // to write first on the next socket: resumed, replays, a failed write
	sent       []outMsg // the last messages written, for a resume (maxReplay)
	sendMu     sync.Mutex
	seq        uint64 // of the last message queued; under sendMu

	// iceRefresh is how long after the last TURN credentials the next are pushed (0:
	// none are handed out); set by iceServers, on the session's goroutine.
	iceRefresh time.Duration
}

var _ keyservice.Conn = (*signalConn)(nil)

// signal upgrades to a WebSocket, authenticates the first message, seats the participant
// in its room and runs the connection until either side ends it. The token travels in
// the first message, not the URL, so it never lands in access logs or browser history.
func (s *Server) signal(c echo.Context) error {
	ws, err := websocket.Accept(c.Response(), c.Request(), &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins})
	if err != nil {
		return nil // Accept has answered the request already
	}
	if !s.conns.add(ws) {
		_ = ws.Close(websocket.StatusGoingAway, "shutting down")
		return nil
	}
	defer s.conns.done(ws)
	ws.SetReadLimit(s.cfg.SignalMaxMessage)
	ctx := c.Request().Context()
	claims, resume, first, err := s.signalAuth(ctx, ws)
	if err != nil {
		s.authDenied(ctx, requestID(c), c.RealIP(), c.Request().UserAgent(), err)
		return nil
	}
	// A session held here resumes here, without asking the cluster (which needs the
	// database: a resume must work while Postgres is briefly away).
	held := resume != nil && s.sessions.holds(resume.Session)
	if !held && s.route(ctx, ws, claims, first, c) {
		return nil
	}
	if resume != nil {
		// Not held: route found the room placed here (or there is no cluster).
		s.resume(ctx, ws, claims, resume, !held, c)
		return nil
	}
	if s.consents != nil {
		if err := s.signalConsent(ctx, ws, claims, c); err != nil {
			return nil
		}
	}
	sc := s.newSignalConn(ws, claims, signaling.Participant{
		ID: uuid.NewString(), Subject: claims.Subject, Name: claims.Name,
		Role: string(claims.Role), JoinedAt: s.cfg.Clock.Now().UTC(),
	}, c)
	// The session may outlive this request's socket: it runs on its own context.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	sc.run(sctx, nil)
	return nil
}

func (s *Server) newSignalConn(ws *websocket.Conn, claims *auth.Claims, me signaling.Participant, c echo.Context) *signalConn {
	return &signalConn{
		s: s, ws: ws, claims: claims, me: me, room: claims.Room,
		out:       make(chan outMsg, 1024),
		done:      make(chan struct{}),
		removed:   make(chan struct{}),
		attach:    make(chan attachment),
		requestID: requestID(c),
		remoteIP:  c.RealIP(),
	}
}

// run seats the participant, serves its sockets until the session ends, and unseats it.
// The reason the participant left is decided by how the session ended. adopted is the
// new resume secret of a session this node took over from another (nil: a new session).
func (sc *signalConn) run(ctx context.Context, adopted []byte) {
	s := sc.s
	secret := adopted
	if secret == nil {
		secret = newResumeSecret()
	}
	sc.secretHash = sha256.Sum256(secret)
	ws := sc.ws
	sc.sock.Store(ws)
	reason := signaling.ReasonDisconnected
	var release chan struct{} // the resuming handler holding the current socket
	defer func() {
		if release != nil {
			close(release)
		}
	}()
	gone, writerDone := sc.startWriter(ws)
	leave, ok := sc.seat(ctx, secret, adopted != nil)
	defer func() { leave(reason) }()
	if !ok {
		<-writerDone
		return
	}
	if s.store != nil {
		// Written before the session can be claimed (sessions.add), so a resume's rotated
		// secret can never be overwritten by this first one.
		if err := s.store.put(ctx, sc.me, sc.claims, sc.secretHash, sc.prev()); err != nil {
			s.log.Warn("cluster: session record not written; it cannot move to another node", "request_id", sc.requestID, "err", err)
		}
	}
	s.sessions.add(sc)
	defer func() { s.sessions.remove(sc, s.cfg.Clock.Now()) }()
	if s.store != nil {
		defer func() {
			if reason == reasonMoved {
				return // the room's new node adopts it
			}
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := s.store.end(dctx, sc.me.ID); err != nil {
				s.log.Warn("cluster: session record not marked ended", "request_id", sc.requestID, "err", err)
			}
		}()
	}
	for {
		r, lost := sc.loop(ctx, ws)
		if !lost || s.cfg.SessionGrace <= 0 {
			reason = r
			<-writerDone
			return
		}
		close(gone)
		<-writerDone
		if release != nil {
			close(release)
			release = nil
		}
		a, r, ok := sc.detach(ctx)
		if !ok {
			reason = r
			return
		}
		ws, release = a.ws, a.released
		sc.ws = ws
		sc.sockGen = a.gen
		sc.sock.Store(ws)
		sc.claims = a.claims
		sc.resumed(ctx, a) // before the writer starts: it reads unsent
		gone, writerDone = sc.startWriter(ws)
	}
}

// startWriter runs the writer of one socket; closing gone stops it without closing the
// socket (it died), done flushes and closes with the session's code.
func (sc *signalConn) startWriter(ws *websocket.Conn) (gone chan struct{}, finished chan struct{}) {
	gone, finished = make(chan struct{}), make(chan struct{})
	go sc.writeLoop(ws, gone, finished)
	return gone, finished
}

// detach waits, with the socket gone, for a resume or the end of the grace. The
// participant shows as reconnecting meanwhile; what the room sends queues up.
func (sc *signalConn) detach(ctx context.Context) (attachment, string, bool) {
	s := sc.s
	sc.detached.Store(true)
	defer sc.detached.Store(false)
	if s.conns.isClosed() {
		// The server is shutting down: nobody will resume here.
		return attachment{}, sc.shutdownReason(), false
	}
	grace := s.cfg.Clock.NewTimer(s.cfg.SessionGrace) // armed before the room hears of it
	defer grace.Stop()
	// An operator reading why a participant dropped (and a failed field test) needs the
	// moment the socket went, not only the resume or its refusal.
	s.log.InfoContext(ctx, "signaling: connection lost; the session waits for a resume", "request_id", sc.requestID, "session", sc.me.ID, "grace", s.cfg.SessionGrace)
	s.presence.SetReconnecting(sc.claims.Room, sc.me.ID, true)
	select {
	case <-s.conns.shutdown():
		return attachment{}, sc.shutdownReason(), false
	case a := <-sc.attach:
		select {
		case <-sc.done:
			// Ended (replaced, say) as the resume was handed over: both were ready and the
			// select chose at random. The resume finds the session ended, as it would have
			// a moment later.
			a.taken <- false
			return attachment{}, sc.awayEndReason(), false
		default:
		}
		a.taken <- true
		s.presence.SetReconnecting(sc.claims.Room, sc.me.ID, false)
		return a, "", true
	case <-grace.Chan():
		s.log.InfoContext(ctx, "signaling: no resume within the grace; the session ends", "request_id", sc.requestID, "session", sc.me.ID)
		sc.close(signaling.CloseNoResume, "the connection did not come back")
		return attachment{}, signaling.ReasonLost, false
	case <-sc.removed:
		by := *sc.removedBy.Load()
		sc.revokeRemoved(ctx, by)
		sc.close(signaling.CloseRemoved, "removed by a host")
		return attachment{}, signaling.ReasonRemoved, false
	case <-sc.done:
		return attachment{}, sc.awayEndReason(), false
	}
}

// awayEndReason is why a session that ended while its socket was gone left (done closed).
func (sc *signalConn) awayEndReason() string {
	if sc.closeCode == signaling.CloseMoved {
		return reasonMoved
	}
	// Replaced while away, say: the participant had dropped, as far as the room knew.
	return signaling.ReasonDisconnected
}

// shutdownReason is why a session ends when its server shuts down: in a cluster it moves
// (another node, or this one restarted, adopts it within the grace); alone it ends.
func (sc *signalConn) shutdownReason() string {
	if sc.s.store != nil {
		return reasonMoved
	}
	return signaling.ReasonDisconnected
}

// endReason is why a session the server closed ended: moved to another node, replaced
// by a newer connection, or disconnected.
func (sc *signalConn) endReason() string {
	switch sc.closeCode {
	case signaling.CloseMoved:
		return reasonMoved
	case signaling.CloseReplaced:
		return signaling.ReasonReplaced
	}
	return signaling.ReasonDisconnected
}

// resumed tells the client its session is back (with the room as it is now and a new
// resume secret), asks the SFU for keyframes, and lets the queued messages follow.
func (sc *signalConn) resumed(ctx context.Context, a attachment) {
	r := sc.ready(ctx, sc.s.presence.Roster(sc.claims.Room), a.secret)
	var first []outMsg
	if b, err := signaling.Encode(signaling.TypeResumed, "", r); err == nil {
		first = append(first, outMsg{b: b}) // resumed goes first
	}
	for _, m := range sc.sent {
		if m.seq > a.lastSeq { // written, but maybe lost with the old socket
			first = append(first, m)
		}
	}
	sc.sent = sc.sent[:0]
	sc.unsent = append(first, sc.unsent...)
	if sc.media != nil {
		sc.media.Reconnected()
	}
}

// loop reads client messages from ws and runs the connection's timers until the session
// ends, and returns why the participant left; or until ws drops without a close from
// either side, when it returns lost (the session may wait for a resume).
func (sc *signalConn) loop(ctx context.Context, ws *websocket.Conn) (reason string, lost bool) {
	s := sc.s
	clock := s.cfg.Clock
	// Automatic logoff (HIPAA §164.312(a)(2)(iii)): the connection ends when its token
	// does, unless the client refreshed it.
	expiry := clock.NewTimer(clock.Until(sc.claims.ExpiresAt.Time))
	defer expiry.Stop()
	// Automatic logoff after inactivity: a client that sends nothing (not even its
	// keep-alive ping, which the webapp sends only while a call is live) is logged off.
	idle := clock.NewTimer(s.cfg.SignalIdleTimeout)
	defer idle.Stop()
	// A revoked token loses its connection too, not just its next request.
	recheck := clock.NewTicker(s.cfg.RevocationCheck)
	defer recheck.Stop()
	// TURN credentials are short-lived: fresh ones go out before the last ones expire.
	var iceDue <-chan time.Time
	var iceTimer clockwork.Timer
	armICE := func() {
		if iceTimer != nil {
			iceTimer.Stop()
			iceTimer, iceDue = nil, nil
		}
		if sc.iceRefresh > 0 {
			iceTimer = clock.NewTimer(sc.iceRefresh)
			iceDue = iceTimer.Chan()
		}
	}
	armICE()
	defer func() {
		if iceTimer != nil {
			iceTimer.Stop()
		}
	}()

	msgs := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, msg, err := ws.Read(ctx)
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

	limit := rate.NewLimiter(rate.Limit(s.cfg.SignalRatePerSecond), s.cfg.SignalRateBurst)
	strikes := 0
	for {
		select {
		case <-sc.done:
			return sc.endReason(), false
		case err := <-readErr:
			if websocket.CloseStatus(err) == websocket.StatusMessageTooBig {
				sc.close(websocket.StatusMessageTooBig, "message too large")
				return signaling.ReasonDisconnected, false
			}
			var ce websocket.CloseError
			if errors.As(err, &ce) && (ce.Code == websocket.StatusNormalClosure || ce.Code == websocket.StatusGoingAway) {
				// The client closed on purpose (left, or its page went away).
				reason := signaling.ReasonDisconnected
				if ce.Code == websocket.StatusNormalClosure {
					reason = signaling.ReasonLeft
				}
				sc.close(websocket.StatusNormalClosure, "")
				return reason, false
			}
			// The connection dropped: the session may wait for the client to resume.
			return signaling.ReasonDisconnected, true
		case <-expiry.Chan():
			sc.logoff(ctx, "token_expired")
			sc.bye(signaling.ReasonExpired, signaling.CloseUnauthorized, "token expired")
			return signaling.ReasonExpired, false
		case <-recheck.Chan():
			if err := s.verifier.StillValid(sc.claims); errors.Is(err, auth.ErrRevoked) {
				sc.logoff(ctx, "revoked")
				sc.bye(signaling.ReasonRevoked, signaling.CloseUnauthorized, "token revoked")
				return signaling.ReasonRevoked, false
			}
		case <-sc.removed:
			// The token is revoked before the socket closes, so a client that redials
			// the moment it sees the close finds it revoked.
			by := *sc.removedBy.Load()
			sc.revokeRemoved(ctx, by)
			sc.send(signaling.TypeRemoved, "", signaling.Removed{By: by})
			sc.bye(signaling.ReasonRemoved, signaling.CloseRemoved, "removed by a host")
			return signaling.ReasonRemoved, false
		case <-iceDue:
			sc.pushICEServers(ctx)
			armICE()
		case <-idle.Chan():
			sc.logoff(ctx, "idle")
			sc.bye(signaling.ReasonIdle, signaling.CloseIdle, "idle timeout")
			return signaling.ReasonIdle, false
		case msg := <-msgs:
			idle.Reset(s.cfg.SignalIdleTimeout)
			if !limit.Allow() {
				strikes++
				sc.sendError("", signaling.CodeRateLimited, "slow down")
				if strikes > 3*s.cfg.SignalRateBurst {
					sc.close(signaling.CloseRateLimited, "rate limited")
					return signaling.ReasonDisconnected, false
				}
				continue
			}
			refreshed := func(exp time.Time) {
				expiry.Reset(clock.Until(exp))
				sc.pushICEServers(ctx) // bound to the new token
				armICE()
			}
			if sc.handle(ctx, msg, refreshed) {
				return signaling.ReasonLeft, false
			}
		}
	}
}

// handle acts on one client message; it reports whether the client said goodbye.
// extend moves the token expiry after a refresh.
func (sc *signalConn) handle(ctx context.Context, msg []byte, extend func(time.Time)) (left bool) {
	var env signaling.Envelope
	if err := signaling.DecodeStrict(msg, &env); err != nil {
		sc.sendError("", signaling.CodeBadMessage, "message is not a valid signaling envelope")
		return false
	}
	if env.V != signaling.Version {
		sc.sendError(env.ID, signaling.CodeUnsupportedVersion, "this server speaks version 1")
		return false
	}
	switch env.Type {
	case signaling.TypePing:
		sc.send(signaling.TypePong, env.ID, nil)
	case signaling.TypeResumeAck:
		sc.s.confirmResume(ctx, sc, sc.sockGen)
	case signaling.TypeMute:
		var m signaling.Mute
		if err := signaling.DecodeStrict(env.Data, &m); err != nil {
			sc.sendError(env.ID, signaling.CodeBadMessage, "mute needs audio_muted and video_muted")
			return false
		}
		if _, err := sc.s.presence.Update(sc.claims.Room, sc.me.ID, m.AudioMuted, m.VideoMuted); err != nil {
			sc.sendError(env.ID, signaling.CodeForbidden, "not in the room")
			return false
		}
		sc.ack(env.ID)
	case signaling.TypeRefresh:
		sc.refresh(env.ID, env.Data, extend)
	case signaling.TypeMedia:
		sc.handleMedia(env.ID, env.Data)
	case signaling.TypeLeave:
		sc.send(signaling.TypeBye, env.ID, signaling.Bye{Reason: signaling.ReasonLeft})
		sc.close(websocket.StatusNormalClosure, "bye")
		return true
	default:
		if sc.s.rooms == nil {
			sc.sendError(env.ID, signaling.CodeUnknownType, "unknown message type")
			return false
		}
		if err := sc.s.rooms.Handle(ctx, sc.member(), env.Type, env.Data); err != nil {
			sc.sendDomainError(env.ID, err)
			return false
		}
		if env.ID != "" {
			sc.ack(env.ID)
		}
	}
	return false
}

// signalConns tracks the live signaling connections of a server.
type signalConns struct {
	mu       sync.Mutex
	wg       sync.WaitGroup
	live     map[*websocket.Conn]struct{}
	closed   bool
	stopping chan struct{} // closed by closeAll: sessions waiting for a resume end
}

func (c *signalConns) shutdown() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping == nil {
		c.stopping = make(chan struct{})
	}
	return c.stopping
}

func (c *signalConns) add(ws *websocket.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if c.live == nil {
		c.live = map[*websocket.Conn]struct{}{}
	}
	c.live[ws] = struct{}{}
	c.wg.Add(1)
	return true
}

func (c *signalConns) done(ws *websocket.Conn) {
	c.mu.Lock()
	delete(c.live, ws)
	c.mu.Unlock()
	c.wg.Done()
}

// EndSessions ends every signaling connection and session and waits for them: what Serve
// does on shutdown, for a server run without Serve (behind httptest, say).
func (s *Server) EndSessions() { s.conns.closeAll() }

func (c *signalConns) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// closeAll ends every live connection (going away: the client reconnects) and waits
// for their handlers to return.
func (c *signalConns) closeAll() {
	c.mu.Lock()
	if c.stopping == nil {
		c.stopping = make(chan struct{})
	}
	if !c.closed {
		close(c.stopping)
	}
	c.closed = true
	live := make([]*websocket.Conn, 0, len(c.live))
	for ws := range c.live {
		live = append(live, ws)
	}
	c.mu.Unlock()
	for _, ws := range live {
		_ = ws.CloseNow()
	}
	c.wg.Wait()
}
