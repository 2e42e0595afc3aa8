// Package servertest runs a real sealroom server for tests of other packages: the Echo
// app with the Delivery Service, the audit log, migrations, revocations and subject rights
// on a Postgres database the caller provides, behind httptest. It is the wiring of
// `sealroom serve` without its flags; hooks adjust each part.
package servertest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/compliance"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/migrations"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/auth"
)

// Issuer and Audience are the token claims the test server expects.
const (
	Issuer   = "https://sealroom.test"
	Audience = "sealroom"
)

// Options configures Start. Only Pool is required.
type Options struct {
	Pool *pgxpool.Pool
	// TokenKey signs and verifies access tokens; DSKey is the Delivery Service's key.
	// Servers that stand for processes of one deployment share both. Default: fresh keys.
	TokenKey, DSKey ed25519.PrivateKey
	// KeyService adjusts the Delivery Service's configuration; cfg.Audit is log.
	KeyService func(cfg *keyservice.Config, log *audit.Log)
	// Server adjusts the server's configuration (server.DefaultConfig before).
	Server func(*server.Config)
	// Deps adds or replaces dependencies (the SFU, the web assets, consents).
	Deps func(*server.Deps)
}

// Stack is a running server and the parts a test may reach into.
type Stack struct {
	HTTP        *httptest.Server
	URL         string
	Signer      *auth.Signer
	Audit       *audit.Log
	Rooms       *keyservice.Service
	Revocations *server.Revocations
}

// Start runs the server until the test ends.
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	if o.TokenKey == nil {
		_, o.TokenKey, _ = ed25519.GenerateKey(rand.Reader)
	}
	if o.DSKey == nil {
		_, o.DSKey, _ = ed25519.GenerateKey(rand.Reader)
	}
	ctx := context.Background()
	_, auditKey, _ := ed25519.GenerateKey(rand.Reader)
	al, err := audit.New(audit.Config{Pool: o.Pool, SpoolDir: t.TempDir(), Key: auditKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := al.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = al.Close() })

	kcfg := keyservice.Config{Pool: o.Pool, SignerKey: o.DSKey, Audit: al}
	if o.KeyService != nil {
		o.KeyService(&kcfg, al)
	}
	ks, err := keyservice.New(kcfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ks.Close() })

	m, err := migrations.New(o.Pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	dm, err := compliance.LoadDataMap()
	if err != nil {
		t.Fatal(err)
	}
	log := Logger(t)
	rev, err := server.NewRevocations(ctx, o.Pool, log)
	if err != nil {
		t.Fatal(err)
	}
	signer := auth.NewSigner(o.TokenKey, Issuer, Audience)
	deps := server.Deps{Pool: o.Pool, Migrations: m, Rooms: ks, Audit: al, Subjects: compliance.NewSubjects(o.Pool, al, dm),
		Signer: signer, Revocations: rev, Log: log,
		Verifier: auth.NewVerifier(Issuer, Audience, []ed25519.PublicKey{o.TokenKey.Public().(ed25519.PublicKey)}, auth.WithRevocations(rev))}
	if o.Deps != nil {
		o.Deps(&deps)
	}
	cfg := server.DefaultConfig()
	if o.Server != nil {
		o.Server(&cfg)
	}
	srv, err := server.New(cfg, deps)
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.EndSessions() // sessions waiting for a resume end now, not after their grace
		ts.CloseClientConnections()
		ts.Close()
	})
	return &Stack{HTTP: ts, URL: ts.URL, Signer: signer, Audit: al, Rooms: ks, Revocations: rev}
}
