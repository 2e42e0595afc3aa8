package keyservice

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/signaling"
)

// Auditor records security-relevant actions; *audit.Log satisfies it.
type Auditor interface {
	// Record returns once the event is durable, or an error unless the action is on the
	// audit log's fail-open allow-list (audit.Log.Record): the service records a room
	// transaction's events before committing it, so an action that cannot be audited
	// does not happen.
	Record(ctx context.Context, ev audit.Event) error
}

// Config configures a Service.
type Config struct {
	Pool *pgxpool.Pool
	// SignerKey is the server's external-sender key (RFC 9420 §12.1.8.1). Every process of
	// a deployment must use the same key: a group lists exactly one.
	SignerKey ed25519.PrivateKey
	// SignerIdentity is the basic credential identity of the external sender.
	SignerIdentity string
	Audit          Auditor // nil: events are dropped (tests only)
	Log            *slog.Logger

	// MaxKeyPackages bounds the unused KeyPackages stored per identity (default 32).
	MaxKeyPackages int
	// MaxKeyPackageLifetime bounds how far in the future a KeyPackage may expire (default 30 days).
	MaxKeyPackageLifetime time.Duration
	// MaxChat bounds one chat message, in bytes of MLSMessage (default 4 KiB; NOTIFY carries it).
	MaxChat int
	// CommitTimeout is how long the designated committer has before the next member is
	// asked (default 3 s).
	CommitTimeout time.Duration
	// DisconnectTimeout is how long a dropped connection keeps its leaf before the server
	// proposes its removal (zero: 30 s; negative: at once).
	DisconnectTimeout time.Duration
	// ResyncWindow is how long a member whose connection changed may replace its own
	// earlier leaf by an external commit before the server falls back to removing that
	// leaf and adding the new connection (default 10 s; negative: no resync).
	ResyncWindow time.Duration
	// SweepInterval is how often each process looks for expired seats and overdue
	// committers (default 1 s).
	SweepInterval time.Duration
	Now           func() time.Time

	// Node is this process's node id in a cluster (package cluster): seats record the
	// node that holds them, a process only ends the seats of its own node, and Settled
	// says when this node may judge another dead (its lease lapsed in cluster_nodes), whose
	// seats then count as disconnected. Empty: a process on its own.
	Node    string
	Settled func() bool
}

func (c *Config) defaults() {
	if c.SignerIdentity == "" {
		c.SignerIdentity = "sealroom-ds"
	}
	if c.MaxKeyPackages == 0 {
		c.MaxKeyPackages = 32
	}
	if c.MaxKeyPackageLifetime == 0 {
		c.MaxKeyPackageLifetime = 30 * 24 * time.Hour
	}
	if c.MaxChat == 0 {
		c.MaxChat = 4 << 10
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = 3 * time.Second
	}
	if c.ResyncWindow == 0 {
		c.ResyncWindow = 10 * time.Second
	}
	if c.DisconnectTimeout == 0 {
		c.DisconnectTimeout = 30 * time.Second
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Service is the Delivery Service of one server process. It satisfies server.Rooms.
// Several processes may run against one database: Postgres orders commits and carries the
// fan-out (LISTEN/NOTIFY), so they need nothing else in common.
type Service struct {
	cfg Config
	cs  *mls.CipherSuite
	pub ed25519.PublicKey

	mu     sync.Mutex
	local  map[string]map[string]*localConn // room -> conn id -> connection of this process
	groups map[string]*publicView           // room -> cached public view
	// lastByRoom is the newest ks_events id delivered per room, to catch up after the
	// listener's connection was lost.
	lastByRoom map[string]int64

	metrics *metrics

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type localConn struct {
	m    Member
	conn Conn
}

// New checks cfg and returns a Service; Start must run before it serves members.
func New(cfg Config) (*Service, error) {
	cfg.defaults()
	if cfg.Pool == nil {
		return nil, errors.New("keyservice: Config.Pool is required")
	}
	if len(cfg.SignerKey) != ed25519.PrivateKeySize {
		return nil, errors.New("keyservice: Config.SignerKey must be an Ed25519 private key")
	}
	cs, err := mls.CipherSuiteByID(mls.X25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		return nil, err
	}
	return &Service{
		cfg: cfg, cs: cs, pub: cfg.SignerKey.Public().(ed25519.PublicKey),
		local: map[string]map[string]*localConn{}, groups: map[string]*publicView{}, lastByRoom: map[string]int64{},
		metrics: newMetrics(),
	}, nil
}

// Start begins listening for other processes' events and sweeping expired seats and
// overdue committers. It returns once the listener is subscribed, so nothing committed
// after Start returns is missed.
func (s *Service) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	ready := make(chan error, 1)
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.listen(ctx, ready) }()
	go func() { defer s.wg.Done(); s.sweep(ctx) }()
	select {
	case err := <-ready:
		if err != nil {
			cancel()
			s.wg.Wait()
			return err
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the listener and the sweeper. Members' seats stay in the database: the
// other processes (or this one, restarted) carry on with them.
func (s *Service) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	return nil
}

// PublicKey is the external-sender key groups must list.
func (s *Service) PublicKey() ed25519.PublicKey { return s.pub }

// Join registers the connection in this process and seats the member in the room's
// group state: a room without a group asks the member to create it; otherwise the
// server proposes its Add as soon as it has a KeyPackage of the member.
func (s *Service) Join(ctx context.Context, m Member, c Conn) error {
	s.mu.Lock()
	conns := s.local[m.Room]
	if conns == nil {
		conns = map[string]*localConn{}
		s.local[m.Room] = conns
	}
	conns[m.ConnID] = &localConn{m: m, conn: c}
	s.mu.Unlock()
	create, offer, err := s.seat(ctx, m)
	if err != nil {
		// A refused connection must not go on receiving the room's fan-out until
		// signaling gets round to Leave.
		s.forget(m)
		return err
	}
	if create {
		c.Send(signaling.TypeGroupCreate, s.groupCreate(m.Room))
	}
	if offer != nil {
		c.Send(signaling.TypeResync, offer)
	}
	return nil
}

// Leave forgets the connection and proposes the member's removal: at once when it left,
// was replaced or logged off; after DisconnectTimeout when the connection dropped.
func (s *Service) Leave(ctx context.Context, m Member, reason string) {
	s.forget(m)
	if err := s.unseat(ctx, m, reason); err != nil {
		s.cfg.Log.Error("keyservice: leave", "room", m.Room, "request_id", m.RequestID, "err", err)
	}
}

// Forget drops the connection from this process's fan-out and keeps its seat (and leaf):
// its session moved to another node (package cluster), whose seating it again clears the
// disconnection marked here; if it never comes back, the disconnect timeout removes it.
func (s *Service) Forget(ctx context.Context, m Member) {
	s.forget(m)
	if _, err := s.cfg.Pool.Exec(ctx, `UPDATE ks_seats SET disconnected_at = $5
		WHERE room = $1 AND subject = $2 AND conn_id = $3 AND node_id = $4 AND disconnected_at IS NULL`,
		m.Room, m.Subject, m.ConnID, s.cfg.Node, s.cfg.Now()); err != nil {
		s.cfg.Log.Error("keyservice: forget", "room", m.Room, "request_id", m.RequestID, "err", err)
	}
}

// forget drops the connection from this process's fan-out.
func (s *Service) forget(m Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if conns := s.local[m.Room]; conns != nil {
		delete(conns, m.ConnID)
		if len(conns) == 0 {
			delete(s.local, m.Room)
			delete(s.lastByRoom, m.Room)
		}
	}
}

// Handle acts on one Delivery Service message of a member.
func (s *Service) Handle(ctx context.Context, m Member, typ string, data json.RawMessage) error {
	switch typ {
	case signaling.TypeKeyPackages:
		return s.uploadKeyPackages(ctx, m, data)
	case signaling.TypeGroupInit:
		return s.groupInit(ctx, m, data)
	case signaling.TypeCommit:
		return s.commit(ctx, m, data)
	case signaling.TypeChat:
		return s.chat(ctx, m, data)
	case signaling.TypeKick:
		return s.kick(ctx, m, data)
	case signaling.TypeReadmit:
		return s.readmit(ctx, m, data)
	}
	return refuse(signaling.CodeUnknownType, "unknown message type")
}

func (s *Service) groupCreate(room string) signaling.GroupCreate {
	return signaling.GroupCreate{
		GroupID:        []byte("sealroom:" + room),
		ExternalSender: signaling.ExternalSender{SignatureKey: s.pub, Identity: s.cfg.SignerIdentity},
	}
}

func internal(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", errInternal, op, err)
}
