package audit

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"go.uber.org/goleak"

	"github.com/sealroom/sealroom/migrations"
	"github.com/sealroom/sealroom/migrations/localpg"
	"github.com/sealroom/sealroom/migrations/pgtest"
)

// Environment of the child writer process used by TestSIGKILL (see TestMain).
const (
	envChild = "SEALROOM_AUDIT_CHILD"
	envURL   = "SEALROOM_AUDIT_CHILD_URL"
	envSpool = "SEALROOM_AUDIT_CHILD_SPOOL"
	envSeed  = "SEALROOM_AUDIT_CHILD_SEED"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		os.Exit(childWriter())
	}
	// A test that leaves a goroutine behind (a writer, a checkpointer) fails the run.
	goleak.VerifyTestMain(m)
}

// childWriter appends events from 32 goroutines as fast as it can and prints each
// acknowledged id, until it is killed.
func childWriter() int {
	seed, err := hex.DecodeString(os.Getenv(envSeed))
	if err != nil || len(seed) != ed25519.SeedSize {
		fmt.Fprintln(os.Stderr, "bad seed")
		return 2
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv(envURL))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	l, err := New(Config{Pool: pool, SpoolDir: os.Getenv(envSpool), Key: ed25519.NewKeyFromSeed(seed),
		CheckpointEvery: 100, CommitTimeout: time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := l.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				ev := sampleEvent(i)
				ev.ID = uuid.Must(uuid.NewV7())
				ev.Details = map[string]string{"g": fmt.Sprint(g), "i": fmt.Sprint(i)}
				if err := l.Append(ctx, ev); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return
				}
				mu.Lock()
				fmt.Fprintln(out, ev.ID)
				_ = out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return 1
}

// A writer killed with SIGKILL mid-batch loses nothing it acknowledged: with Postgres up
// (acks follow commit) and with Postgres unreachable (acks follow the spool's fdatasync,
// and a new writer on the same spool drains it).
func TestSIGKILL(t *testing.T) {
	for _, mode := range []string{"postgres", "spool"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.Pool(t)
			key := testKey(t)
			spoolDir := t.TempDir()
			url := pool.Config().ConnString()
			if mode == "spool" {
				url = "postgres://postgres@/nowhere?host=" + filepath.Join(t.TempDir(), "no-socket") + "&sslmode=disable&connect_timeout=1"
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envChild+"=1", envURL+"="+url, envSpool+"="+spoolDir,
				envSeed+"="+hex.EncodeToString(key.Seed()))
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var acked []uuid.UUID
			sc := bufio.NewScanner(stdout)
			deadline := time.Now().Add(30 * time.Second)
			for sc.Scan() {
				id, err := uuid.Parse(sc.Text())
				if err != nil {
					continue // a line torn by the kill was never a complete ack
				}
				acked = append(acked, id)
				if len(acked) == 3000 || time.Now().After(deadline) {
					_ = cmd.Process.Signal(syscall.SIGKILL)
					break
				}
			}
			for sc.Scan() { // acks printed between the signal and the exit count too
				if id, err := uuid.Parse(sc.Text()); err == nil {
					acked = append(acked, id)
				}
			}
			_ = cmd.Wait()
			if len(acked) < 1000 {
				t.Fatalf("child acknowledged only %d events", len(acked))
			}

			// A new writer on the same spool drains whatever the child spooled.
			l := startLog(t, pool, key, func(c *Config) { c.SpoolDir = spoolDir })
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			checkPresentOnce(t, pool, acked)
			if mode == "spool" && l.Stats().Drained < int64(len(acked)) {
				t.Fatalf("drained %d, acked %d", l.Stats().Drained, len(acked))
			}
			if rep := mustVerify(t, pool, key.Public().(ed25519.PublicKey)); !rep.OK {
				t.Fatalf("verify: %+v", rep)
			}
		})
	}
}

// checkPresentOnce fails unless every id is in the log exactly once and no id is there
// twice, and returns each id's sequence number.
func checkPresentOnce(t *testing.T, pool *pgxpool.Pool, ids []uuid.UUID) map[uuid.UUID]int64 {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT id, seq FROM audit_events`)
	if err != nil {
		t.Fatal(err)
	}
	seqs := map[uuid.UUID]int64{}
	for rows.Next() {
		var id uuid.UUID
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			t.Fatal(err)
		}
		if _, dup := seqs[id]; dup {
			t.Fatalf("event %s stored twice", id)
		}
		seqs[id] = seq
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, ok := seqs[id]; !ok {
			t.Fatalf("acknowledged event %s is missing (%d acked, %d stored)", id, len(ids), len(seqs))
		}
	}
	return seqs
}

// Postgres stopped for 30 s while events are appended at a steady rate: every
// acknowledged event is present exactly once, in each producer's order, and the chain
// verifies. Runs on a throwaway cluster so other packages' tests keep theirs.
func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := localpg.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	url, err := c.Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Stop(context.Background())
		_ = os.RemoveAll(filepath.Dir(c.Dir))
		_ = os.RemoveAll(c.Socket)
	})
	pool, err := pgxpool.New(ctx, url+"&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	m, err := migrations.New(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	_ = m.Close()

	key := testKey(t)
	l := startLog(t, pool, key, func(c *Config) {
		c.CheckpointEvery = 500
		c.CommitTimeout = 2 * time.Second
		c.RetryInterval = 200 * time.Millisecond
	})

	const producers = 4
	const rate = 50 // events per second per producer
	acked := make([][]uuid.UUID, producers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			tick := time.NewTicker(time.Second / rate)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				ev := sampleEvent(i)
				ev.ID = uuid.Must(uuid.NewV7())
				if err := l.Append(ctx, ev); err != nil {
					t.Errorf("producer %d: append %d: %v", p, i, err)
					return
				}
				acked[p] = append(acked[p], ev.ID)
			}
		})
	}
	time.Sleep(3 * time.Second)
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Second)
	if _, err := c.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Spooled == 0 || st.Drained != st.Spooled || st.Failed != 0 {
		t.Fatalf("stats %+v: want events spooled during the outage and all drained", st)
	}
	var all []uuid.UUID
	for _, ids := range acked {
		all = append(all, ids...)
	}
	seqs := checkPresentOnce(t, pool, all)
	for p, ids := range acked {
		for i := 1; i < len(ids); i++ {
			if seqs[ids[i]] <= seqs[ids[i-1]] {
				t.Fatalf("producer %d: event %d chained at %d, before its predecessor at %d", p, i, seqs[ids[i]], seqs[ids[i-1]])
			}
		}
	}
	rep := mustVerify(t, pool, key.Public().(ed25519.PublicKey))
	if !rep.OK || rep.Rows != int64(len(all)) {
		t.Fatalf("verify: %+v (acked %d)", rep, len(all))
	}
	t.Logf("acked %d events, %d spooled during the outage, all drained; %d checkpoints", len(all), st.Spooled, rep.Checkpoints)
}
