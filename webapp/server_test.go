package webapp_test

import (
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/compliance"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/servertest"
	"github.com/sealroom/sealroom/webapp"
)

const testRoom = "visit-1"

// testServer is a real sealroom: Postgres (pgtest), the Delivery Service, the audit log, the
// SFU on loopback and the built webapp, behind httptest.
type testServer struct {
	url      string
	signer   *auth.Signer
	sfu      *media.SFU
	consents *compliance.Consents
}

// startServer starts a whole server with the built webapp. The Delivery Service hands
// the commit duty on after 3 s and removes a dropped member at once, unless a test's ks
// says otherwise.
func startServer(t *testing.T, ks ...func(*keyservice.Config)) *testServer {
	t.Helper()
	return startServerMedia(t, nil, ks...)
}

// startServerMedia is startServer with the SFU's configuration changed by mcfg first.
func startServerMedia(t *testing.T, mcfg func(*media.Config), ks ...func(*keyservice.Config)) *testServer {
	t.Helper()
	assets := builtAssets(t)
	cfg := media.Config{ListenAddr: "127.0.0.1:0"}
	if mcfg != nil {
		mcfg(&cfg)
	}
	sfu, err := media.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sfu.Close() })
	var consents *compliance.Consents
	st := servertest.Start(t, servertest.Options{Pool: pgtest.Pool(t),
		KeyService: func(cfg *keyservice.Config, _ *audit.Log) {
			cfg.SweepInterval, cfg.CommitTimeout, cfg.DisconnectTimeout = 100*time.Millisecond, 3*time.Second, -1
			for _, f := range ks {
				f(cfg)
			}
		},
		Deps: func(d *server.Deps) {
			consents = compliance.NewConsents(d.Pool, d.Audit)
			d.Assets, d.Media, d.Consents = assets, sfu, consents
		},
	})
	return &testServer{url: st.URL, signer: st.Signer, sfu: sfu, consents: consents}
}

// builtAssets is the built page; without a build the test is skipped loudly, or fails
// under CI=true.
func builtAssets(t *testing.T) fs.FS {
	t.Helper()
	assets, err := webapp.Assets()
	if errors.Is(err, webapp.ErrNotBuilt) && os.Getenv("CI") != "true" {
		t.Skipf("SKIPPED LOUDLY: %v (cd webapp && npm ci && npm run build)", err)
	}
	if err != nil {
		t.Fatalf("webapp: %v", err)
	}
	return assets
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
