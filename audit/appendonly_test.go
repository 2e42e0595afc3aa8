package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/migrations/pgtest"
)

// appPool opens a second pool on pool's database whose sessions run as the
// application role, as a deployment's login role (a member of sealroom_app) would.
func appPool(t *testing.T, pool *pgxpool.Pool) *pgxpool.Pool {
	t.Helper()
	cfg := pool.Config().Copy()
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `SET ROLE sealroom_app`)
		return err
	}
	app, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	return app
}

// The application role can run the whole log (append, checkpoints, keys, query,
// shred, expiry) and cannot change or remove what is stored; the triggers refuse even
// the table owner.
func TestAppendOnlyEnforcedByDatabase(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	app := appPool(t, pool)
	key := testKey(t)
	l := startLog(t, app, key, nil)
	appendN(t, l, 25)
	if _, err := l.Query(ctx, Caller{Actor: "auditor-1", Role: RoleAuditor}, Filter{}); err != nil {
		t.Fatalf("query as app role: %v", err)
	}
	if _, err := Shred(ctx, app, "user-3"); err != nil {
		t.Fatalf("shred as app role: %v", err)
	}
	if _, err := l.Expire(ctx, Caller{Actor: "service:retention", Role: RoleAdmin}); err != nil {
		t.Fatalf("expire as app role: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	var part string
	if err := pool.QueryRow(ctx, `SELECT name FROM audit_partitions ORDER BY range_start LIMIT 1`).Scan(&part); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE audit_events SET actor = 'mallory' WHERE seq = 3`,
		`DELETE FROM audit_events WHERE seq = 3`,
		`TRUNCATE audit_events`,
		`UPDATE ` + part + ` SET actor = 'mallory' WHERE seq = 3`,
		`DELETE FROM ` + part + ` WHERE seq = 3`,
		`TRUNCATE ` + part,
		`UPDATE audit_checkpoints SET seq = seq + 1`,
		`DELETE FROM audit_checkpoints`,
		`TRUNCATE audit_checkpoints`,
		`DELETE FROM audit_tip`,
		`TRUNCATE audit_tip`,
		`UPDATE audit_tip SET seq = 1`,
		`DELETE FROM subject_keys`,
		`TRUNCATE subject_keys`,
		`UPDATE subject_keys SET key = decode(repeat('00', 32), 'hex'), shredded_at = NULL WHERE subject = 'user-3'`,
		`TRUNCATE audit_expiries`,
		`DROP TABLE ` + part,
	} {
		for _, who := range []struct {
			name string
			pool *pgxpool.Pool
		}{{"app", app}, {"owner", pool}} {
			_, err := who.pool.Exec(ctx, stmt)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				if who.name == "owner" && strings.HasPrefix(stmt, "DROP") {
					continue // the owner may drop tables; Verify reports the hole below
				}
				t.Errorf("%s: %s: err = %v, want a refusal", who.name, stmt, err)
				continue
			}
			if pgErr.Code != "42501" { // insufficient_privilege, from the grants or the triggers
				t.Errorf("%s: %s: %s %s", who.name, stmt, pgErr.Code, pgErr.Message)
			}
		}
	}
	// The owner's DROP above removed the partition, bypassing audit_expire: Verify
	// reports the rows as missing.
	if rep := mustVerify(t, pool, key.Public().(ed25519.PublicKey)); rep.OK || rep.FirstBad != 1 {
		t.Fatalf("after the owner dropped a partition: %+v", rep)
	}
}

// Several processes appending to one database get one gap-free chain: the tip row lock
// orders their batches.
func TestConcurrentWriters(t *testing.T) {
	pool := pgtest.Pool(t)
	key := testKey(t)
	const writers, each = 3, 400
	logs := make([]*Log, writers)
	for i := range logs {
		logs[i] = startLog(t, pool, key, func(c *Config) { c.CheckpointEvery = 97 })
	}
	var wg sync.WaitGroup
	for _, l := range logs {
		for g := range 8 {
			wg.Go(func() {
				for i := range each / 8 {
					if err := l.Append(context.Background(), sampleEvent(g*1000+i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	for _, l := range logs {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	rep := mustVerify(t, pool, key.Public().(ed25519.PublicKey))
	if !rep.OK || rep.Rows != writers*each || rep.Head.Seq != writers*each {
		t.Fatalf("verify: %+v", rep)
	}
}
