package audit

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dedupeWindow bounds how far back (in chained_at) the writer looks for an event ID that
// is already present, so the lookup touches only recent partitions. A duplicate first
// chained more than this before its own Time is not detected.
const dedupeWindow = 7 * 24 * time.Hour

const (
	lockTipSQL = `SELECT seq, hash, chained_at, checkpoint_seq, checkpoint_at, clock_timestamp()
		FROM audit_tip FOR UPDATE`
	presentSQL  = `SELECT id FROM audit_events WHERE id = ANY($1) AND chained_at >= $2`
	keysSQL     = `SELECT subject, key FROM subject_keys WHERE subject = ANY($1)`
	moveTipSQL  = `UPDATE audit_tip SET seq = $1, hash = $2, chained_at = $3, checkpoint_seq = $4, checkpoint_at = $5`
	insertCPSQL = `INSERT INTO audit_checkpoints (seq, head, signed_at, key_id, signature) VALUES ($1, $2, $3, $4, $5)`
)

// tip is the audit_tip row.
type tip struct {
	seq           int64
	hash          []byte
	chainedAt     time.Time
	checkpointSeq int64
	checkpointAt  time.Time
	clock         time.Time
}

// openTx is a transaction that has taken the tip lock and looked up what a batch needs:
// which of its IDs are already chained and its subjects' keys.
type openTx struct {
	pc      *pgxpool.Conn
	entries *entry // first entry of the batch it was opened for
	t       tip
	found   map[uuid.UUID]bool
	keys    map[string][]byte
	subs    []string
}

// queueBegin adds BEGIN, the tip lock and the lookups for entries to batch; their
// results land in o.
func queueBegin(batch *pgx.Batch, o *openTx, entries []entry) {
	ids, subs, since := lookups(entries)
	o.subs = subs
	o.found = map[uuid.UUID]bool{}
	o.keys = map[string][]byte{}
	if len(entries) > 0 {
		o.entries = &entries[0]
	}
	batch.Queue("BEGIN")
	batch.Queue(lockTipSQL).QueryRow(func(r pgx.Row) error {
		t := &o.t
		return r.Scan(&t.seq, &t.hash, &t.chainedAt, &t.checkpointSeq, &t.checkpointAt, &t.clock)
	})
	if len(ids) > 0 {
		batch.Queue(presentSQL, ids, since).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id [16]byte
				if err := rows.Scan(&id); err != nil {
					return err
				}
				o.found[id] = true
			}
			return rows.Err()
		})
	}
	if len(subs) > 0 {
		batch.Queue(keysSQL, subs).Query(func(rows pgx.Rows) error { return scanKeys(rows, o.keys) })
	}
}

// commit chains entries in one transaction: lock the tip, skip IDs already present,
// seal personal data, hash, COPY, sign a checkpoint when due, move the tip, commit. The
// tip row lock is what makes sequence numbers gap-free across processes.
//
// Statements are pipelined: a batch costs a round trip to begin, lock and look up, the
// COPY, and a round trip to checkpoint, move the tip and commit. When next is not nil
// (the following batch is already queued) that last round trip also begins next's
// transaction, so a busy writer pays two round trips per batch. With no entries commit
// only signs a checkpoint if one is due.
func (w *writer) commit(entries []entry, force bool, next []entry) error {
	cfg := &w.l.cfg
	ctx, cancel := context.WithTimeout(context.Background(), cfg.CommitTimeout)
	defer cancel()

	o := w.open
	w.open = nil
	if o != nil && (len(entries) == 0 || o.entries != &entries[0]) {
		o.abandon()
		o = nil
	}
	if o == nil {
		pc, err := w.l.pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("audit: acquire: %w", err)
		}
		o = &openTx{pc: pc}
		batch := &pgx.Batch{}
		queueBegin(batch, o, entries)
		if err := pc.Conn().SendBatch(ctx, batch).Close(); err != nil {
			o.abandon()
			return fmt.Errorf("audit: lock tip: %w", err)
		}
	}
	committed, handedOver := false, false
	defer func() {
		zeroKeys(o.keys)
		switch {
		case handedOver:
		case committed && next == nil:
			o.pc.Release()
		default:
			o.abandon()
		}
	}()
	conn := o.pc.Conn()
	t := &o.t
	if err := w.createKeys(ctx, conn, o.subs, o.keys); err != nil {
		return err
	}

	now := t.clock
	if cfg.Now != nil {
		now = cfg.Now()
	}
	// chained_at never goes backwards, so each month partition holds one contiguous
	// run of sequence numbers and expiry leaves a contiguous tail.
	chained := now.Truncate(time.Microsecond)
	if chained.Before(t.chainedAt) {
		chained = t.chainedAt
	}
	month := chained.UTC().Year()*12 + int(chained.UTC().Month())
	ensured := false
	if len(entries) > 0 && !w.parts[month] {
		if _, err := conn.Exec(ctx, `SELECT audit_ensure_partition($1)`, chained); err != nil {
			return fmt.Errorf("audit: ensure partition: %w", err)
		}
		ensured = true
	}

	c := &w.chain
	if err := c.reset(entries, skipped(entries, o.found), o.keys, t.seq, t.hash, chained.UnixMicro()); err != nil {
		return err
	}
	defer c.release()
	if len(entries) > 0 {
		if _, err := conn.PgConn().CopyFrom(ctx, c, copyEventsSQL); err != nil {
			return fmt.Errorf("audit: copy: %w", err)
		}
	}
	newSeq, head := c.seq, c.prev

	cpSeq, cpAt := t.checkpointSeq, t.checkpointAt
	batch := &pgx.Batch{}
	var cp *checkpoint
	if newSeq > t.checkpointSeq && (force || newSeq-t.checkpointSeq >= cfg.CheckpointEvery ||
		now.Sub(t.checkpointAt) >= cfg.CheckpointInterval) {
		cp = &checkpoint{seq: newSeq, head: head, signedAt: now.UnixMicro()}
		cp.sign(cfg.Key)
		cpSeq, cpAt = newSeq, time.UnixMicro(cp.signedAt)
		batch.Queue(insertCPSQL, cp.seq, cp.head[:], cpAt, cp.keyID[:], cp.signature)
	}
	if newSeq != t.seq || cpSeq != t.checkpointSeq {
		batch.Queue(moveTipSQL, newSeq, head[:], chained, cpSeq, cpAt)
	}
	batch.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return errCommitRolledBack
		}
		committed = true
		return nil
	})
	var n *openTx
	if len(next) > 0 {
		n = &openTx{pc: o.pc}
		queueBegin(batch, n, next)
	}
	err := conn.SendBatch(ctx, batch).Close()
	if !committed {
		if err == nil {
			err = errCommitRolledBack
		}
		return fmt.Errorf("audit: commit: %w", err)
	}
	if ensured {
		w.parts[month] = true
	}
	w.l.stats.checkpointAt.Store(cpAt.UnixMicro())
	w.l.stats.unsigned.Store(newSeq - cpSeq)
	// Only a committed checkpoint is witnessed: a witness line always names a
	// checkpoint that existed in the database.
	if cp != nil && w.l.pump != nil {
		w.l.pump.add(cp.public())
	}
	if n != nil && err == nil {
		w.open, handedOver = n, true
	}
	return nil
}

// abandon rolls back whatever is open on the connection and releases it; a connection
// that does not answer is closed rather than returned to the pool.
func (o *openTx) abandon() {
	zeroKeys(o.keys)
	conn := o.pc.Conn()
	if !conn.IsClosed() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
			_ = conn.Close(ctx)
		}
		cancel()
	}
	o.pc.Release()
}

// lookups returns the IDs that may already be chained (chosen by the caller, or read
// back from the spool; a fresh UUIDv7 cannot be), the subjects that need a key, and the
// chained_at bound for the ID lookup.
func lookups(entries []entry) (ids [][16]byte, subs []string, since time.Time) {
	var oldest int64
	seen := map[string]bool{}
	for i := range entries {
		e := &entries[i]
		if e.givenID {
			if len(ids) == 0 || e.occurred < oldest {
				oldest = e.occurred
			}
			ids = append(ids, e.id)
		}
		if e.hasPersonal() && !seen[e.subject] {
			seen[e.subject] = true
			subs = append(subs, e.subject)
		}
	}
	return ids, subs, time.UnixMicro(oldest).Add(-dedupeWindow)
}

// skipped returns the indexes of entries already chained or repeated within the batch.
func skipped(entries []entry, found map[uuid.UUID]bool) map[int]bool {
	var skip map[int]bool
	var seen map[uuid.UUID]bool
	for i := range entries {
		e := &entries[i]
		if !e.givenID {
			continue
		}
		if seen == nil {
			seen = map[uuid.UUID]bool{}
		}
		if found[e.id] || seen[e.id] {
			if skip == nil {
				skip = map[int]bool{}
			}
			skip[i] = true
		}
		seen[e.id] = true
	}
	return skip
}

// createKeys gives every subject in subs without a key row a fresh random key,
// inside the batch transaction, and reads back what was stored (another process may
// have won the insert). A shredded subject keeps a nil key.
func (w *writer) createKeys(ctx context.Context, conn *pgx.Conn, subs []string, keys map[string][]byte) error {
	var missing []string
	var fresh [][]byte
	for _, s := range subs {
		if _, ok := keys[s]; ok {
			continue
		}
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return fmt.Errorf("audit: subject key: %w", err)
		}
		missing = append(missing, s)
		fresh = append(fresh, k)
	}
	if len(missing) == 0 {
		return nil
	}
	_, err := conn.Exec(ctx, `INSERT INTO subject_keys (subject, key)
		SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (subject) DO NOTHING`, missing, fresh)
	for _, k := range fresh {
		clear(k)
	}
	if err != nil {
		return fmt.Errorf("audit: subject key: %w", err)
	}
	rows, err := conn.Query(ctx, keysSQL, missing)
	if err != nil {
		return fmt.Errorf("audit: subject keys: %w", err)
	}
	if err := scanKeys(rows, keys); err != nil {
		return fmt.Errorf("audit: subject keys: %w", err)
	}
	for _, s := range missing {
		if _, ok := keys[s]; !ok {
			return ErrNoSubjectKey
		}
	}
	return nil
}
