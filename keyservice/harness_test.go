package keyservice_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/client"
	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/servertest"
)

// recorder is the Auditor of the tests: it keeps every event and hands it on to a real
// audit log on the same database.
type recorder struct {
	next *audit.Log
	mu   sync.Mutex
	evs  []audit.Event
	down bool // the audit log cannot record: fail as audit.Log.Record would
}

func (r *recorder) Record(ctx context.Context, ev audit.Event) error {
	r.mu.Lock()
	if r.down {
		r.mu.Unlock()
		if ev.Action.FailOpen() {
			return nil
		}
		return errors.New("audit log unavailable")
	}
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
	if r.next == nil {
		return nil
	}
	return r.next.Record(ctx, ev)
}

// denied returns the reasons of denied events of action, in order.
func (r *recorder) denied(action audit.Action) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.evs {
		if ev.Action == action && ev.Outcome == audit.OutcomeDenied {
			out = append(out, ev.Details["reason"])
		}
	}
	return out
}

// proc is one server process: its own Service, audit log and HTTP listener.
type proc struct {
	svc   *keyservice.Service
	rev   *server.Revocations
	ts    *httptest.Server
	audit *recorder
}

type harness struct {
	t      testing.TB
	pool   *pgxpool.Pool
	signer *auth.Signer
	dsKey  ed25519.PrivateKey
	tokKey ed25519.PrivateKey
	procs  []*proc
	room   string
}

type harnessOpts struct {
	procs int
	cfg   func(*keyservice.Config)
	audit bool // a real audit.Log behind the recorder
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	if o.procs == 0 {
		o.procs = 1
	}
	pool := pgtest.Pool(t)
	_, tokKey, _ := ed25519.GenerateKey(rand.Reader)
	_, dsKey, _ := ed25519.GenerateKey(rand.Reader)
	h := &harness{t: t, pool: pool, signer: auth.NewSigner(tokKey, servertest.Issuer, servertest.Audience), dsKey: dsKey, tokKey: tokKey, room: "room-1"}
	for range o.procs {
		h.procs = append(h.procs, h.startProc(tokKey, o))
	}
	return h
}

func (h *harness) startProc(tokKey ed25519.PrivateKey, o harnessOpts) *proc {
	t := h.t
	t.Helper()
	// Each process has its own pool, as separate processes would.
	pcfg, err := pgxpool.ParseConfig(h.pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	pcfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rec := &recorder{}
	st := servertest.Start(t, servertest.Options{Pool: pool, TokenKey: tokKey, DSKey: h.dsKey,
		KeyService: func(cfg *keyservice.Config, log *audit.Log) {
			if o.audit {
				rec.next = log
			}
			cfg.Audit, cfg.SweepInterval, cfg.CommitTimeout, cfg.DisconnectTimeout = rec, 100*time.Millisecond, time.Second, -1
			if o.cfg != nil {
				o.cfg(cfg)
			}
		},
		Server: func(cfg *server.Config) {
			cfg.RevocationCheck = 50 * time.Millisecond
			cfg.RatePerSecond, cfg.RateBurst = 1e6, 1e6
			cfg.SignalRatePerSecond, cfg.SignalRateBurst = 1e6, 1e6
		},
	})
	return &proc{svc: st.Rooms, rev: st.Revocations, ts: st.HTTP, audit: rec}
}

func (h *harness) token(sub string, role auth.Role) string {
	h.t.Helper()
	return h.tokenTTL(sub, role, time.Hour)
}

func (h *harness) tokenTTL(sub string, role auth.Role, ttl time.Duration) string {
	h.t.Helper()
	tok, _, err := h.signer.Mint(auth.Grant{Identity: sub, Name: sub, Room: h.room, Role: role, CanPublish: true, CanSubscribe: true}, ttl)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// joined dials like dial and waits until the client is a member of the room's group.
func (h *harness) joined(ctx context.Context, p int, sub string, cfg client.Config) *client.Client {
	h.t.Helper()
	c := h.dial(p, sub, cfg)
	if err := c.WaitJoined(ctx); err != nil {
		h.t.Fatalf("%s joining: %v", sub, err)
	}
	return c
}

func (h *harness) dial(p int, sub string, cfg client.Config) *client.Client {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg.URL = h.procs[p].ts.URL
	if cfg.Token == "" {
		cfg.Token = h.token(sub, auth.RoleParticipant)
	}
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		h.t.Fatalf("dial %s: %v", sub, err)
	}
	h.t.Cleanup(func() { _ = c.Close() })
	return c
}

// dbEpoch reads the room's epoch and roster size as stored.
func (h *harness) dbState() (epoch uint64, members int, pending int, ok bool) {
	h.t.Helper()
	ctx := context.Background()
	var e int64
	err := h.pool.QueryRow(ctx, `SELECT epoch, (SELECT count(*) FROM jsonb_object_keys(roster)),
		(SELECT count(*) FROM ks_proposals p WHERE p.room = r.room AND p.epoch = r.epoch) FROM ks_rooms r WHERE room = $1`, h.room).Scan(&e, &members, &pending)
	if err != nil {
		return 0, 0, 0, false
	}
	return uint64(e), members, pending, true
}

// proposalsOf returns the server proposals the room's members received in epoch, from the
// fan-out queue (server proposals are external senders' PublicMessages).
func (h *harness) proposalsOf(epoch uint64) [][]byte {
	h.t.Helper()
	rows, err := h.pool.Query(context.Background(), `SELECT data FROM ks_events WHERE room = $1 AND type = 'mls' AND exclude IS NULL
		AND (convert_from(data, 'UTF8')::jsonb->>'epoch')::bigint = $2 ORDER BY id`, h.room, int64(epoch))
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			h.t.Fatal(err)
		}
		var d struct {
			Message []byte `json:"message"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, d.Message)
	}
	return out
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
