package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/migrations/pgtest"
)

// syncBuffer collects a command's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestServe starts the real binary's code path through run, as `sealroom serve` would,
// and talks to it over HTTP.
func TestServe(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": pgtest.URL(t), "SEALROOM_DATA": t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--migrate", "--addr", "127.0.0.1:0", "--media-addr", "127.0.0.1:0", "--drain-delay", "0s"},
			testEnv(vars), io.Discard, &stderr)
	}()

	base := waitServing(t, &stderr, done)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"token", "--room", "demo", "--identity", "alice", "--role", "clinician", "--ttl", "10m"},
		testEnv(vars), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", base+"/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(out.String()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"sub":"alice"`) {
		t.Fatalf("whoami: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(stderr.String(), strings.TrimSpace(out.String())) {
		t.Fatal("the token appears in the server's log")
	}

	// The node registered itself in the cluster registry: cluster status lists it, live.
	var status bytes.Buffer
	if err := run(ctx, []string{"cluster", "status"}, testEnv(vars), &status, io.Discard); err != nil {
		t.Fatalf("cluster status: %v", err)
	}
	if lines := strings.Split(status.String(), "\n"); len(lines) < 2 || !strings.Contains(lines[1], " live ") || !strings.Contains(lines[1], base) {
		t.Fatalf("cluster status:\n%s", status.String())
	}

	// The mint was audited, and the audit log verifies.
	pool, err := pgxpool.New(ctx, vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var minted int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'auth.token_minted'`).Scan(&minted); err != nil || minted != 1 {
		t.Fatalf("auth.token_minted events: %d, %v", minted, err)
	}
	var verify bytes.Buffer
	if err := run(ctx, []string{"audit", "verify"}, testEnv(vars), &verify, io.Discard); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, verify.String())
	}
	if !strings.HasPrefix(verify.String(), "OK: ") {
		t.Fatalf("audit verify: %q", verify.String())
	}
	// Subject rights from the CLI: export, then erase, then the export holds nothing personal.
	var exported bytes.Buffer
	if err := run(ctx, []string{"compliance", "export", "--subject", "alice", "--as", "dpo-1"}, testEnv(vars), &exported, io.Discard); err != nil {
		t.Fatalf("export: %v", err)
	}
	if !strings.Contains(exported.String(), `"subject": "alice"`) {
		t.Fatalf("export: %s", exported.String())
	}
	if err := run(ctx, []string{"compliance", "erase", "--subject", "alice", "--as", "dpo-1"}, testEnv(vars), io.Discard, io.Discard); err != nil {
		t.Fatalf("erase: %v", err)
	}
	if err := run(ctx, []string{"compliance", "erase", "--subject", "alice"}, testEnv(vars), io.Discard, io.Discard); err == nil {
		t.Fatal("erase without --as accepted")
	}
	var report bytes.Buffer
	if err := run(ctx, []string{"compliance", "report", "--format", "json"}, testEnv(vars), &report, io.Discard); err != nil {
		t.Fatalf("report: %v", err)
	}
	if !strings.Contains(report.String(), `"164.312(b)"`) {
		t.Fatalf("report: %.300s", report.String())
	}

	// Tampering makes it fail and name the row.
	if _, err := pool.Exec(ctx, `ALTER TABLE audit_events DISABLE TRIGGER USER; UPDATE audit_events SET room = 'x' WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	verify.Reset()
	if err := run(ctx, []string{"audit", "verify"}, testEnv(vars), &verify, io.Discard); err == nil || !strings.Contains(verify.String(), "first bad sequence number 1") {
		t.Fatalf("tampered log: %v %q", err, verify.String())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func waitServing(t *testing.T, stderr *syncBuffer, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "sealroom is serving on "); ok {
				return strings.TrimSpace(rest)
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("server did not start:\n%s", stderr.String())
	return ""
}

func TestMigrateCommand(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": pgtest.URL(t)}
	ctx := context.Background()
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "status"}, "current version 0"},
		{[]string{"migrate", "up"}, "applied"},
		{[]string{"migrate", "down", "--to", "0"}, "rolled back"},
		{[]string{"migrate", "status"}, "current version 0"},
		{[]string{"migrate"}, "applied"},
	}
	for _, s := range steps {
		var out bytes.Buffer
		if err := run(ctx, s.args, testEnv(vars), &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", s.args, err)
		}
		if !strings.Contains(out.String(), s.want) {
			t.Fatalf("%v: %q, want %q", s.args, out.String(), s.want)
		}
	}
	if err := run(ctx, []string{"migrate", "sideways"}, testEnv(vars), io.Discard, io.Discard); err == nil {
		t.Fatal("unknown action accepted")
	}
}

func TestServeNeedsDatabase(t *testing.T) {
	err := run(context.Background(), []string{"serve"}, testEnv(map[string]string{}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("serve without a database: %v", err)
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"serve", "migrate", "token", "version", "devdb"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{cmd, "--help"}, testEnv(nil), &out, io.Discard); err != nil {
			t.Fatalf("%s --help: %v", cmd, err)
		}
		if !strings.Contains(out.String(), "Usage:") {
			t.Fatalf("%s --help printed %q", cmd, out.String())
		}
	}
}
