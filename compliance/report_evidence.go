package compliance

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/audit"
)

// liveEvidence is everything the report reads from the deployment, gathered once before
// any control is judged: several controls share a reading (the audit verification backs
// both §164.312(b) and Art. 32), and each control stays a function of what was read.
type liveEvidence struct {
	d       Deployment
	dataMap *DataMap

	verify     reading[audit.VerifyReport]
	coverage   reading[Coverage]
	identities reading[int64]
	breakGlass reading[int64] // grants in the period
	exports    reading[int64] // in the period
	erasures   reading[int64] // in the period
	purges     reading[int64] // retention runs in the period
	holds      reading[int64] // active legal holds
	retention  reading[int]   // audit retention in months
	triggers   reading[int64] // append-only triggers on audit tables
	mls        reading[mlsCounts]
	consent    reading[consentCounts]
}

// reading is one value read from the deployment, or why it could not be read.
type reading[T any] struct {
	v   T
	err error
}

func read[T any](v T, err error) reading[T] { return reading[T]{v: v, err: err} }

// mlsCounts are the rooms keyed by an MLS group and the commits accepted in the period.
type mlsCounts struct{ groups, commits int64 }

// consentCounts are the rooms that require a notice and the acceptances in the period.
type consentCounts struct{ rooms, accepted int64 }

// gatherEvidence reads every source the controls need. A failed read is kept as its
// error; it does not stop the others.
func gatherEvidence(ctx context.Context, src Sources, d Deployment, since time.Time) *liveEvidence {
	pool := src.Pool
	return &liveEvidence{
		d: d, dataMap: src.DataMap,
		verify:     read(audit.Verify(ctx, pool, d.AuditKey)),
		coverage:   read(CheckCoverage(ctx, pool, src.DataMap)),
		identities: read(countIdentities(ctx, pool)),
		breakGlass: read(countAction(ctx, pool, audit.ActionBreakGlassGranted, since)),
		exports:    read(countAction(ctx, pool, audit.ActionGDPRExport, since)),
		erasures:   read(countAction(ctx, pool, audit.ActionGDPRErasure, since)),
		purges:     read(countAction(ctx, pool, audit.ActionRetentionPurged, since)),
		holds:      read(countActiveHolds(ctx, pool)),
		retention:  read(audit.Retention(ctx, pool)),
		triggers:   read(appendOnlyTriggers(ctx, pool)),
		mls:        read(countMLS(ctx, pool, since)),
		consent:    read(countConsents(ctx, pool, since)),
	}
}

func countIdentities(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT count(*) FROM identities`).Scan(&n)
	return n, err
}

func countAction(ctx context.Context, pool *pgxpool.Pool, a audit.Action, since time.Time) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = $1 AND occurred_at >= $2`, string(a), since).Scan(&n)
	return n, err
}

func countActiveHolds(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT count(*) FROM subject_legal_holds WHERE released_at IS NULL`).Scan(&n)
	return n, err
}

func appendOnlyTriggers(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `
		SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		WHERE NOT t.tgisinternal AND c.relname LIKE 'audit%' AND c.relkind IN ('r', 'p')`).Scan(&n)
	return n, err
}

func countMLS(ctx context.Context, pool *pgxpool.Pool, since time.Time) (mlsCounts, error) {
	var n mlsCounts
	err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM ks_rooms),
		(SELECT count(*) FROM audit_events WHERE action = $1 AND occurred_at >= $2)`,
		string(audit.ActionCommitAccepted), since).Scan(&n.groups, &n.commits)
	return n, err
}

func countConsents(ctx context.Context, pool *pgxpool.Pool, since time.Time) (consentCounts, error) {
	var n consentCounts
	err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM room_policies),
		(SELECT count(*) FROM consents WHERE accepted_at >= $1)`, since).Scan(&n.rooms, &n.accepted)
	return n, err
}
