package audit

import (
	"context"
	"crypto/rand"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sealroom/sealroom/migrations/pgtest"
)

// BenchmarkIngest measures sustained audit ingest (chain, per-subject sealing,
// checkpoints every 10000 events, durable acknowledgement of every event) against the
// baseline of the same run: plain CopyFrom of the same rows, already built, into an
// unchained table with the same columns and indexes. Run with an explicit count, e.g.
// -benchtime=200000x.
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b)
	if _, err := pool.Exec(ctx, `CREATE TABLE plain_events (LIKE audit_events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	key := testKey(b)
	l := startLog(b, pool, key, func(c *Config) { c.CheckpointEvery = 10000 })
	n := b.N

	// Baseline rows: the same events, sealed and hashed as the writer would.
	entries := make([]entry, n)
	for i := range entries {
		ev := sampleEvent(i)
		e, err := normalize(&ev, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		entries[i] = e
	}
	keys := map[string][]byte{}
	for i := range 7 {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		keys[sampleEvent(i).Actor] = k
	}
	rows := chainRows(b, entries, keys)
	// The baseline loads half its rows before the audit run and half after, so drift
	// in the machine's load affects both sides alike.
	var plainTime time.Duration
	copyPlain := func(rows []row) {
		const batch = 4096
		start := time.Now()
		for off := 0; off < len(rows); off += batch {
			tx, err := pool.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			src := &rowSource{rows: rows[off:min(off+batch, len(rows))]}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"plain_events"}, eventColumns, src); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
		plainTime += time.Since(start)
	}
	copyPlain(rows[:n/2])

	// Audit ingest: enough concurrent callers that a full batch is queued while the
	// previous one commits, as under a busy server.
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = sampleEvent(i)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range min(n, 2*l.cfg.MaxBatch) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := l.Append(ctx, evs[i]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	copyPlain(rows[n/2:])
	plain := float64(n) / plainTime.Seconds()
	chained := float64(n) / elapsed.Seconds()
	b.ReportMetric(chained, "events/s")
	b.ReportMetric(plain, "plain_rows/s")
	b.ReportMetric(chained/plain, "ratio")
	// Non-zero only if a commit failed and the writer fell back to the spool.
	b.ReportMetric(float64(l.Stats().Spooled), "spooled")
}

// BenchmarkAppendLatency paces appends at 10,000 events/s and reports the time from
// Append to durable acknowledgement. Run with e.g. -benchtime=20000x (two seconds).
func BenchmarkAppendLatency(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b)
	l := startLog(b, pool, testKey(b), func(c *Config) { c.CheckpointEvery = 10000 })
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; {
		<-tick.C
		// Release as many events as 10,000/s allows by now.
		due := min(int(time.Since(start)/(100*time.Microsecond)), b.N)
		for ; i < due; i++ {
			j := i
			wg.Go(func() {
				ev := sampleEvent(j)
				t0 := time.Now()
				if err := l.Append(ctx, ev); err != nil {
					b.Error(err)
				}
				lat[j] = time.Since(t0)
			})
		}
	}
	wg.Wait()
	b.StopTimer()
	rate := float64(b.N) / time.Since(start).Seconds()
	slices.Sort(lat)
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}

var eventColumns = []string{"seq", "id", "chained_at", "occurred_at", "actor", "actor_role",
	"action", "target_kind", "target_id", "room", "outcome", "request_id", "subject",
	"details", "personal", "prev_hash", "hash"}

// rowSource feeds rows to pgx's generic CopyFrom, for the baseline.
type rowSource struct {
	rows []row
	i    int
	vals [17]any
}

func (s *rowSource) Next() bool { s.i++; return s.i <= len(s.rows) }
func (s *rowSource) Err() error { return nil }
func (s *rowSource) Values() ([]any, error) {
	r := &s.rows[s.i-1]
	s.vals = [17]any{r.seq, r.id, time.UnixMicro(r.chainedAt), time.UnixMicro(r.occurredAt),
		r.actor, r.actorRole, r.action, r.targetKind, r.targetID, r.room, r.outcome,
		r.requestID, r.subject, r.details, r.personal, r.prevHash[:], r.hash[:]}
	return s.vals[:], nil
}

// chainRows builds the rows the writer would store for entries (IDs assigned, sealed,
// chained from genesis).
func chainRows(tb testing.TB, entries []entry, keys map[string][]byte) []row {
	tb.Helper()
	for i := range entries {
		if entries[i].id == uuid.Nil {
			entries[i].id = uuid.Must(uuid.NewV7())
		}
	}
	var c chainer
	if err := c.reset(entries, nil, keys, 0, make([]byte, 32), time.Now().UnixMicro()); err != nil {
		tb.Fatal(err)
	}
	var rows []row
	for {
		r, err := c.next()
		if err != nil {
			tb.Fatal(err)
		}
		if r == nil {
			return rows
		}
		cp := *r
		cp.personal = slices.Clone(r.personal)
		rows = append(rows, cp)
	}
}
