package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Head is a chain position: a sequence number and the hash of the row there.
type Head struct {
	Seq  int64
	Hash [32]byte
}

// VerifyReport is the outcome of Verify. OK is true when nothing is wrong; otherwise
// FirstBad is the lowest sequence number at which the stored log departs from what was
// appended, and Reason says how.
type VerifyReport struct {
	OK       bool
	FirstBad int64
	Reason   string
	// Rows and Checkpoints count what was checked: rows recomputed and checkpoint
	// signatures verified.
	Rows        int64
	Checkpoints int64
	// FirstSeq is the first sequence number still stored (after retention expiry).
	FirstSeq int64
	// Head is the last row verified; SignedHead the last checkpoint covering it.
	Head       Head
	SignedHead Head
	// Unsigned counts rows after the last checkpoint: they are chained but not yet signed.
	Unsigned int64
}

func (r *VerifyReport) fail(seq int64, format string, args ...any) {
	if !r.OK && r.FirstBad != 0 && r.FirstBad <= seq {
		return
	}
	r.OK = false
	r.FirstBad = seq
	r.Reason = fmt.Sprintf(format, args...)
}

// Verify recomputes the whole chain from the stored bytes and checks every checkpoint
// signature against pub. It returns an error only when the log cannot be read; tampering
// is reported in the VerifyReport. Rows removed by retention are bridged by
// audit_expiries (the last hash before the gap) and by the checkpoints after it.
func Verify(ctx context.Context, pool *pgxpool.Pool, pub ed25519.PublicKey) (VerifyReport, error) {
	rep := VerifyReport{OK: true}
	if len(pub) != ed25519.PublicKeySize {
		return rep, fmt.Errorf("%w: public key length %d", ErrConfig, len(pub))
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	// One snapshot for tip, checkpoints and rows.
	if _, err := tx.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY`); err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}

	var tipSeq int64
	var tipHash []byte
	if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_tip`).Scan(&tipSeq, &tipHash); err != nil {
		return rep, fmt.Errorf("audit: verify: tip: %w", err)
	}

	start, prev, err := chainStart(ctx, tx)
	if err != nil {
		return rep, err
	}
	rep.FirstSeq = start

	cps, err := loadCheckpoints(ctx, tx)
	if err != nil {
		return rep, err
	}
	for i := range cps {
		rep.Checkpoints++
		if !cps[i].verify(pub) {
			rep.fail(cps[i].seq, "checkpoint at %d: signature does not verify", cps[i].seq)
		}
	}

	rows, err := tx.Query(ctx, `SELECT seq, id, chained_at, occurred_at, actor, actor_role, action,
		target_kind, target_id, room, outcome, request_id, subject, details, personal, prev_hash, hash
		FROM audit_events ORDER BY seq`)
	if err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	defer rows.Close()
	expect := start
	ci := 0
	for ci < len(cps) && cps[ci].seq < start {
		ci++ // signed before expiry; their rows are gone
	}
	lastGood := start - 1 // last sequence number covered by a matching checkpoint
	var scratch []byte
	var r row
	var chainedAt, occurredAt time.Time
	var prevHash, hash []byte
	broken := false
	for rows.Next() {
		if err := rows.Scan(&r.seq, &r.id, &chainedAt, &occurredAt, &r.actor, &r.actorRole, &r.action,
			&r.targetKind, &r.targetID, &r.room, &r.outcome, &r.requestID, &r.subject, &r.details,
			&r.personal, &prevHash, &hash); err != nil {
			return rep, fmt.Errorf("audit: verify: %w", err)
		}
		r.chainedAt, r.occurredAt = chainedAt.UnixMicro(), occurredAt.UnixMicro()
		rep.Rows++
		if broken {
			continue // the chain is broken from FirstBad on; keep counting rows
		}
		switch {
		case r.seq < expect:
			rep.fail(r.seq, "row %d appears more than once or out of order", r.seq)
			broken = true
			continue
		case r.seq > expect:
			rep.fail(expect, "rows %d..%d are missing", expect, r.seq-1)
			broken = true
			continue
		}
		if len(prevHash) != 32 || subtle.ConstantTimeCompare(prevHash, prev[:]) != 1 {
			rep.fail(r.seq, "row %d: prev_hash does not match row %d", r.seq, r.seq-1)
			broken = true
			continue
		}
		copy(r.prevHash[:], prevHash)
		var sum [32]byte
		sum, scratch = r.chainHash(scratch)
		if len(hash) != 32 || subtle.ConstantTimeCompare(hash, sum[:]) != 1 {
			rep.fail(r.seq, "row %d: stored data does not match its hash", r.seq)
			broken = true
			continue
		}
		prev = sum
		rep.Head = Head{Seq: r.seq, Hash: sum}
		expect = r.seq + 1
		for ci < len(cps) && cps[ci].seq <= r.seq {
			c := &cps[ci]
			if c.seq == r.seq && c.head != sum {
				rep.fail(lastGood+1, "checkpoint at %d does not match the chain: rows %d..%d were rewritten",
					c.seq, lastGood+1, c.seq)
			}
			lastGood = c.seq
			rep.SignedHead = Head{Seq: c.seq, Hash: c.head}
			ci++
		}
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	if broken {
		return rep, nil
	}
	last := expect - 1
	switch {
	case tipSeq > last:
		rep.fail(last+1, "rows %d..%d are missing at the end (the tip is at %d)", last+1, tipSeq, tipSeq)
	case ci < len(cps):
		rep.fail(last+1, "a checkpoint at %d signs rows that are missing after %d", cps[ci].seq, last)
	case tipSeq < last:
		rep.fail(tipSeq+1, "rows after the tip (%d) were added outside the writer", tipSeq)
	case last > 0 && subtle.ConstantTimeCompare(tipHash, rep.Head.Hash[:]) != 1:
		rep.fail(last, "the tip hash does not match row %d", last)
	}
	rep.Unsigned = last - max(rep.SignedHead.Seq, start-1)
	return rep, nil
}

// chainStart returns where the stored chain starts, after the last partition expired
// by retention, if any, and the hash of the row before it.
func chainStart(ctx context.Context, tx pgx.Tx) (start int64, prev [32]byte, err error) {
	start = 1
	var lastSeq *int64
	var lastHash []byte
	err = tx.QueryRow(ctx, `SELECT last_seq, last_hash FROM audit_expiries
		WHERE last_seq IS NOT NULL ORDER BY last_seq DESC LIMIT 1`).Scan(&lastSeq, &lastHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return start, prev, nil
	}
	if err != nil {
		return start, prev, fmt.Errorf("audit: verify: expiries: %w", err)
	}
	if lastSeq != nil {
		start = *lastSeq + 1
		copy(prev[:], lastHash)
	}
	return start, prev, nil
}

func loadCheckpoints(ctx context.Context, tx pgx.Tx) ([]checkpoint, error) {
	rows, err := tx.Query(ctx, `SELECT seq, head, signed_at, key_id, signature FROM audit_checkpoints ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("audit: verify: checkpoints: %w", err)
	}
	defer rows.Close()
	var out []checkpoint
	for rows.Next() {
		var c checkpoint
		var head, keyID []byte
		var at time.Time
		if err := rows.Scan(&c.seq, &head, &at, &keyID, &c.signature); err != nil {
			return nil, fmt.Errorf("audit: verify: checkpoints: %w", err)
		}
		copy(c.head[:], head)
		copy(c.keyID[:], keyID)
		c.signedAt = at.UnixMicro()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: verify: checkpoints: %w", err)
	}
	return out, nil
}

// LatestCheckpoint returns the newest signed checkpoint as a Head, without verifying
// anything: the figure to publish in the compliance report, so a later Verify can be
// compared against it (a rewound tip with deleted checkpoints shows up only that way).
func LatestCheckpoint(ctx context.Context, pool *pgxpool.Pool) (Head, time.Time, error) {
	var h Head
	var head []byte
	var at time.Time
	err := pool.QueryRow(ctx, `SELECT seq, head, signed_at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`).
		Scan(&h.Seq, &head, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return Head{}, time.Time{}, nil
	}
	if err != nil {
		return Head{}, time.Time{}, fmt.Errorf("audit: latest checkpoint: %w", err)
	}
	copy(h.Hash[:], head)
	return h, at, nil
}
