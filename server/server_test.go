package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/compliance"
	"github.com/sealroom/sealroom/migrations"
	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server/auth"
)

const (
	testIssuer   = "sealroom-test"
	testAudience = "sealroom-test-api"
)

type fixture struct {
	srv    *Server
	audit  *audit.Log
	skew   atomic.Int64 // nanoseconds added to the verifier's clock
	notes  chan BreakGlassNotice
	key    ed25519.PrivateKey
	signer *auth.Signer
	hits   atomic.Int64 // requests that reached /v1/probe
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	pool := pgtest.Pool(t)
	m, err := migrations.New(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	f := &fixture{key: key, signer: auth.NewSigner(key, testIssuer, testAudience), audit: newAudit(t, pool),
		notes: make(chan BreakGlassNotice, 8)}
	dm, err := compliance.LoadDataMap()
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return time.Now().Add(time.Duration(f.skew.Load())) }
	rev, err := NewRevocations(context.Background(), pool, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	f.srv, err = New(cfg, Deps{
		Pool:        pool,
		Migrations:  m,
		Audit:       f.audit,
		Subjects:    compliance.NewSubjects(pool, f.audit, dm),
		Consents:    compliance.NewConsents(pool, f.audit),
		Signer:      f.signer,
		Revocations: rev,
		BreakGlassHook: func(_ context.Context, n BreakGlassNotice) error {
			f.notes <- n
			return nil
		},
		Verifier: auth.NewVerifier(testIssuer, testAudience, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)},
			auth.WithClock(clock), auth.WithRevocations(rev)),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Serve runs the identity recorder; tests that drive the handler directly run it here.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go f.srv.ids.run(ctx)
	f.srv.v1.GET("/probe", func(c echo.Context) error {
		f.hits.Add(1)
		return c.String(http.StatusOK, "reached")
	})
	return f
}

// newAudit starts a real audit log on the test's database.
func newAudit(t testing.TB, pool *pgxpool.Pool) *audit.Log {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	l, err := audit.New(audit.Config{Pool: pool, SpoolDir: t.TempDir(), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func (f *fixture) token(t testing.TB) string {
	t.Helper()
	tok, _, err := f.signer.Mint(auth.Grant{Identity: "alice", Name: "Alice", Room: "r1", Role: auth.RoleClinician, CanPublish: true, CanSubscribe: true}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func do(h http.Handler, method, path, token string, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, body)
	req.RemoteAddr = "192.0.2.10:4321"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func serve(f *fixture, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body is not JSON: %q", rec.Body.String())
	}
	return body.Error.Code
}

func TestHealthAndReady(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	if rec := do(f.srv.Handler(), "GET", "/healthz", "", nil); rec.Code != 200 {
		t.Fatalf("healthz: %d", rec.Code)
	}
	if rec := do(f.srv.Handler(), "GET", "/readyz", "", nil); rec.Code != 200 {
		t.Fatalf("readyz: %d %s", rec.Code, rec.Body)
	}
	if rec := do(f.srv.Handler(), "GET", "/metrics", "", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "sealroom_http_requests_total") {
		t.Fatalf("metrics: %d", rec.Code)
	}
}

// A database whose schema is behind the binary is not ready: the server would fail on
// the first query that needs a new table.
func TestReadyzPendingMigrations(t *testing.T) {
	pool := pgtest.EmptyPool(t)
	m, err := migrations.New(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	al := newAudit(t, pool)
	rev := &Revocations{tokens: map[string]struct{}{}, subjects: map[string]time.Time{}} // the tables do not exist yet
	dm, err := compliance.LoadDataMap()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(DefaultConfig(), Deps{Pool: pool, Migrations: m, Audit: al, Subjects: compliance.NewSubjects(pool, al, dm),
		Signer: auth.NewSigner(key, "i", "a"), Revocations: rev,
		Verifier: auth.NewVerifier("i", "a", []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}),
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rec := do(srv.Handler(), "GET", "/readyz", "", nil)
	if rec.Code != http.StatusServiceUnavailable || errorCode(t, rec) != CodeUnavailable {
		t.Fatalf("readyz with pending migrations: %d %s", rec.Code, rec.Body)
	}
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec := do(srv.Handler(), "GET", "/readyz", "", nil); rec.Code != 200 {
		t.Fatalf("readyz after migrating: %d", rec.Code)
	}
}

func TestAuthenticated(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	rec := do(f.srv.Handler(), "GET", "/v1/whoami", f.token(t), nil)
	if rec.Code != 200 {
		t.Fatalf("whoami: %d %s", rec.Code, rec.Body)
	}
	var who whoamiResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &who); err != nil {
		t.Fatal(err)
	}
	if who.Subject != "alice" || who.Room != "r1" || who.Role != auth.RoleClinician || !who.CanPublish {
		t.Fatalf("whoami = %+v", who)
	}
	// The scheme name is case-insensitive (RFC 7235 §2.1).
	req := httptest.NewRequest("GET", "/v1/probe", nil)
	req.Header.Set("Authorization", "bEaReR "+f.token(t))
	rec = httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("lower-case scheme: %d", rec.Code)
	}
}

func TestBodyLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 1024
	f := newFixture(t, cfg)
	f.srv.v1.POST("/echo", func(c echo.Context) error {
		_, err := io.Copy(io.Discard, c.Request().Body)
		if err != nil {
			return err
		}
		return c.NoContent(204)
	})
	if rec := do(f.srv.Handler(), "POST", "/v1/echo", f.token(t), strings.NewReader(strings.Repeat("a", 1024))); rec.Code != 204 {
		t.Fatalf("1 KiB body: %d", rec.Code)
	}
	rec := do(f.srv.Handler(), "POST", "/v1/echo", f.token(t), strings.NewReader(strings.Repeat("a", 1025)))
	if rec.Code != http.StatusRequestEntityTooLarge || errorCode(t, rec) != CodeTooLarge {
		t.Fatalf("1 KiB + 1 body: %d %s", rec.Code, rec.Body)
	}
}

func TestRateLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RatePerSecond, cfg.RateBurst = 1, 3
	f := newFixture(t, cfg)
	tok := f.token(t)
	for i := range 3 {
		if rec := do(f.srv.Handler(), "GET", "/v1/probe", tok, nil); rec.Code != 200 {
			t.Fatalf("request %d within burst: %d", i, rec.Code)
		}
	}
	rec := do(f.srv.Handler(), "GET", "/v1/probe", tok, nil)
	if rec.Code != http.StatusTooManyRequests || errorCode(t, rec) != CodeRateLimited {
		t.Fatalf("over burst: %d %s", rec.Code, rec.Body)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After = %q, want 1", ra)
	}
	// Unauthenticated floods from one address are limited before any signature check.
	for range 5 {
		rec = do(f.srv.Handler(), "GET", "/v1/probe", "garbage", nil)
	}
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("bad-token flood: %d", rec.Code)
	}
}

// TestGracefulShutdown: on cancel, readiness fails at once while the in-flight request
// completes, and Serve returns cleanly.
func TestGracefulShutdown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DrainDelay = 300 * time.Millisecond
	f := newFixture(t, cfg)
	release := make(chan struct{})
	started := make(chan struct{})
	f.srv.e.GET("/slow", func(c echo.Context) error {
		close(started)
		<-release
		return c.String(200, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, ln) }()

	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	<-started
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			code := resp.StatusCode
			resp.Body.Close()
			if code == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("readyz never failed during shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if got := <-slow; got != "done" {
		t.Fatalf("in-flight request: %q", got)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestPanicIsInternalError(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	f.srv.v1.GET("/boom", func(echo.Context) error { panic("secret detail") })
	rec := do(f.srv.Handler(), "GET", "/v1/boom", f.token(t), nil)
	if rec.Code != 500 || errorCode(t, rec) != CodeInternal || strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("panic: %d %s", rec.Code, rec.Body)
	}
}
