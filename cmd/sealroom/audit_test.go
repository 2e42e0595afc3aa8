package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/migrations/pgtest"
)

// Every process that signs checkpoints appends them to SEALROOM_AUDIT_WITNESS, and
// `audit verify --witness` catches a truncated chain with a rewound tip and deleted
// checkpoints that plain `audit verify` accepts.
func TestAuditVerifyWitness(t *testing.T) {
	ctx := context.Background()
	witness := filepath.Join(t.TempDir(), "witness.jsonl")
	vars := map[string]string{"DATABASE_URL": pgtest.URL(t), "SEALROOM_DATA": t.TempDir(),
		"SEALROOM_AUDIT_WITNESS": witness}
	if err := run(ctx, []string{"migrate", "up"}, testEnv(vars), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	// Each mint is one process run: one event, signed and witnessed when it closes.
	for range 3 {
		if err := run(ctx, []string{"token", "--room", "demo", "--identity", "alice", "--role", "host"},
			testEnv(vars), io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"audit", "verify"}, args...), testEnv(vars), &out, io.Discard)
		return out.String(), err
	}
	out, err := verify("--witness", witness)
	if err != nil || !strings.Contains(out, "witness OK: 3 checkpoints") {
		t.Fatalf("untouched: %v\n%s", err, out)
	}

	// Truncate after row 1, delete the newer checkpoints, rewind the tip: as a DBA.
	conn, err := pgx.Connect(ctx, vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		`SET session_replication_role = replica`,
		`DELETE FROM audit_events WHERE seq > 1`,
		`DELETE FROM audit_checkpoints WHERE seq > 1`,
		`UPDATE audit_tip SET seq = 1, hash = (SELECT hash FROM audit_events WHERE seq = 1), checkpoint_seq = 1`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if out, err := verify(); err != nil || !strings.HasPrefix(out, "OK: 1 rows") {
		t.Fatalf("plain verify no longer accepts the truncated log (the hole this test shows): %v\n%s", err, out)
	}
	out, err = verify("--witness", witness)
	if !errors.Is(err, errVerifyFailed) || !errors.Is(err, audit.ErrWitnessTruncated) ||
		!strings.Contains(out, "WITNESS FAILED: first bad sequence number 2: audit: chain truncated") ||
		!strings.Contains(out, "tip rewound") || !strings.Contains(out, "checkpoint missing") {
		t.Fatalf("truncated: %v\n%s", err, out)
	}
	t.Logf("audit verify --witness:\n%s", out)
}
