package server

import (
	"context"
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/server/signaling"
)

// seat puts the participant in its room: presence (and the ready message), the
// Delivery Service, and the SFU. It returns the function that takes it out again, to
// run however the connection ends, and whether the connection may go on: a participant
// the Delivery Service would not seat gets no media session either.
// moved: the session was adopted from another node, and resumed answers instead of ready.
func (sc *signalConn) seat(ctx context.Context, secret []byte, moved bool) (leave func(reason string), ok bool) {
	s := sc.s
	room := sc.claims.Room
	var undo []func(reason *string)
	leave = func(reason string) {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i](&reason)
		}
	}

	// ready (or resumed) goes out before any room event can: the roster it carries is
	// then never older than what follows it.
	typ, r := signaling.TypeReady, sc.ready(ctx, nil, secret)
	if moved {
		typ, r.Moved = signaling.TypeResumed, true
	}
	s.presence.JoinFirst(room, sc.me, sc.deliver, func(roster []signaling.Participant) {
		r.Participants = roster
		sc.send(typ, "", r)
	})
	undo = append(undo, func(reason *string) {
		r := *reason
		if r == reasonMoved {
			r = signaling.ReasonDisconnected // as the others here see it: they move too
		}
		s.presence.Leave(room, sc.me.ID, r)
	})

	if s.rooms != nil {
		// Leave runs on every way out, with a context that outlives the request's.
		undo = append(undo, func(reason *string) {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if *reason == reasonMoved {
				s.rooms.Forget(lctx, sc.member()) // the seat moves with the session to the room's new node
				return
			}
			s.rooms.Leave(lctx, sc.member(), *reason)
		})
		if err := s.rooms.Join(ctx, sc.member(), sc); err != nil {
			sc.sendDomainError("", err)
			// A barred subject is sent away like the kick that barred it, so a client
			// shows the removal and does not retry as it would after a server fault.
			var ke *keyservice.Error
			if errors.As(err, &ke) && ke.Code == signaling.CodeBarred {
				sc.bye(signaling.ReasonRemoved, signaling.CloseRemoved, "removed by a host")
			} else {
				sc.close(websocket.StatusInternalError, "could not join the room's group")
			}
			return leave, false
		}
	}
	// A host's removal wins over however the connection ends (the client may close its
	// socket at the same moment); this runs before the Leave calls above.
	undo = append(undo, func(reason *string) {
		if by := sc.removedBy.Load(); by != nil {
			*reason = signaling.ReasonRemoved
			sc.revokeRemoved(ctx, *by)
		}
	})

	if s.media != nil {
		p, err := sc.joinMedia(ctx)
		if err != nil {
			s.log.Error("signaling: media join", "request_id", sc.requestID, "err", err)
			sc.sendError("", signaling.CodeMediaClosed, "could not start the media session")
		} else {
			sc.media = p
			undo = append(undo, func(*string) { _ = p.Close() })
		}
	}
	return leave, true
}

// ready is the answer to auth (and to a resume): the roster, the token's expiry, the
// session's resume secret and, with the embedded TURN relay, credentials bound to the token.
func (sc *signalConn) ready(ctx context.Context, roster []signaling.Participant, secret []byte) signaling.Ready {
	return signaling.Ready{Version: signaling.Version, Participant: sc.me, Participants: roster, ExpiresAt: sc.claims.ExpiresAt.Time,
		Resume: secret, ICEServers: sc.iceServers(ctx), SessionGrace: sc.s.cfg.SessionGrace.Milliseconds()}
}

// iceServers mints TURN credentials bound to the connection's current token, if the
// server runs the embedded relay, and sets when the next ones are due (iceRefresh).
func (sc *signalConn) iceServers(ctx context.Context) []signaling.ICEServer {
	s := sc.s
	sc.iceRefresh = 0
	if s.turn == nil || len(s.turnURLs) == 0 {
		return nil
	}
	cr, err := s.turn.Credentials(turnGrant(sc.claims))
	if err != nil {
		s.log.WarnContext(ctx, "signaling: no TURN credentials", "request_id", sc.requestID, "err", err)
		return nil
	}
	sc.iceRefresh = iceRefreshAfter(s.turn.TTL())
	return []signaling.ICEServer{{URLs: s.turnURLs, Username: cr.Username, Credential: cr.Password, Expires: cr.Expires}}
}

// iceRefreshAfter is when, after minting, fresh TURN credentials are pushed: with a
// quarter of their life left (2.5 min of the default 10), time enough for an ICE restart
// to allocate a new relay before the old one closes at expiry (media/turn closeDead).
func iceRefreshAfter(ttl time.Duration) time.Duration { return ttl - ttl/4 }

// pushICEServers sends fresh TURN credentials (ice_servers).
func (sc *signalConn) pushICEServers(ctx context.Context) {
	if ice := sc.iceServers(ctx); len(ice) > 0 {
		sc.send(signaling.TypeICEServers, "", signaling.ICEServers{ICEServers: ice})
	}
}

func (sc *signalConn) member() keyservice.Member {
	return keyservice.Member{
		ConnID: sc.me.ID, Subject: sc.claims.Subject, Name: sc.claims.Name, Room: sc.claims.Room,
		Role: string(sc.claims.Role), CanPublish: sc.claims.CanPublish, CanSubscribe: sc.claims.CanSubscribe,
		ExpiresAt: sc.claims.ExpiresAt.Time, RequestID: sc.requestID, RemoteIP: sc.remoteIP,
	}
}

// deliver turns a room event into a message for this connection. It runs on the
// goroutine of whoever caused the event and must not block.
func (sc *signalConn) deliver(ev keyservice.Event) {
	switch ev.Kind {
	case keyservice.EventJoined:
		sc.send(signaling.TypeJoined, "", ev.Participant)
	case keyservice.EventUpdated:
		sc.send(signaling.TypeUpdated, "", ev.Participant)
	case keyservice.EventLeft:
		if ev.Participant.ID == sc.me.ID && ev.Reason == signaling.ReasonReplaced {
			sc.bye(signaling.ReasonReplaced, signaling.CloseReplaced, "replaced by a newer connection")
			return
		}
		sc.send(signaling.TypeLeft, "", signaling.Left{Participant: ev.Participant, Reason: ev.Reason})
	}
}

// Send lets the Delivery Service write to this connection (keyservice.Conn).
func (sc *signalConn) Send(typ string, data any) { sc.send(typ, "", data) }

// Removed ends the connection of a participant a host removed (keyservice.Conn): the
// Delivery Service has proposed the Remove already, and a removed participant must not
// stay in the roster or keep receiving media. It runs on the fan-out's goroutine and
// must not block, so the connection's own loop revokes the token (so that reloading
// the invite link does not bring the participant back) and then closes.
func (sc *signalConn) Removed(by string) {
	if by == "" {
		by = "service:signaling"
	}
	sc.removedOnce.Do(func() {
		sc.removedBy.Store(&by)
		close(sc.removed)
	})
}

// revokeRemoved revokes the token of a removed participant, once; the host can invite
// them again with a new token. It runs on the connection's goroutine, after the Remove
// was proposed.
func (sc *signalConn) revokeRemoved(ctx context.Context, by string) {
	sc.revokeOnce.Do(func() { sc.revokeToken(ctx, by) })
}

func (sc *signalConn) revokeToken(ctx context.Context, by string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := sc.s.audit.Record(ctx, audit.Event{
		Actor: by, ActorRole: "host", Action: audit.ActionTokenRevoked, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: audit.TargetToken, ID: sc.claims.ID}, Room: sc.claims.Room, RequestID: sc.requestID,
		Details: map[string]string{"sub": sc.claims.Subject, "reason": signaling.ReasonRemoved},
	})
	if err == nil {
		err = sc.s.revoked.RevokeToken(ctx, sc.claims.ID, sc.claims.Subject, by)
	}
	if err != nil {
		sc.s.log.Error("signaling: revoke a removed participant's token", "request_id", sc.requestID, "err", err)
	}
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
