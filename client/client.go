package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/signaling"
	"github.com/sealroom/sealroom/sframe"
)

// Config configures a Client.
type Config struct {
	// URL is the server's base URL (http:// or https://).
	URL   string
	Token string
	// KeyPackages is how many KeyPackages to keep uploaded (default 2).
	KeyPackages int
	// PingInterval is how often the client pings while connected, so the server's
	// idle logoff does not end a live participant (default 30 s; negative: never).
	PingInterval time.Duration
	// CommitBatch, when positive, makes this member, as the designated committer, wait
	// until no proposal has arrived for CommitBatch before it commits the pending
	// ones, so that a burst of joins lands in one commit (one epoch, one key switch
	// for everyone's media). The wait ends at the latest 2×CommitBatch after the
	// epoch's first proposal, because the server's deadline runs from there and a
	// steady stream of joins would otherwise postpone the commit for ever. An Update
	// is not delayed: it commits at once, with whatever is pending. Keep 2×CommitBatch
	// well below the server's commit timeout (keyservice Config.CommitTimeout, 3 s by
	// default): a committer that takes longer loses the duty to the next member.
	CommitBatch time.Duration
	// CommitWhen, when set, gates the designated committer instead of CommitBatch: it
	// commits the pending proposals only once CommitWhen(number pending in the epoch)
	// returns true, and asks again as each proposal arrives. Tests use it to admit an
	// expected burst of joins in one commit without betting on timing; keep the server's
	// commit timeout above the longest wait. Updates are not gated.
	CommitWhen func(pending int) bool
	// UpdateInterval is how often this member commits an update of its own leaf and
	// path, for post-compromise security (default 15 minutes of membership, with a
	// tenth of jitter; negative: never). A member that rejoins updates at once.
	UpdateInterval time.Duration
	// ResumeWithin is how long the client keeps trying to resume its session after the
	// signaling connection dropped (jittered backoff, 100 ms to 2 s between tries),
	// before it gives up and ends with ErrSessionLost (default: as long as the server
	// keeps the session, which ready announces, else 30 s; negative: never resume).
	ResumeWithin time.Duration
	// OnEpoch, if set, runs on the client's goroutine after every change of epoch (join
	// included), once the new SFrame keys are installed. It must not block; it may call
	// c's read methods (Epoch, EpochAuthenticator, Export).
	OnEpoch func(c *Client, epoch uint64)
	// OnCommit, if set, sees every commit this member applied or merged, with the epoch it
	// opened. It must not block.
	OnCommit func(epoch uint64, commit []byte)
	Log      *slog.Logger
}

// Chat is a received chat message: From is the identity in the credential of the MLS
// leaf that signed and encrypted Text; RelayedFrom is who the server said sent it, which
// an honest server makes the same.
type Chat struct {
	From        string
	RelayedFrom string
	Text        []byte
}

// Client is one participant. Its methods are safe for concurrent use.
type Client struct {
	cfg     Config
	ws      atomic.Pointer[websocket.Conn] // the socket now; a resume replaces it
	cs      *mls.CipherSuite
	subject string
	connID  string

	signPriv []byte
	keys     *sframe.MLSKeys
	chats    chan Chat
	reqs     chan func()
	in       chan signaling.Envelope
	done     chan struct{}
	loopDone chan struct{}
	readDone chan struct{}
	closeErr error
	once     sync.Once

	mu    sync.Mutex // guards group and the fields below, read by the API
	group *mls.Group
	state loopState

	nextID int
	waits  map[string]chan error // request id -> waiter

	media atomic.Pointer[Media] // the running media plane, if any (StartMedia)
	// joinEpoch is the epoch this member last joined the group at, plus one (0: never
	// joined): frames under earlier epochs were never for it (RFC 9420 §8).
	joinEpoch atomic.Uint64
	// iceServers are the TURN relays and credentials of the last ready (short-lived:
	// a media plane started later uses the latest).
	iceServers atomic.Pointer[[]signaling.ICEServer]
	// refusal is the last error the server sent outside any request (the Delivery
	// Service refusing to seat us, say): why the connection ends, if it does.
	refusal atomic.Pointer[ServerError]

	// The session outlives a dropped connection (docs/protocol.md, "Resume"): secret is
	// the resume secret of the last ready or resumed, up is closed while a socket serves
	// the session, resumes counts the times it came back.
	secret  atomic.Pointer[[]byte]
	lastSeq uint64 // of the last message received; the reader's own
	upMu    sync.Mutex
	up      chan struct{}
	resumes atomic.Int64
}

// Dial authenticates on the signaling WebSocket and starts the member: it uploads
// KeyPackages and creates or joins the room's group in the background. Use WaitJoined to
// wait for membership.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.KeyPackages <= 0 {
		cfg.KeyPackages = 2
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.UpdateInterval == 0 {
		cfg.UpdateInterval = 15 * time.Minute
	}
	graceFollows := cfg.ResumeWithin == 0
	if graceFollows {
		cfg.ResumeWithin = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cs, err := mls.CipherSuiteByID(mls.X25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		return nil, err
	}
	ws, _, err := websocket.Dial(ctx, signalURL(cfg.URL), nil)
	if err != nil {
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	c := &Client{cfg: cfg, cs: cs, chats: make(chan Chat, 256), reqs: make(chan func(), 64),
		in: make(chan signaling.Envelope, 4096), done: make(chan struct{}), loopDone: make(chan struct{}), readDone: make(chan struct{}), waits: map[string]chan error{},
		up: make(chan struct{})}
	c.ws.Store(ws)
	close(c.up)
	if err := c.write(ctx, signaling.TypeAuth, "", signaling.Auth{Token: cfg.Token}); err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	var ready signaling.Ready
	// Room events of others may overtake ready; they wait for the member's loop.
	var early []signaling.Envelope
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("client: auth: %w", err)
		}
		var env signaling.Envelope
		if err := json.Unmarshal(b, &env); err != nil || len(early) == cap(c.in) {
			_ = ws.CloseNow()
			return nil, fmt.Errorf("client: expected ready")
		}
		if env.Type == signaling.TypeError {
			// Refused before being seated: no node could take the room now
			// (unavailable: retry shortly), or the join itself was refused.
			var e signaling.Error
			_ = json.Unmarshal(env.Data, &e)
			_ = ws.CloseNow()
			return nil, &ServerError{Code: e.Code, Message: e.Message}
		}
		if env.Type != signaling.TypeReady {
			early = append(early, env)
			continue
		}
		if json.Unmarshal(env.Data, &ready) != nil {
			_ = ws.CloseNow()
			return nil, fmt.Errorf("client: malformed ready")
		}
		break
	}
	for _, env := range early {
		c.in <- env
	}
	c.subject, c.connID = ready.Participant.Subject, ready.Participant.ID
	if graceFollows && ready.SessionGrace > 0 {
		// Trying longer than the server waits only delays the verdict; giving up sooner
		// throws away a session the server still holds (an operator's longer grace).
		c.cfg.ResumeWithin = time.Duration(ready.SessionGrace) * time.Millisecond
	}
	c.iceServers.Store(&ready.ICEServers)
	c.secret.Store(&ready.Resume)
	c.signPriv, _, err = cs.GenerateSignatureKeyPair()
	if err != nil {
		return nil, err
	}
	c.keys, err = sframe.NewMLSKeys(sframe.MLSConfig{})
	if err != nil {
		return nil, err
	}
	c.state.kps = map[string]*ownKeyPackage{}
	go func() { defer close(c.readDone); c.read() }()
	go c.run()
	c.do(func() { c.uploadKeyPackages(cfg.KeyPackages) })
	return c, nil
}

func signalURL(base string) string {
	return "ws" + strings.TrimPrefix(strings.TrimSuffix(base, "/"), "http") + "/v1/signal"
}

// Subject is this participant's identity (the token's sub).
func (c *Client) Subject() string { return c.subject }

// Keys are the SFrame keys of the current epoch; they follow the group.
func (c *Client) Keys() *sframe.MLSKeys { return c.keys }

// Chats delivers received chat messages; when nobody reads, new ones are dropped.
func (c *Client) Chats() <-chan Chat { return c.chats }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection ended, once Done is closed (ErrClosed, ErrSessionLost,
// ErrReplaced); nil before.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.closeErr
	default:
		return nil
	}
}

// Epoch reports the current epoch and whether the client is a member.
func (c *Client) Epoch() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.group == nil || c.state.removed {
		return 0, false
	}
	return c.group.Epoch(), true
}

// Members are the identities in the credentials of the group's leaves, in leaf order:
// who holds the room's keys, whatever the server announces; nil before joining.
func (c *Client) Members() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.group == nil || c.state.removed {
		return nil
	}
	var out []string
	t := c.group.Tree()
	for i := range t.LeafCount() {
		if leaf := t.Leaf(mls.LeafIndex(i)); leaf != nil {
			out = append(out, string(leaf.Credential.Identity))
		}
	}
	return out
}

// EpochAuthenticator is the current epoch's authenticator (RFC 9420 §8.7), the basis of
// the security code participants compare; nil before joining.
func (c *Client) EpochAuthenticator() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.group == nil {
		return nil
	}
	return append([]byte(nil), c.group.EpochAuthenticator()...)
}

// Export is MLS-Exporter of the current epoch (RFC 9420 §8.5).
func (c *Client) Export(label string, context []byte, length int) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.group == nil {
		return nil, ErrNotJoined
	}
	return c.group.Export(label, context, length)
}

// Apply processes a handshake message received out of band, as the member would have
// over signaling. It reports ErrRemoved for a commit that removes this member; the
// state is unchanged on any error.
func (c *Client) Apply(msg []byte) error {
	var m mls.MLSMessage
	if err := mls.Unmarshal(msg, &m); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.group == nil {
		return ErrNotJoined
	}
	_, err := c.group.Process(&m)
	if err == mls.ErrRemoved {
		return ErrRemoved
	}
	return err
}

// WaitJoined waits until the client is a member of the room's group.
func (c *Client) WaitJoined(ctx context.Context) error {
	for {
		if _, ok := c.Epoch(); ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			if r := c.refusal.Load(); r != nil {
				return r
			}
			return ErrClosed
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// SendChat encrypts text for the group (RFC 9420 §6.3) and has the server relay it.
func (c *Client) SendChat(ctx context.Context, text []byte) error {
	ch := make(chan error, 1)
	c.do(func() {
		if c.group == nil || c.state.removed {
			ch <- ErrNotJoined
			return
		}
		c.mu.Lock()
		msg, err := c.group.EncryptApplication(text, nil, 0)
		c.mu.Unlock()
		if err != nil {
			ch <- err
			return
		}
		b, err := mls.Marshal(msg)
		if err != nil {
			ch <- err
			return
		}
		c.request(signaling.TypeChat, signaling.ChatIn{Message: b}, ch)
	})
	return c.wait(ctx, ch)
}

// Ping measures one signaling round trip.
func (c *Client) Ping(ctx context.Context) error {
	ch := make(chan error, 1)
	c.do(func() { c.request(signaling.TypePing, nil, ch) })
	return c.wait(ctx, ch)
}

// Update commits an empty commit with a fresh path (post-compromise security, RFC 9420
// §12.4), rebasing and retrying when another member's commit wins the epoch.
func (c *Client) Update(ctx context.Context) error {
	ch := make(chan error, 1)
	c.do(func() {
		if c.group == nil || c.state.removed {
			ch <- ErrNotJoined
			return
		}
		c.state.updates = append(c.state.updates, ch)
		c.maybeCommit()
	})
	return c.wait(ctx, ch)
}

// Leave says goodbye and waits for the server to close the connection; the server
// removes the member from the group. The last epoch's state stays readable until Close.
func (c *Client) Leave(ctx context.Context) error {
	err := c.write(ctx, signaling.TypeLeave, "", nil)
	select {
	case <-c.done:
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
	}
	c.shutdown(ErrClosed)
	return err
}

// Drop cuts the connection without a close frame, as a network failure would: the server
// sees a disconnect and keeps the seat and leaf for its grace period. The member's state
// is then closed like Close's. For fault drills and tests.
func (c *Client) Drop() error {
	_ = c.ws.Load().CloseNow()
	return c.Close()
}

// Close ends the connection with a normal closure (the server takes it as the
// participant leaving) and zeroes the member's secrets.
func (c *Client) Close() error {
	m := c.media.Load() // before shutdown, which makes a running media plane stop itself
	c.shutdown(ErrClosed)
	if m != nil {
		m.Close()
	}
	<-c.loopDone
	<-c.readDone
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.group != nil {
		c.group.Close()
		c.group = nil
	}
	c.keys.Close()
	return nil
}

func (c *Client) shutdown(err error) {
	c.once.Do(func() {
		c.closeErr = err
		_ = c.ws.Load().Close(websocket.StatusNormalClosure, "")
		close(c.done)
	})
}

func (c *Client) wait(ctx context.Context, ch chan error) error {
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrClosed
	}
}

// do runs f on the client's goroutine.
func (c *Client) do(f func()) {
	select {
	case c.reqs <- f:
	case <-c.done:
	}
}

func (c *Client) read() {
	defer c.shutdown(ErrClosed)
	for {
		_, b, err := c.ws.Load().Read(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) == signaling.CloseReplaced {
				c.shutdown(ErrReplaced) // the same identity joined elsewhere
				return
			}
			if !c.mayResume(err) || !c.resume() {
				return
			}
			continue
		}
		var env signaling.Envelope
		if err := json.Unmarshal(b, &env); err != nil {
			continue
		}
		if !c.accept(env) {
			return
		}
	}
}

// accept hands a received message to the member's goroutine, once: a message sent again
// after a resume, which we had, is skipped. It reports false when the client has ended.
// It runs on the reader's goroutine, which owns lastSeq.
func (c *Client) accept(env signaling.Envelope) bool {
	if env.Seq != 0 {
		if env.Seq <= c.lastSeq {
			return true // sent again after a resume, and we had it
		}
		c.lastSeq = env.Seq
	}
	if env.Type == signaling.TypeError && env.ID == "" {
		// Recorded here, not on the member's goroutine, which may already have
		// stopped when the close that follows the refusal arrives.
		var e signaling.Error
		if json.Unmarshal(env.Data, &e) == nil {
			c.refusal.Store(&ServerError{Code: e.Code, Message: e.Message})
		}
	}
	select {
	case c.in <- env:
		return true
	case <-c.done:
		return false
	}
}

// mayResume tells a dropped connection (no close frame: a network failure) from one
// either side ended on purpose.
func (c *Client) mayResume(err error) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	// CloseMoved: the room moved to another node (a drain), which takes the session.
	st := websocket.CloseStatus(err)
	return c.cfg.ResumeWithin > 0 && (st == -1 || st == signaling.CloseMoved)
}

// resume redials with jittered backoff and takes the session back (auth with the resume
// secret). It reports whether it did; after ResumeWithin, or when the server refuses
// (4412: the session is gone), the client ends with ErrSessionLost; when the session was
// replaced meanwhile (4409), with ErrReplaced.
func (c *Client) resume() bool {
	c.upMu.Lock()
	c.up = make(chan struct{})
	c.upMu.Unlock()
	deadline := time.Now().Add(c.cfg.ResumeWithin)
	backoff := 100 * time.Millisecond
	for time.Now().Before(deadline) {
		ws, r, err := c.redial(deadline)
		if err == nil {
			c.ws.Store(ws)
			c.secret.Store(&r.Resume)
			// The server keeps the secret this resume presented until we say we hold the
			// new one (docs/protocol.md "Resume"). A failed write means the socket died;
			// the next resume then presents the new secret, which works as well.
			if b, err := signaling.Encode(signaling.TypeResumeAck, "", nil); err == nil {
				wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = ws.Write(wctx, websocket.MessageText, b)
				cancel()
			}
			c.iceServers.Store(&r.ICEServers)
			c.resumes.Add(1)
			c.upMu.Lock()
			close(c.up)
			c.upMu.Unlock()
			if m := c.media.Load(); m != nil {
				m.resumed(r.Moved)
			}
			c.cfg.Log.Info("client: session resumed", "moved", r.Moved)
			// What came before resumed was written before it: it counts first.
			for _, env := range r.early {
				if !c.accept(env) {
					return false
				}
			}
			c.lastSeq = max(c.lastSeq, r.seq)
			return true
		}
		if errors.Is(err, ErrSessionLost) || errors.Is(err, ErrReplaced) {
			c.shutdown(err)
			return false
		}
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		backoff = min(2*backoff, 2*time.Second)
		select {
		case <-c.done:
			return false
		case <-time.After(wait):
		}
	}
	c.shutdown(ErrSessionLost)
	return false
}

// resumed is the server's answer to a resume: its data, its seq (numbered when another
// node took the session over), and the room's messages that came before it.
type resumed struct {
	signaling.Ready
	seq   uint64
	early []signaling.Envelope
}

// redial opens a new socket and asks to resume the session on it; the server answers
// resumed, then sends what the client missed, in order, on the same socket.
func (c *Client) redial(deadline time.Time) (*websocket.Conn, *resumed, error) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	ws, _, err := websocket.Dial(ctx, signalURL(c.cfg.URL), nil)
	if err != nil {
		return nil, nil, err
	}
	ws.SetReadLimit(1 << 20)
	secret := c.secret.Load()
	b, err := signaling.Encode(signaling.TypeAuth, "", signaling.Auth{Token: c.cfg.Token,
		Resume: &signaling.ResumeAuth{Session: c.connID, Secret: *secret, LastSeq: c.lastSeq}})
	if err == nil {
		err = ws.Write(ctx, websocket.MessageText, b)
	}
	if err != nil {
		_ = ws.CloseNow()
		return nil, nil, err
	}
	// Room events may come before resumed when another node takes the session over (the
	// room's others are seated there at the same moment): they wait until it has come.
	var early []signaling.Envelope
	for {
		_, msg, err := ws.Read(ctx)
		if websocket.CloseStatus(err) == signaling.CloseNoResume || websocket.CloseStatus(err) == signaling.CloseUnauthorized {
			return nil, nil, ErrSessionLost
		}
		if websocket.CloseStatus(err) == signaling.CloseReplaced {
			return nil, nil, ErrReplaced
		}
		if err != nil {
			_ = ws.CloseNow()
			return nil, nil, err
		}
		var env signaling.Envelope
		if json.Unmarshal(msg, &env) != nil || len(early) == cap(c.in) {
			_ = ws.CloseNow()
			return nil, nil, fmt.Errorf("client: expected resumed")
		}
		if env.Type != signaling.TypeResumed {
			early = append(early, env)
			continue
		}
		var r signaling.Ready
		if json.Unmarshal(env.Data, &r) != nil {
			_ = ws.CloseNow()
			return nil, nil, fmt.Errorf("client: malformed resumed")
		}
		return ws, &resumed{Ready: r, seq: env.Seq, early: early}, nil
	}
}

// ICEServers are the TURN relays and credentials the client holds now: ready's, then
// each fresh set the server pushes (ice_servers) or hands over with resumed.
func (c *Client) ICEServers() []signaling.ICEServer {
	if p := c.iceServers.Load(); p != nil {
		return *p
	}
	return nil
}

// Resumes is how many times the client took its session back after a dropped connection.
func (c *Client) Resumes() int64 { return c.resumes.Load() }

func (c *Client) write(ctx context.Context, typ, id string, data any) error {
	b, err := signaling.Encode(typ, id, data)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		// While the session is being resumed, a message waits for the new socket.
		c.upMu.Lock()
		up := c.up
		c.upMu.Unlock()
		select {
		case <-up:
		case <-c.done:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("client: write: %w", ctx.Err())
		}
		ws := c.ws.Load()
		err := ws.Write(ctx, websocket.MessageText, b)
		if err == nil {
			return nil
		}
		if c.ws.Load() == ws && !c.resuming() {
			return fmt.Errorf("client: write: %w", err)
		}
	}
}

// resuming reports whether the socket is down and a resume under way.
func (c *Client) resuming() bool {
	c.upMu.Lock()
	defer c.upMu.Unlock()
	select {
	case <-c.up:
		return false
	default:
		return true
	}
}

// request sends a message with a fresh id; ch (if any) gets nil on ack or the error.
func (c *Client) request(typ string, data any, ch chan error) string {
	c.nextID++
	id := fmt.Sprintf("k%d", c.nextID)
	if ch != nil {
		c.waits[id] = ch
	}
	if err := c.write(context.Background(), typ, id, data); err != nil {
		delete(c.waits, id)
		if ch != nil {
			ch <- err
		}
	}
	return id
}

// Kick asks the server to remove sub from the room (hosts only).
func (c *Client) Kick(ctx context.Context, sub string) error {
	ch := make(chan error, 1)
	c.do(func() { c.request(signaling.TypeKick, signaling.Kick{Subject: sub}, ch) })
	return c.wait(ctx, ch)
}

// Readmit asks the server to lift the bar a Kick put on sub (hosts only); sub then
// needs a new token, since the kick revoked the one it used.
func (c *Client) Readmit(ctx context.Context, sub string) error {
	ch := make(chan error, 1)
	c.do(func() { c.request(signaling.TypeReadmit, signaling.Readmit{Subject: sub}, ch) })
	return c.wait(ctx, ch)
}
