package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// identityRecorder keeps the identities table (unique user identification, HIPAA
// §164.312(a)(2)(i)) current without putting a database write on the request path:
// sightings go through a bounded queue, and a subject is written at most once per
// refresh interval per process.
type identityRecorder struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	metrics *metrics
	queue   chan string
}

const identityRefresh = 10 * time.Minute

func newIdentityRecorder(pool *pgxpool.Pool, log *slog.Logger, m *metrics) *identityRecorder {
	return &identityRecorder{pool: pool, log: log, metrics: m, queue: make(chan string, 1024)}
}

func (r *identityRecorder) seen(subject string) {
	select {
	case r.queue <- subject:
	default:
		r.metrics.idsDropped.Inc()
	}
}

func (r *identityRecorder) run(ctx context.Context) {
	written := make(map[string]time.Time)
	for {
		select {
		case <-ctx.Done():
			return
		case sub := <-r.queue:
			now := time.Now()
			if t, ok := written[sub]; ok && now.Sub(t) < identityRefresh {
				continue
			}
			if len(written) > 100000 {
				clear(written)
			}
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := r.pool.Exec(wctx, `INSERT INTO identities (subject) VALUES ($1)
				ON CONFLICT (subject) DO UPDATE SET last_seen = now()`, sub)
			cancel()
			if err != nil {
				r.log.Warn("recording identity", "err", err)
				continue
			}
			written[sub] = now
		}
	}
}
