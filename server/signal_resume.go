package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/cluster"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/signaling"
)

// A session outlives its socket: when a participant's signaling connection drops (not
// closed by either side on purpose), the session keeps its seat, MLS leaf, SFU
// participant and outbound queue for SessionGrace, marks the participant reconnecting,
// and a new connection that proves it holds the session (the resume secret of the last
// ready or resumed, with a token for the same subject and room) takes it over: the
// messages queued meanwhile follow in order, nothing in the group changes. A resume lands
// on the process that holds the session; elsewhere, or after the grace, it is refused and
// the client joins anew.

var (
	errNoSession    = errors.New("server: no such session here")
	errSessionEnded = errors.New("server: the session ended as the resume was handed to it")
	errReplaced     = errors.New("server: the session is gone and a newer connection of the same participant holds the seat")
	errNotYours     = errors.New("server: the session belongs to another subject or room")
	errStaleSecret  = errors.New("server: the resume secret is not the session's current one")
	// errEndedProven: the session's record (another node's, in a cluster) says it ended,
	// and the resume proves it was its client.
	errEndedProven = errors.New("server: the session ended")
)

// attachment hands a resuming socket to its session; released closes when the session
// no longer uses it, so the handler that accepted it can return.
type attachment struct {
	ws       *websocket.Conn
	claims   *auth.Claims
	secret   []byte // the session's new resume secret, for the resumed message
	gen      uint64 // the claim that made it (signalConn.claimGen)
	lastSeq  uint64 // the last message the client says it received
	released chan struct{}
	// taken says whether the session took it (buffered): a session that ended as it came
	// does not.
	taken chan bool
}

// sessions are this process's live signaling sessions, by participant id.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*signalConn
	// ended are sessions that ended here, by participant id (endedSession); endedOrder
	// their ids, oldest first.
	ended      map[string]endedSession
	endedOrder []string
}

func (ss *sessions) add(sc *signalConn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.byID == nil {
		ss.byID = map[string]*signalConn{}
	}
	ss.byID[sc.me.ID] = sc
}

// holds reports whether the session is here and not ending.
func (ss *sessions) holds(id string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sc := ss.byID[id]
	if sc == nil {
		return false
	}
	select {
	case <-sc.done:
		return false
	default:
		return true
	}
}

// remove forgets a session that ended, but for what its own client may need to be told
// (remember). done is closed.
func (ss *sessions) remove(sc *signalConn, now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.byID[sc.me.ID] == sc {
		delete(ss.byID, sc.me.ID)
	}
	ss.remember(sc, now)
}

// endedSession is what a session that ended leaves behind: enough to tell its own client,
// and only it, that the seat went on elsewhere (Server.replacedElsewhere).
type endedSession struct {
	subject, room        string
	secretHash, prevHash [32]byte
	prevUntil, forgetAt  time.Time
}

// An ended session is remembered for endedFor (longer than a visit), and only the last
// maxEnded of them: churn must not grow the server's memory without bound. Past either, a
// stale tab is told to join anew (4412), as before there was this memory.
const (
	endedFor = cluster.EndedSessionKept // the same in a cluster's records
	maxEnded = 16384
)

// endedOf is what to remember of sc once its done is closed. It reads no claims (a refresh
// may still write them); under ss.mu (secretHash, prevHash and prevUntil).
func endedOf(sc *signalConn, now time.Time) endedSession {
	return endedSession{subject: sc.me.Subject, room: sc.room, secretHash: sc.secretHash, prevHash: sc.prevHash,
		prevUntil: sc.prevUntil, forgetAt: now.Add(endedFor)}
}

// proves reports whether a resume (its token's claims, the hash of its secret) is the
// client of the ended session e.
func (e endedSession) proves(c *auth.Claims, sum [32]byte, now time.Time) bool {
	return e.subject == c.Subject && e.room == c.Room && now.Before(e.forgetAt) && resumesWith(sum, e.secretHash, e.prevHash, e.prevUntil, now)
}

// resumesWith reports, in constant time, whether sum is the hash of a session's current
// resume secret, or of the one its last resume presented while that still counts (before
// prevUntil).
func resumesWith(sum, current, prev [32]byte, prevUntil, now time.Time) bool {
	isCurrent := subtle.ConstantTimeCompare(sum[:], current[:]) == 1
	isPrev := subtle.ConstantTimeCompare(sum[:], prev[:]) == 1 && now.Before(prevUntil)
	return isCurrent || isPrev
}

// remember keeps what sc, which ended, leaves behind (endedSession); when maxEnded are
// kept, the oldest goes. Under ss.mu.
func (ss *sessions) remember(sc *signalConn, now time.Time) {
	if ss.ended == nil {
		ss.ended = map[string]endedSession{}
	}
	if _, again := ss.ended[sc.me.ID]; again {
		// A session that moved away and back ends here a second time: its record is
		// renewed, its place in the order kept.
		ss.ended[sc.me.ID] = endedOf(sc, now)
		return
	}
	if len(ss.endedOrder) >= maxEnded {
		delete(ss.ended, ss.endedOrder[0])
		ss.endedOrder = ss.endedOrder[1:]
	}
	ss.ended[sc.me.ID] = endedOf(sc, now)
	ss.endedOrder = append(ss.endedOrder, sc.me.ID)
}

// endedProven reports whether the resume names a session that ended here (or is ending)
// and proves it is that session's client: its subject and room, the secret it held.
func (ss *sessions) endedProven(ra *signaling.ResumeAuth, c *auth.Claims, now time.Time) bool {
	sum := sha256.Sum256(ra.Secret)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if sc := ss.byID[ra.Session]; sc != nil {
		select {
		case <-sc.done:
			return endedOf(sc, now).proves(c, sum, now)
		default:
			return false
		}
	}
	e, ok := ss.ended[ra.Session]
	return ok && e.proves(c, sum, now)
}

// replacedElsewhere reports whether a resume the sessions refused as not here
// (errNoSession) is from a session that ended here while its person went on in another
// tab or on another device: it proves it was that session's client (endedProven), and a
// connection of the same subject that is up (not itself reconnecting) holds the seat now.
// Told so (4409), the old tab does not join anew, which would take the seat back from the
// one in use; with nobody up in that seat, it is told to join anew (4412).
func (s *Server) replacedElsewhere(ra *signaling.ResumeAuth, c *auth.Claims) bool {
	return s.sessions.endedProven(ra, c, s.cfg.Clock.Now()) && s.seatHeldUp(ra, c)
}

// seatHeldUp reports whether a connection of c's subject other than the session ra names,
// and up (not itself reconnecting), is in the room as this node's presence has it.
func (s *Server) seatHeldUp(ra *signaling.ResumeAuth, c *auth.Claims) bool {
	if s.presence == nil {
		return false
	}
	for _, p := range s.presence.Roster(c.Room) {
		if p.Subject == c.Subject && p.ID != ra.Session && !p.Reconnecting {
			return true
		}
	}
	return false
}

// claim checks a resume against the session it names and, when it may go ahead, rotates
// the session's secret and returns the new one. The secret presented stays valid until
// the client acknowledges the new one (resume_ack, confirm), for grace at the most: a
// socket that dies after the claim but before resumed reached the client leaves the
// client with only the secret it presented, and refusing it then would end a session the
// client still holds. A replay of a resume fails once the client acknowledged (a round
// trip after resumed) or the grace passed. It also returns the hash of the secret
// presented, for the session's record, and the claim's generation (attachment.gen).
func (ss *sessions) claim(ra *signaling.ResumeAuth, c *auth.Claims, now time.Time, grace time.Duration) (*signalConn, []byte, *[32]byte, uint64, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sc := ss.byID[ra.Session]
	if sc == nil {
		return nil, nil, nil, 0, errNoSession
	}
	select {
	case <-sc.done:
		return nil, nil, nil, 0, errNoSession // ending (a leave, a removal, the grace, a newer connection): nothing to resume
	default:
	}
	if sc.claims.Subject != c.Subject || sc.claims.Room != c.Room || sc.claims.Role != c.Role {
		return nil, nil, nil, 0, errNotYours
	}
	sum := sha256.Sum256(ra.Secret)
	if !resumesWith(sum, sc.secretHash, sc.prevHash, sc.prevUntil, now) {
		return nil, nil, nil, 0, errStaleSecret
	}
	if !sc.detached.Load() {
		// The old socket is still up as far as this server knows (a cut the TCP stack has
		// not noticed yet): the holder of the secret takes the session over, and the old
		// socket is dropped so that the session detaches and takes the new one.
		if old := sc.sock.Load(); old != nil {
			_ = old.CloseNow()
		}
	}
	secret := newResumeSecret()
	sc.secretHash = sha256.Sum256(secret)
	sc.prevHash, sc.prevUntil = sum, now.Add(grace)
	sc.claimGen++
	return sc, secret, &sum, sc.claimGen, nil
}

// prev is the hash of the secret the last resume presented while the client has not
// acknowledged the new one; nil otherwise. Under sessions.mu, or before sessions.add.
func (sc *signalConn) prev() *[32]byte {
	if sc.prevUntil.IsZero() {
		return nil
	}
	p := sc.prevHash
	return &p
}

// confirm forgets the previous secret of sc once its client holds the new one: on an
// acknowledgement from the socket of the latest claim (gen) only, since one read from a
// socket a later resume took over acknowledges a secret that is no longer the newest.
// It returns the current secret's hash, and whether there was a previous one to forget.
func (ss *sessions) confirm(sc *signalConn, gen uint64) ([32]byte, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if gen != sc.claimGen || sc.prevUntil.IsZero() {
		return sc.secretHash, false
	}
	sc.prevHash, sc.prevUntil = [32]byte{}, time.Time{}
	return sc.secretHash, true
}

// confirmResume takes a client's resume_ack on the socket of claim gen: the secret its
// resume presented is spent, here and in the session's record.
func (s *Server) confirmResume(ctx context.Context, sc *signalConn, gen uint64) {
	current, had := s.sessions.confirm(sc, gen)
	if !had || s.store == nil {
		return
	}
	if err := s.store.confirm(ctx, sc.me.ID, current); err != nil {
		s.log.ErrorContext(ctx, "cluster: session record keeps the previous resume secret until the grace passes", "request_id", sc.requestID, "err", err)
	}
}

func newResumeSecret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

// resume hands a freshly authenticated socket to the session it asks for, or refuses
// with CloseNoResume (audited either way). The handler holds the socket's request until
// the session lets go of it.
// placedHere: the cluster placed the room on this node as the request came in (route);
// otherwise the session was held here then, and its room may have moved since.
func (s *Server) resume(ctx context.Context, ws *websocket.Conn, claims *auth.Claims, ra *signaling.ResumeAuth, placedHere bool, c echo.Context) {
	sc, secret, presented, gen, err := s.sessions.claim(ra, claims, s.cfg.Clock.Now(), s.cfg.SessionGrace)
	if errors.Is(err, errNoSession) && s.replacedElsewhere(ra, claims) {
		err = errReplaced
	}
	if errors.Is(err, errNoSession) && s.store != nil {
		// Not here: adopt it only if its room lives here now. Draining, or the room placed
		// elsewhere meanwhile (the session here just handed off): the client tries again
		// and is sent to the room's node.
		if s.cluster.Draining() || !placedHere && !s.placedHere(ctx, claims.Room) {
			_ = ws.CloseNow()
			return
		}
		s.adopt(ctx, ws, claims, ra, c) // the room moved here from another node
		return
	}
	ev := audit.Event{Actor: claims.Subject, ActorRole: string(claims.Role), Action: audit.ActionSessionResumed,
		Target: audit.Target{Kind: audit.TargetRoom, ID: claims.Room}, Room: claims.Room, Outcome: audit.OutcomeSuccess,
		RequestID: requestID(c), Details: map[string]string{"session": ra.Session},
		Personal: audit.Personal{SourceIP: c.RealIP(), UserAgent: c.Request().UserAgent()}}
	if err != nil {
		ev.Outcome, ev.Details["reason"] = audit.OutcomeDenied, resumeRefusal(err)
	}
	if aerr := s.audit.Record(ctx, ev); aerr != nil && err == nil {
		// A resume that cannot be audited does not happen (the action fails closed).
		s.log.ErrorContext(ctx, "signaling: audit resume", "request_id", requestID(c), "err", aerr)
		err = aerr
	}
	if err != nil {
		s.log.WarnContext(ctx, "signaling: resume refused", "request_id", requestID(c), "session", ra.Session, "reason", resumeRefusal(err))
		closeRefused(ws, err)
		return
	}
	s.log.InfoContext(ctx, "signaling: session resumed", "request_id", requestID(c), "session", ra.Session, "last_seq", ra.LastSeq)
	if s.store != nil {
		if err := s.store.put(ctx, sc.me, claims, sha256.Sum256(secret), presented); err != nil {
			s.log.WarnContext(ctx, "cluster: session record not updated; it cannot move to another node", "request_id", requestID(c), "err", err)
		}
	}
	a := attachment{ws: ws, claims: claims, secret: secret, gen: gen, lastSeq: ra.LastSeq, released: make(chan struct{}), taken: make(chan bool, 1)}
	taken := false
	select {
	case sc.attach <- a:
		taken = <-a.taken
	case <-sc.done:
	}
	if !taken {
		// The session ended between the check and the hand-over: the trail says so. A newer
		// connection of the same participant may be why: its ready goes out before the
		// session it replaces hears of it.
		err := errSessionEnded
		if s.replacedElsewhere(ra, claims) {
			err = errReplaced
		}
		ev.Outcome, ev.Details["reason"] = audit.OutcomeDenied, resumeRefusal(err)
		if aerr := s.audit.Record(ctx, ev); aerr != nil {
			s.log.ErrorContext(ctx, "signaling: audit resume", "request_id", requestID(c), "err", aerr)
		}
		closeRefused(ws, err)
		return
	}
	<-a.released
}

// closeRefused ends the socket of a refused resume: 4409 when the seat went on elsewhere
// (errReplaced), else 4412 (join anew).
func closeRefused(ws *websocket.Conn, err error) {
	if errors.Is(err, errReplaced) {
		_ = ws.Close(signaling.CloseReplaced, "replaced by a newer connection")
		return
	}
	_ = ws.Close(signaling.CloseNoResume, "resume refused: join anew")
}

func resumeRefusal(err error) string {
	switch {
	case errors.Is(err, errNoSession):
		return "no_session"
	case errors.Is(err, errNotYours):
		return "not_yours"
	case errors.Is(err, errStaleSecret):
		return "stale_secret"
	case errors.Is(err, errReplaced):
		return "replaced"
	case errors.Is(err, errSessionEnded):
		return "session_ended"
	}
	return "internal"
}
