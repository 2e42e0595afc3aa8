package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/cluster"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/signaling"
)

// In a cluster (package cluster) a room lives on one node. Any node accepts a signaling
// connection; once its auth message names the room, a node that does not hold the room
// forwards the connection to the one that does (placing the room first if it has no live
// node), so a participant's signaling, Delivery Service and SFU session all live on the
// room's node and its media goes there. A session whose node died or drained is taken
// over (adopted) by the room's new node from its record in signal_sessions.

// forwardedHeader marks a connection one node forwarded to another: it is never
// forwarded again (placement changing under it is refused as retryable instead).
const forwardedHeader = "X-Sealroom-Forwarded-By"

// reasonMoved ends a session that moves to another node: it keeps its seat in the
// Delivery Service and its record, for the room's new node to adopt.
const reasonMoved = "moved"

// route sends the connection to the room's node when that is another one. It reports
// whether it took the connection (forwarded or refused); false: serve it here.
func (s *Server) route(ctx context.Context, ws *websocket.Conn, claims *auth.Claims, first []byte, c echo.Context) bool {
	if s.cluster == nil {
		return false
	}
	owner, err := s.cluster.Place(ctx, claims.Room)
	if err != nil {
		s.log.WarnContext(ctx, "cluster: place room", "request_id", requestID(c), "err", err)
		s.unavailable(ctx, ws, "no node can take the room now; retry shortly")
		return true
	}
	if owner.ID == s.cluster.ID() {
		return false
	}
	if c.Request().Header.Get(forwardedHeader) != "" || !owner.Live {
		s.unavailable(ctx, ws, "the room is moving between nodes; retry shortly")
		return true
	}
	s.forward(ctx, ws, owner, first, c)
	return true
}

// placedHere reports whether the cluster has room on this node now.
func (s *Server) placedHere(ctx context.Context, room string) bool {
	owner, err := s.cluster.Place(ctx, room)
	return err == nil && owner.ID == s.cluster.ID()
}

// unavailable refuses a connection the cluster cannot serve right now, in words a client
// can act on: retry.
func (s *Server) unavailable(ctx context.Context, ws *websocket.Conn, msg string) {
	_ = writeNow(ctx, ws, signaling.TypeError, "", signaling.Error{Code: signaling.CodeUnavailable, Message: msg})
	_ = ws.Close(websocket.StatusTryAgainLater, "unavailable")
}

// forward relays the connection to the room's node: the auth message as it came, then
// every frame both ways until either side ends; a close from the room's node reaches the
// client with its code. When the room's node cannot be reached or dies, the client's
// socket is dropped without a close, as a lost network would: the client resumes, and
// by then the room has a live node again.
func (s *Server) forward(ctx context.Context, ws *websocket.Conn, owner cluster.Node, first []byte, c echo.Context) {
	u := strings.Replace(strings.TrimRight(owner.APIURL, "/"), "http", "ws", 1) + "/v1/signal"
	h := http.Header{}
	h.Set(forwardedHeader, s.cluster.ID())
	h.Set("X-Forwarded-For", c.RealIP())
	h.Set(echo.HeaderXRequestID, requestID(c))
	if o := c.Request().Header.Get("Origin"); o != "" {
		h.Set("Origin", o)
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	up, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPHeader: h, Host: c.Request().Host})
	cancel()
	if err != nil {
		s.log.WarnContext(ctx, "cluster: the room's node did not answer", "request_id", requestID(c), "node", owner.ID, "err", err)
		_ = ws.CloseNow()
		return
	}
	up.SetReadLimit(s.cfg.SignalMaxMessage)
	if err := up.Write(ctx, websocket.MessageText, first); err != nil {
		_ = up.CloseNow()
		_ = ws.CloseNow()
		return
	}
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan struct{}, 2)
	go func() { pipe(pctx, up, ws); done <- struct{}{} }()
	go func() { pipe(pctx, ws, up); done <- struct{}{} }()
	select {
	case <-done:
	case <-s.conns.shutdown():
		_ = up.CloseNow()
		_ = ws.CloseNow()
	}
	stop()
	<-done
}

// pipe copies frames from src to dst. A close frame from src closes dst with the same
// code and reason; anything else (a dead peer) drops dst without one.
func pipe(ctx context.Context, dst, src *websocket.Conn) {
	for {
		typ, b, err := src.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				_ = dst.Close(ce.Code, ce.Reason)
			} else {
				_ = dst.CloseNow()
			}
			return
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = dst.Write(wctx, typ, b)
		cancel()
		if err != nil {
			_ = src.CloseNow()
			return
		}
	}
}

// sessionRecord is what another node needs to adopt a session (signal_sessions).
type sessionRecord struct {
	me         signaling.Participant
	room, node string
	secretHash []byte
	prevHash   []byte // the secret the last resume presented, until the client acknowledged the new one
}

// sessionStore keeps this node's sessions in signal_sessions, so that another node can
// adopt them; nil outside a cluster. A previous secret (prev_secret_hash) is good for
// grace after the record was last written, as on the node that wrote it.
type sessionStore struct {
	pool  *pgxpool.Pool
	node  string
	grace time.Duration
}

// put records the session under the hash of its current secret and, until the client
// acknowledged that one, of the secret its last resume presented (prev; nil: none).
func (st *sessionStore) put(ctx context.Context, me signaling.Participant, c *auth.Claims, hash [32]byte, prev *[32]byte) error {
	var p []byte
	if prev != nil {
		p = prev[:]
	}
	_, err := st.pool.Exec(ctx, `INSERT INTO signal_sessions (id, room, subject, role, name, node_id, secret_hash, prev_secret_hash, joined_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET node_id = EXCLUDED.node_id, secret_hash = EXCLUDED.secret_hash,
			prev_secret_hash = EXCLUDED.prev_secret_hash, updated_at = now()
		WHERE signal_sessions.ended_at IS NULL`,
		me.ID, c.Room, c.Subject, string(c.Role), me.Name, st.node, hash[:], p, me.JoinedAt)
	return err
}

// confirm forgets the previous secret's hash of a session of this node (resume_ack),
// if its record still holds the current one.
func (st *sessionStore) confirm(ctx context.Context, id string, current [32]byte) error {
	_, err := st.pool.Exec(ctx, `UPDATE signal_sessions SET prev_secret_hash = NULL, updated_at = now()
		WHERE id = $1 AND node_id = $2 AND secret_hash = $3`, id, st.node, current[:])
	return err
}

// end marks a session of this node ended. Its record stays, without the display name,
// for endedFor (the cluster's sweep deletes it then): a stale tab's resume may reach
// another node, once the room moved, and must be told there too that its seat went on
// elsewhere (Server.replacedElsewhere). updated_at is left as it was: the previous
// secret counts for grace after the last write, as for a live record.
func (st *sessionStore) end(ctx context.Context, id string) error {
	_, err := st.pool.Exec(ctx, `UPDATE signal_sessions SET ended_at = now(), name = ''
		WHERE id = $1 AND node_id = $2 AND ended_at IS NULL`, id, st.node)
	return err
}

// drop forgets a session record at once (one that nobody holds the secret of).
func (st *sessionStore) drop(ctx context.Context, id string) error {
	_, err := st.pool.Exec(ctx, `DELETE FROM signal_sessions WHERE id = $1 AND node_id = $2`, id, st.node)
	return err
}

// take checks a resume against the recorded session (its current secret, or the one
// its last resume presented while the client has not acknowledged the new one: see
// sessions.claim) and moves the record to this node under a new secret hash, the
// presented one kept as the previous, in one compare-and-set so that two nodes cannot
// both take it. It returns the record and the presented secret's hash. A session that
// ended is not taken: errEndedProven when the resume proves it was its client, so that
// the caller can tell it whether its seat went on elsewhere.
func (st *sessionStore) take(ctx context.Context, ra *signaling.ResumeAuth, c *auth.Claims, newHash [32]byte) (*sessionRecord, [32]byte, error) {
	rec := &sessionRecord{}
	sum := sha256.Sum256(ra.Secret)
	var prevFresh, ended bool
	err := st.pool.QueryRow(ctx, `SELECT subject, name, role, room, node_id, secret_hash, prev_secret_hash,
		updated_at > now() - make_interval(secs => $2), joined_at, ended_at IS NOT NULL
		FROM signal_sessions WHERE id = $1 AND (ended_at IS NULL OR ended_at > now() - make_interval(secs => $3))`,
		ra.Session, st.grace.Seconds(), endedFor.Seconds()).
		Scan(&rec.me.Subject, &rec.me.Name, &rec.me.Role, &rec.room, &rec.node, &rec.secretHash, &rec.prevHash, &prevFresh, &rec.me.JoinedAt, &ended)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, sum, errNoSession
	}
	if err != nil {
		return nil, sum, err
	}
	if rec.me.Subject != c.Subject || rec.room != c.Room || rec.me.Role != string(c.Role) {
		return nil, sum, errNotYours
	}
	current := subtle.ConstantTimeCompare(sum[:], rec.secretHash) == 1
	previous := prevFresh && len(rec.prevHash) == len(sum) && subtle.ConstantTimeCompare(sum[:], rec.prevHash) == 1
	if !current && !previous {
		return nil, sum, errStaleSecret
	}
	if ended {
		return nil, sum, errEndedProven
	}
	// Both hashes as read: a resume_ack confirmed on the holding node in between
	// (prev_secret_hash NULL) makes a take with the previous secret fail.
	tag, err := st.pool.Exec(ctx, `UPDATE signal_sessions SET node_id = $2, secret_hash = $3, prev_secret_hash = $5, updated_at = now()
		WHERE id = $1 AND secret_hash = $4 AND prev_secret_hash IS NOT DISTINCT FROM $6`, ra.Session, st.node, newHash[:], rec.secretHash, sum[:], rec.prevHash)
	if err != nil {
		return nil, sum, err
	}
	if tag.RowsAffected() != 1 {
		return nil, sum, errStaleSecret // another resume took it first
	}
	rec.me.ID = ra.Session
	return rec, sum, nil
}

// adopt takes over a session this node does not hold: the room moved here (its node
// died or drained). The participant keeps its id, seat and MLS leaf; its media session
// is new (resumed says moved), and the numbering continues from what the client has.
func (s *Server) adopt(ctx context.Context, ws *websocket.Conn, claims *auth.Claims, ra *signaling.ResumeAuth, c echo.Context) {
	secret := newResumeSecret()
	rec, presented, err := s.store.take(ctx, ra, claims, sha256.Sum256(secret))
	if errors.Is(err, errEndedProven) {
		// Ended on a node the room has left since (it died or drained): this node has no
		// memory of it, the record does. Same answer as there (replacedElsewhere).
		err = errNoSession
		if s.seatHeldUp(ra, claims) {
			err = errReplaced
		}
	}
	ev := audit.Event{Actor: claims.Subject, ActorRole: string(claims.Role), Action: audit.ActionSessionResumed,
		Target: audit.Target{Kind: audit.TargetRoom, ID: claims.Room}, Room: claims.Room, Outcome: audit.OutcomeSuccess,
		RequestID: requestID(c), Details: map[string]string{"session": ra.Session, "node": s.cluster.ID()},
		Personal: audit.Personal{SourceIP: c.RealIP(), UserAgent: c.Request().UserAgent()}}
	if err != nil {
		ev.Outcome, ev.Details["reason"] = audit.OutcomeDenied, resumeRefusal(err)
	} else {
		ev.Details["moved_from"] = rec.node
	}
	if aerr := s.audit.Record(ctx, ev); aerr != nil && err == nil {
		s.log.ErrorContext(ctx, "signaling: audit resume", "request_id", requestID(c), "err", aerr)
		err = aerr
		// Taken, but not to be served: nobody holds the new secret, so the record goes.
		if derr := s.store.drop(ctx, ra.Session); derr != nil {
			s.log.WarnContext(ctx, "cluster: session record not removed", "request_id", requestID(c), "err", derr)
		}
	}
	if err != nil {
		s.log.WarnContext(ctx, "cluster: session not taken over", "request_id", requestID(c), "session", ra.Session, "reason", resumeRefusal(err))
		closeRefused(ws, err)
		return
	}
	s.log.InfoContext(ctx, "cluster: session taken over", "request_id", requestID(c), "session", ra.Session, "from", rec.node, "last_seq", ra.LastSeq)
	rec.me.Name = claims.Name
	sc := s.newSignalConn(ws, claims, rec.me, c)
	sc.seq = ra.LastSeq
	// Until the client acknowledges the new secret, for the grace at the most.
	sc.prevHash, sc.prevUntil = presented, s.cfg.Clock.Now().Add(s.cfg.SessionGrace)
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	sc.run(sctx, secret)
}

// handoff ends the sessions of rooms that now live on another node, keeping their seats
// and records: their clients resume at once (CloseMoved) and the room's node adopts them.
func (s *Server) handoff(rooms []string) {
	in := map[string]bool{}
	for _, r := range rooms {
		in[r] = true
	}
	s.sessions.mu.Lock()
	var moving []*signalConn
	for _, sc := range s.sessions.byID {
		if in[sc.room] {
			moving = append(moving, sc)
		}
	}
	s.sessions.mu.Unlock()
	for _, sc := range moving {
		sc.close(signaling.CloseMoved, "the room moved to another node: resume")
	}
}

// localRooms are the rooms this node serves sessions in, and load how many sessions.
func (s *Server) localRooms() []string {
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, sc := range s.sessions.byID {
		if r := sc.room; !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) load() int {
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	return len(s.sessions.byID)
}

// ClusterHooks are what the cluster registry asks of this node: its load, its rooms, and
// to move the sessions of rooms placed elsewhere.
func (s *Server) ClusterHooks() (load func() int, rooms func() []string, lost func([]string)) {
	return s.load, s.localRooms, s.handoff
}
