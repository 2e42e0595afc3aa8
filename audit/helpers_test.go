package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

func testKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return priv
}

// startLog starts a Log on pool with a spool in a fresh temp dir; mod adjusts the config.
func startLog(tb testing.TB, pool *pgxpool.Pool, key ed25519.PrivateKey, mod func(*Config)) *Log {
	tb.Helper()
	cfg := Config{Pool: pool, SpoolDir: tb.TempDir(), Key: key, CheckpointEvery: 10}
	if mod != nil {
		mod(&cfg)
	}
	l, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := l.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	return l
}

func sampleEvent(i int) Event {
	return Event{
		Actor:     fmt.Sprintf("user-%d", i%7),
		ActorRole: "participant",
		Action:    ActionRoomJoin,
		Target:    Target{Kind: TargetRoom, ID: "room-1"},
		Room:      "room-1",
		Outcome:   OutcomeSuccess,
		RequestID: fmt.Sprintf("req-%d", i),
		Details:   map[string]string{"epoch": fmt.Sprint(i)},
		Personal:  Personal{SourceIP: "192.0.2.7", UserAgent: "test/1.0", Name: fmt.Sprintf("Name %d", i%7)},
	}
}

// appendN appends n sample events and fails the test on any error.
func appendN(tb testing.TB, l *Log, n int) {
	tb.Helper()
	ctx := context.Background()
	for i := range n {
		if err := l.Append(ctx, sampleEvent(i)); err != nil {
			tb.Fatalf("append %d: %v", i, err)
		}
	}
}

func mustVerify(tb testing.TB, pool *pgxpool.Pool, pub ed25519.PublicKey) VerifyReport {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Verify(ctx, pool, pub)
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

// superExec runs SQL as the superuser with triggers disabled, the way an attacker with
// database access would tamper.
func superExec(tb testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		tb.Fatal(err)
	}
	defer conn.Exec(ctx, `SET session_replication_role = DEFAULT`)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}
