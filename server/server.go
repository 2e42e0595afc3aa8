// Package server is sealroom's HTTP surface: the Echo application, its middleware
// (request ids, structured logs, metrics, size limits, secure headers, authentication,
// rate limits) and the wiring of the domain packages behind it. Handlers translate
// between HTTP and the domain; decisions about who may do what live in the domain
// packages. It never logs a token, a key or request bodies.
package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/cluster"
	"github.com/sealroom/sealroom/compliance"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/media/turn"
	"github.com/sealroom/sealroom/server/auth"
)

// Config holds the server's knobs. Zero values take the defaults of DefaultConfig.
type Config struct {
	MaxBodyBytes    int64          // request bodies above this get 413
	DrainDelay      time.Duration  // /readyz fails this long before the listener closes
	ShutdownTimeout time.Duration  // in-flight requests get this long to finish
	TrustedProxies  []netip.Prefix // X-Forwarded-For is believed only from these
	RatePerSecond   float64        // sustained requests per second, per IP and per identity
	RateBurst       int
	AllowedOrigins  []string // extra browser origins allowed to open the signaling WebSocket

	SignalAuthTimeout   time.Duration // the auth message must arrive within this
	SignalMaxMessage    int64         // larger signaling messages close the connection (1009)
	SignalRatePerSecond float64       // sustained signaling messages per second per connection
	SignalRateBurst     int
	SignalIdleTimeout   time.Duration // automatic logoff after this long without a client message

	// RevocationCheck is how often a signaling connection checks whether its token was
	// revoked.
	RevocationCheck time.Duration
	// SessionGrace is how long a session whose connection dropped waits for the client
	// to resume it (same seat, same MLS leaf) before the participant leaves (default
	// 30 s; negative: sessions end with their connection).
	SessionGrace time.Duration

	// RequireMFA makes administrative endpoints demand a token whose amr claim asserts a
	// second factor (HIPAA §164.312(d)).
	RequireMFA bool

	// Clock drives the signaling timers (authentication timeout, token expiry, idle
	// logoff, revocation checks); nil is the real clock. Tests pass a fake one and
	// advance it instead of sleeping.
	Clock clockwork.Clock
}

// DefaultConfig is what `sealroom serve` runs with unless told otherwise.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:    1 << 20,
		DrainDelay:      5 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		RatePerSecond:   20,
		RateBurst:       40,

		SignalAuthTimeout:   5 * time.Second,
		SignalMaxMessage:    1 << 20,
		SignalRatePerSecond: 50,
		SignalRateBurst:     100,
		SignalIdleTimeout:   15 * time.Minute,
		SessionGrace:        30 * time.Second,
	}
}

// Migrations reports whether the database schema is current.
type Migrations interface {
	Current(ctx context.Context) (bool, error)
}

// Deps are the parts the server wires together.
type Deps struct {
	Pool       *pgxpool.Pool
	Migrations Migrations
	Verifier   *auth.Verifier
	Presence   *keyservice.Presence // nil: a new, process-local one
	Rooms      Rooms                // the MLS Delivery Service; nil: signaling carries presence only
	Audit      *audit.Log
	Subjects   *compliance.Subjects // GDPR subject rights
	Consents   *compliance.Consents // notices a room asks participants to accept; nil: none
	Assets     fs.FS                // the built webapp (index.html at the root); nil: no web client
	Media      *media.SFU           // the SFU; nil: signaling carries no media
	// TURN mints relay credentials for clients behind restrictive networks; nil: none
	// are offered. TURNURLs are the turn: URLs clients are given with them.
	TURN     *turn.Server
	TURNURLs []string
	Signer   *auth.Signer // mints break-glass tokens
	// Cluster is this node's membership of a cluster of nodes on one database (rooms
	// placed on one node each, connections forwarded there, sessions adopted after a node
	// dies or drains); nil: a process on its own.
	Cluster *cluster.Registry
	// Revocations must be the same set the Verifier was built with (auth.WithRevocations).
	Revocations *Revocations
	// BreakGlassHook notifies the security team of emergency access; nil logs only.
	BreakGlassHook func(context.Context, BreakGlassNotice) error
	Log            *slog.Logger
}

// Server is the HTTP application.
type Server struct {
	cfg      Config
	e        *echo.Echo
	pool     *pgxpool.Pool
	migr     Migrations
	verifier *auth.Verifier
	log      *slog.Logger
	metrics  *metrics
	ids      *identityRecorder
	presence *keyservice.Presence
	rooms    Rooms
	audit    *audit.Log
	subjects *compliance.Subjects
	consents *compliance.Consents
	assets   fs.FS
	media    *media.SFU
	turn     *turn.Server
	turnURLs []string
	signer   *auth.Signer
	revoked  *Revocations
	notify   func(context.Context, BreakGlassNotice) error
	v1       *echo.Group // authenticated API; other parts add their routes here
	draining atomic.Bool
	// conns are the live signaling connections: Serve ends them on shutdown and
	// waits for them, since http.Server.Shutdown does not wait for hijacked ones.
	conns    signalConns
	sessions sessions
	cluster  *cluster.Registry
	store    *sessionStore // the sessions' records, for another node to adopt; nil alone
}

// New builds the application. It does not listen until Serve.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Pool == nil || deps.Verifier == nil || deps.Migrations == nil || deps.Audit == nil ||
		deps.Subjects == nil || deps.Signer == nil || deps.Revocations == nil {
		return nil, errors.New("server: Pool, Migrations, Verifier, Audit, Subjects, Signer and Revocations are required")
	}
	def := DefaultConfig()
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = def.MaxBodyBytes
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = def.ShutdownTimeout
	}
	if cfg.RatePerSecond <= 0 {
		cfg.RatePerSecond, cfg.RateBurst = def.RatePerSecond, def.RateBurst
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = 1
	}
	if cfg.SignalAuthTimeout <= 0 {
		cfg.SignalAuthTimeout = def.SignalAuthTimeout
	}
	if cfg.SignalMaxMessage <= 0 {
		cfg.SignalMaxMessage = def.SignalMaxMessage
	}
	if cfg.RevocationCheck <= 0 {
		cfg.RevocationCheck = RevocationRefresh
	}
	if cfg.SignalIdleTimeout <= 0 {
		cfg.SignalIdleTimeout = def.SignalIdleTimeout
	}
	if cfg.SessionGrace == 0 {
		cfg.SessionGrace = def.SessionGrace
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.SignalRatePerSecond <= 0 || cfg.SignalRateBurst <= 0 {
		cfg.SignalRatePerSecond, cfg.SignalRateBurst = def.SignalRatePerSecond, def.SignalRateBurst
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		cfg:      cfg,
		e:        echo.New(),
		pool:     deps.Pool,
		migr:     deps.Migrations,
		verifier: deps.Verifier,
		log:      log,
		metrics:  newMetrics(),
		presence: deps.Presence,
		rooms:    deps.Rooms,
		audit:    deps.Audit,
		subjects: deps.Subjects,
		consents: deps.Consents,
		assets:   deps.Assets,
		media:    deps.Media,
		turn:     deps.TURN,
		turnURLs: deps.TURNURLs,
		signer:   deps.Signer,
		revoked:  deps.Revocations,
		notify:   deps.BreakGlassHook,
	}
	if err := s.metrics.registerParts(deps); err != nil {
		return nil, err
	}
	if s.presence == nil {
		s.presence = keyservice.NewPresence()
	}
	if deps.Cluster != nil {
		s.cluster = deps.Cluster
		s.store = &sessionStore{pool: deps.Pool, node: deps.Cluster.ID(), grace: cfg.SessionGrace}
	}
	s.ids = newIdentityRecorder(deps.Pool, log, s.metrics)
	s.e.HideBanner, s.e.HidePort = true, true
	s.e.HTTPErrorHandler = s.handleError
	s.e.IPExtractor = ipExtractor(cfg.TrustedProxies)
	s.routes()
	return s, nil
}

// Handler is the application as an http.Handler (tests drive it without a listener).
func (s *Server) Handler() http.Handler { return s.e }

// Registry is the Prometheus registry the server's metrics live in; other parts of the
// process register their own collectors on it.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

func (s *Server) routes() {
	e := s.e
	e.Use(s.requestID, s.accessLog, s.recoverPanics, s.metrics.middleware, secureHeaders(),
		middleware.BodyLimit(fmt.Sprintf("%dB", s.cfg.MaxBodyBytes)))

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(s.metrics.handler()))

	ipLimit := newLimiter(s.cfg.RatePerSecond, s.cfg.RateBurst)
	idLimit := newLimiter(s.cfg.RatePerSecond, s.cfg.RateBurst)
	byIP := s.rateLimit("ip", ipLimit, func(c echo.Context) string { return c.RealIP() })
	// The signaling WebSocket authenticates its first message instead of a header:
	// browsers cannot set headers on a WebSocket, and URLs end up in logs.
	e.GET("/v1/signal", s.signal, byIP)
	v1 := e.Group("/v1", byIP,
		s.authenticate,
		s.rateLimit("identity", idLimit, func(c echo.Context) string { return claimsOf(c).Subject }))
	v1.GET("/whoami", s.whoami)
	v1.GET("/audit/events", s.auditEvents)
	s.v1 = v1
	s.complianceRoutes()
	if s.assets != nil {
		s.webappRoutes()
	}
}

// Serve answers requests on ln until ctx is cancelled, then shuts down gracefully:
// /readyz fails at once so load balancers stop sending new work, the listener stays
// open for DrainDelay, and in-flight requests get ShutdownTimeout to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stopBG(); wg.Wait() }()
	wg.Go(func() { s.ids.run(bg) })
	wg.Go(func() { s.revoked.Run(bg) })

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: readiness now fails", "drain_delay", s.cfg.DrainDelay)
	if s.cluster != nil {
		// Drain: no new rooms here, this node's rooms placed on others, and their
		// sessions told to resume there (the room's new node adopts them).
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		moved, err := s.cluster.Drain(dctx)
		cancel()
		if err != nil {
			s.log.Error("cluster: drain", "err", err)
		}
		s.log.Info("cluster: rooms moved to other nodes", "rooms", len(moved))
		s.handoff(moved)
	}
	time.Sleep(s.cfg.DrainDelay)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	s.conns.closeAll()
	if err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", err)
	}
	s.log.Info("shut down")
	return nil
}

func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		// Without a configured proxy every X-Forwarded-For is client-controlled; the
		// connection's address is the only one worth rate limiting and auditing.
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		ipnet := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		opts = append(opts, echo.TrustIPRange(ipnet))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
