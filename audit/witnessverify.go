package audit

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// WitnessReport is the outcome of VerifyWitness.
type WitnessReport struct {
	// Witnessed counts the records given; Verified those whose signature verified.
	Witnessed int
	Verified  int
	// Latest is the newest witnessed head with a good signature.
	Latest Head
	// Problems holds at most one finding per kind, the one with the lowest sequence
	// number, ordered by Seq.
	Problems []*WitnessError
}

// OK reports whether the database agrees with every witnessed checkpoint.
func (r *WitnessReport) OK() bool { return len(r.Problems) == 0 }

// FirstBad is the lowest bad sequence number over all findings, or 0.
func (r *WitnessReport) FirstBad() int64 {
	if len(r.Problems) == 0 {
		return 0
	}
	return r.Problems[0].Seq
}

// Err returns nil when OK, else every finding joined; errors.Is matches each kind.
func (r *WitnessReport) Err() error {
	errs := make([]error, len(r.Problems))
	for i, p := range r.Problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// VerifyWitness checks the database against checkpoints kept by a witness (README
// "Witness"). Every record must verify under pub; the ones that do must each still be
// in audit_checkpoints unchanged, the tip must not be behind any of them, and the row
// at each witnessed sequence number must still be there with the witnessed hash (rows
// expired by retention are bridged by audit_expiries). Read the witness before calling:
// a record is written only after its checkpoint committed, so a witness read first never
// names a checkpoint this snapshot cannot see.
//
// It returns an error only when the database cannot be read; findings are in the
// report. It checks no more than the witnessed heads: run Verify for the chain itself.
func VerifyWitness(ctx context.Context, pool *pgxpool.Pool, pub ed25519.PublicKey, witnessed []Checkpoint) (WitnessReport, error) {
	rep := WitnessReport{Witnessed: len(witnessed)}
	if len(pub) != ed25519.PublicKeySize {
		return rep, fmt.Errorf("%w: public key length %d", ErrConfig, len(pub))
	}
	f := findings{}
	good := make([]Checkpoint, 0, len(witnessed))
	for i := range witnessed {
		c := &witnessed[i]
		if !c.Verify(pub) {
			f.add(ErrWitnessSignature, c.Seq, "the witness record of checkpoint %d (key id %x) does not verify under the audit public key",
				c.Seq, c.KeyID)
			continue
		}
		good = append(good, *c)
	}
	rep.Verified = len(good)
	if len(good) == 0 {
		rep.Problems = f.sorted()
		return rep, nil
	}
	slices.SortStableFunc(good, func(a, b Checkpoint) int { return cmp.Compare(a.Seq, b.Seq) })
	good = slices.CompactFunc(good, func(a, b Checkpoint) bool { return a.equal(&b) })
	last := &good[len(good)-1]
	rep.Latest = Head{Seq: last.Seq, Hash: last.Head}

	db, err := readWitnessed(ctx, pool, good)
	if err != nil {
		return rep, err
	}
	prevGood := int64(0) // the last witnessed head the database still matches
	for i := range good {
		w := &good[i]
		if d, ok := db.checkpoints[w.Seq]; !ok {
			f.add(ErrWitnessCheckpointDeleted, w.Seq, "checkpoint %d, signed %s, is missing from audit_checkpoints",
				w.Seq, w.SignedAt.Format(time.RFC3339))
		} else if !d.equal(w) {
			f.add(ErrWitnessCheckpointDeleted, w.Seq, "checkpoint %d in audit_checkpoints is not the witnessed one: it was deleted and another signed in its place",
				w.Seq)
		}
		if db.tip < w.Seq {
			f.add(ErrWitnessTipRewound, db.tip+1, "the tip is at %d, behind the witnessed checkpoint at %d", db.tip, w.Seq)
		}
		switch hashes := db.rows[w.Seq]; {
		case w.Seq < db.start-1:
			prevGood = w.Seq // expired; the expiry record and later heads vouch for it
		case w.Seq == db.start-1:
			if db.startPrev != w.Head {
				f.add(ErrWitnessTruncated, prevGood+1, "the expiry record at %d does not match the witnessed head", w.Seq)
				continue
			}
			prevGood = w.Seq
		case len(hashes) == 0 && db.lastRow < w.Seq:
			f.add(ErrWitnessTruncated, max(db.lastRow, prevGood)+1,
				"the chain ends at %d; the witnessed checkpoint at %d signed rows up to %d", db.lastRow, w.Seq, w.Seq)
		case len(hashes) == 0:
			f.add(ErrWitnessTruncated, prevGood+1, "row %d, a witnessed head, is missing", w.Seq)
		case !allEqual(hashes, w.Head):
			f.add(ErrWitnessTruncated, prevGood+1, "row %d does not match the witnessed head: rows %d..%d were replaced",
				w.Seq, prevGood+1, w.Seq)
		default:
			prevGood = w.Seq
		}
	}
	rep.Problems = f.sorted()
	return rep, nil
}

// witnessedState is what the database holds at the witnessed sequence numbers.
type witnessedState struct {
	tip         int64
	start       int64 // first sequence number not expired
	startPrev   [32]byte
	lastRow     int64
	checkpoints map[int64]Checkpoint
	rows        map[int64][][32]byte // every row stored at the seq; more than one is tampering
}

func readWitnessed(ctx context.Context, pool *pgxpool.Pool, cps []Checkpoint) (*witnessedState, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: verify witness: %w", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY`); err != nil {
		return nil, fmt.Errorf("audit: verify witness: %w", err)
	}
	st := &witnessedState{checkpoints: map[int64]Checkpoint{}, rows: map[int64][][32]byte{}}
	if err := tx.QueryRow(ctx, `SELECT seq FROM audit_tip`).Scan(&st.tip); err != nil {
		return nil, fmt.Errorf("audit: verify witness: tip: %w", err)
	}
	if st.start, st.startPrev, err = chainStart(ctx, tx); err != nil {
		return nil, err
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM audit_events`).Scan(&st.lastRow); err != nil {
		return nil, fmt.Errorf("audit: verify witness: %w", err)
	}
	want := make([]int64, 0, len(cps))
	for i := range cps {
		if len(want) == 0 || want[len(want)-1] != cps[i].Seq {
			want = append(want, cps[i].Seq)
		}
	}
	rows, err := tx.Query(ctx, `SELECT seq, head, signed_at, key_id, signature FROM audit_checkpoints
		WHERE seq = ANY($1)`, want)
	if err != nil {
		return nil, fmt.Errorf("audit: verify witness: checkpoints: %w", err)
	}
	for rows.Next() {
		var c checkpoint
		var head, keyID []byte
		var at time.Time
		if err := rows.Scan(&c.seq, &head, &at, &keyID, &c.signature); err != nil {
			return nil, fmt.Errorf("audit: verify witness: checkpoints: %w", err)
		}
		copy(c.head[:], head)
		copy(c.keyID[:], keyID)
		c.signedAt = at.UnixMicro()
		st.checkpoints[c.seq] = c.public()
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: verify witness: checkpoints: %w", err)
	}
	rows, err = tx.Query(ctx, `SELECT seq, hash FROM audit_events WHERE seq = ANY($1)`, want)
	if err != nil {
		return nil, fmt.Errorf("audit: verify witness: rows: %w", err)
	}
	for rows.Next() {
		var seq int64
		var hash []byte
		if err := rows.Scan(&seq, &hash); err != nil {
			return nil, fmt.Errorf("audit: verify witness: rows: %w", err)
		}
		var h [32]byte
		copy(h[:], hash) // a stored hash of another length cannot equal a head
		if len(hash) != 32 {
			h[0] ^= 1
		}
		st.rows[seq] = append(st.rows[seq], h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: verify witness: rows: %w", err)
	}
	return st, nil
}

func allEqual(hashes [][32]byte, head [32]byte) bool {
	for _, h := range hashes {
		if subtle.ConstantTimeCompare(h[:], head[:]) != 1 {
			return false
		}
	}
	return true
}

// findings keeps, per kind, the finding with the lowest sequence number.
type findings map[error]*WitnessError

func (f findings) add(kind error, seq int64, format string, args ...any) {
	if p, ok := f[kind]; ok && p.Seq <= seq {
		return
	}
	f[kind] = &WitnessError{Kind: kind, Seq: seq, Reason: fmt.Sprintf(format, args...)}
}

// witnessKinds fixes the order of findings at the same sequence number.
var witnessKinds = []error{ErrWitnessTruncated, ErrWitnessTipRewound, ErrWitnessCheckpointDeleted, ErrWitnessSignature}

func (f findings) sorted() []*WitnessError {
	var out []*WitnessError
	for _, k := range witnessKinds {
		if p, ok := f[k]; ok {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b *WitnessError) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}
