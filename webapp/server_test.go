package webapp_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/compliance"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/migrations"
	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/webapp"
)

const (
	testIssuer   = "https://sealroom.test"
	testAudience = "sealroom"
	testRoom     = "visit-1"
)

// testServer is a real sealroom: Postgres (pgtest), the Delivery Service, the audit log, the
// SFU on loopback and the built webapp, behind httptest.
type testServer struct {
	url      string
	signer   *auth.Signer
	consents *compliance.Consents
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	assets, err := webapp.Assets()
	if errors.Is(err, webapp.ErrNotBuilt) && os.Getenv("CI") != "true" {
		t.Skipf("SKIPPED LOUDLY: %v (cd webapp && npm ci && npm run build)", err)
	}
	if err != nil {
		t.Fatalf("webapp: %v", err)
	}
	pool := pgtest.Pool(t)
	_, tokKey, _ := ed25519.GenerateKey(rand.Reader)
	_, dsKey, _ := ed25519.GenerateKey(rand.Reader)
	_, auditKey, _ := ed25519.GenerateKey(rand.Reader)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	auditLog, err := audit.New(audit.Config{Pool: pool, SpoolDir: t.TempDir(), Key: auditKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := auditLog.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = auditLog.Close() })

	svc, err := keyservice.New(keyservice.Config{Pool: pool, SignerKey: dsKey, Audit: auditLog,
		SweepInterval: 100 * time.Millisecond, CommitTimeout: 3 * time.Second, DisconnectTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })

	sfu, err := media.New(media.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sfu.Close() })

	m, err := migrations.New(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	dm, err := compliance.LoadDataMap()
	if err != nil {
		t.Fatal(err)
	}
	rev, err := server.NewRevocations(context.Background(), pool, log)
	if err != nil {
		t.Fatal(err)
	}
	signer := auth.NewSigner(tokKey, testIssuer, testAudience)
	consents := compliance.NewConsents(pool, auditLog)
	cfg := server.DefaultConfig()
	srv, err := server.New(cfg, server.Deps{Pool: pool, Migrations: m, Rooms: svc, Audit: auditLog,
		Subjects: compliance.NewSubjects(pool, auditLog, dm), Signer: signer, Revocations: rev,
		Verifier: auth.NewVerifier(testIssuer, testAudience, []ed25519.PublicKey{tokKey.Public().(ed25519.PublicKey)}, auth.WithRevocations(rev)),
		Assets:   assets, Media: sfu, Consents: consents, Log: log})
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	return &testServer{url: ts.URL, signer: signer, consents: consents}
}

func (s *testServer) token(t *testing.T, sub, name string, role auth.Role) string {
	t.Helper()
	return s.roomToken(t, testRoom, sub, name, role)
}

func (s *testServer) roomToken(t *testing.T, room, sub, name string, role auth.Role) string {
	t.Helper()
	tok, _, err := s.signer.Mint(auth.Grant{Identity: sub, Name: name, Room: room, Role: role, CanPublish: true, CanSubscribe: true}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
