package audit

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// writer is the single goroutine that owns the spool and the batch buffers. Running one
// per process keeps events in submission order; the tip row lock orders processes.
type writer struct {
	l           *Log
	spool       *spool
	parts       map[int]bool // months (year*12+month) known to have a partition
	seg         *segment     // the batch being handled
	next        *segment     // the following batch, taken early to pipeline its BEGIN
	open        *openTx      // a transaction already begun for next
	chain       chainer
	nextDrain   time.Time // earliest next attempt to drain the spool
	nextTick    time.Time // next time-based checkpoint, on the Log's clock
	nextEnsure  time.Time // next creation of the coming month's partition
	drainBudget time.Duration
	rnd         []byte
}

func newWriter(l *Log, sp *spool) *writer {
	return &writer{
		l:           l,
		spool:       sp,
		parts:       make(map[int]bool),
		nextTick:    l.now().Add(l.cfg.CheckpointInterval),
		nextEnsure:  time.Now().Add(time.Hour),
		drainBudget: 200 * time.Millisecond,
	}
}

func (w *writer) run() {
	defer close(w.l.done)
	defer w.spool.close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(w.wake())
		select {
		case <-w.l.queue.notify:
		case <-timer.C:
		case <-w.l.stop:
			w.shutdown()
			return
		}
		for w.seg = w.take(); w.seg != nil; w.seg = w.take() {
			w.handle()
			// Under sustained load the queue never empties: drain and checkpoint
			// between batches too.
			w.housekeeping()
		}
		w.housekeeping()
	}
}

// take returns the batch taken early, if any, else the oldest queued one.
func (w *writer) take() *segment {
	if s := w.next; s != nil {
		w.next = nil
		return s
	}
	return w.l.queue.take()
}

// wake is how long the loop may sleep without missing a drain retry or checkpoint tick.
// It never sleeps longer than one interval, so a replaced clock (Config.Now) is looked
// at again at least that often.
func (w *writer) wake() time.Duration {
	d := min(w.nextTick.Sub(w.l.now()), w.l.cfg.CheckpointInterval)
	if w.spool.pending() {
		d = min(d, time.Until(w.nextDrain))
	}
	return max(d, time.Millisecond)
}

// handle makes the collected batch durable and acknowledges it: chained directly when
// the spool is empty and Postgres answers, otherwise appended to the spool behind the
// events already there, so order is kept.
func (w *writer) handle() {
	entries := w.seg.entries
	force := false
	for i := range entries {
		force = force || entries[i].force
	}
	if err := w.assignIDs(entries); err != nil {
		w.l.stats.failed.Add(int64(len(entries)))
		w.ack(fmt.Errorf("%w: %w", ErrNotRecorded, err), nil)
		return
	}
	if !w.spool.pending() {
		// Take the next batch now, so its transaction begins in this one's last round trip.
		var next []entry
		if w.next == nil {
			w.next = w.l.queue.take()
		}
		if w.next != nil && w.assignIDs(w.next.entries) == nil {
			next = w.next.entries
		}
		err := w.commit(entries, force, next)
		if err == nil {
			w.l.stats.committed.Add(int64(len(entries)))
			w.ack(nil, nil)
			return
		}
		w.l.log.Warn("audit: postgres append failed; spooling", "err", err, "events", len(entries))
		w.nextDrain = time.Now().Add(w.l.cfg.RetryInterval)
	}
	if err := w.spool.append(entries); err != nil {
		w.l.stats.failed.Add(int64(len(entries)))
		w.l.log.Error("audit: spool append failed; events not recorded", "err", err, "events", len(entries))
		w.ack(fmt.Errorf("%w: %w", ErrNotRecorded, err), nil)
		return
	}
	w.l.stats.spooled.Add(int64(len(entries)))
	w.ack(nil, ErrCheckpointDeferred)
}

// ack publishes the outcome of the current segment and wakes all its waiters.
func (w *writer) ack(err, forceErr error) {
	w.seg.err, w.seg.forceErr = err, forceErr
	close(w.seg.done)
	w.l.queue.recycle(w.seg)
	w.seg = nil
}

// housekeeping drains the spool when due and, every CheckpointInterval, signs whatever
// is chained but not yet signed, so no row waits longer than about one interval for its
// checkpoint (and the witness).
func (w *writer) housekeeping() {
	now := time.Now()
	if w.spool.pending() && !now.Before(w.nextDrain) {
		w.drain(now.Add(w.drainBudget))
	}
	// With a transaction already open for the next batch the writer is busy, and that
	// batch's commit signs a checkpoint if one is due.
	if tick := w.l.now(); !w.spool.pending() && w.open == nil && !tick.Before(w.nextTick) {
		w.nextTick = tick.Add(w.l.cfg.CheckpointInterval)
		if err := w.commit(nil, true, nil); err != nil {
			w.l.log.Warn("audit: checkpoint tick failed", "err", err)
		}
	}
	// Create next month's partition well ahead, outside any batch transaction, so the
	// month rollover does not take DDL locks on the append path.
	if w.open == nil && !now.Before(w.nextEnsure) {
		w.nextEnsure = now.Add(time.Hour)
		if err := w.ensureAhead(context.Background()); err != nil {
			w.nextEnsure = now.Add(time.Minute)
		}
	}
}

// drain chains spooled events in order, a batch at a time, until the spool is empty,
// Postgres fails, or the deadline passes (new events wait meanwhile).
func (w *writer) drain(deadline time.Time) {
	for w.spool.pending() {
		entries, next, err := w.spool.read(w.l.cfg.MaxBatch)
		if err != nil && len(entries) == 0 {
			// A record that does not decode after recovery checked it means the disk
			// changed under us; stop draining rather than skip acknowledged events.
			w.l.log.Error("audit: spool unreadable; draining stopped", "err", err)
			w.nextDrain = time.Now().Add(10 * w.l.cfg.RetryInterval)
			return
		}
		if err := w.commit(entries, false, nil); err != nil {
			w.l.log.Warn("audit: spool drain failed; will retry", "err", err)
			w.nextDrain = time.Now().Add(w.l.cfg.RetryInterval)
			return
		}
		w.l.stats.drained.Add(int64(len(entries)))
		if err := w.spool.advance(next, len(entries)); err != nil {
			w.l.log.Error("audit: spool advance failed", "err", err)
			w.nextDrain = time.Now().Add(w.l.cfg.RetryInterval)
			return
		}
		if time.Now().After(deadline) {
			return
		}
	}
}

// shutdown handles whatever is still queued, then tries once to drain the spool.
func (w *writer) shutdown() {
	for w.seg = w.take(); w.seg != nil; w.seg = w.take() {
		w.handle()
	}
	if w.open != nil {
		w.open.abandon()
		w.open = nil
	}
	if w.spool.pending() {
		w.drain(time.Now().Add(w.l.cfg.CommitTimeout))
	}
	// Sign the tail, so a stopped process leaves no row unsigned and unwitnessed.
	if !w.spool.pending() {
		if err := w.commit(nil, true, nil); err != nil {
			w.l.log.Warn("audit: final checkpoint failed", "err", err)
		}
	}
}

// ensureAhead creates this month's and next month's partitions.
func (w *writer) ensureAhead(ctx context.Context) error {
	now := w.l.now()
	ctx, cancel := context.WithTimeout(ctx, w.l.cfg.CommitTimeout)
	defer cancel()
	_, err := w.l.pool.Exec(ctx, `SELECT audit_ensure_partition($1), audit_ensure_partition($2)`,
		now, now.AddDate(0, 1, 0))
	if err != nil {
		return fmt.Errorf("audit: ensure partitions: %w", err)
	}
	return nil
}

// assignIDs gives every entry without one a UUIDv7 (RFC 9562 §5.7): 48-bit Unix
// milliseconds, version 7, 74 random bits; one random draw covers the batch. IDs are
// fixed before the batch is chained or spooled, so a re-drained event keeps its ID.
func (w *writer) assignIDs(entries []entry) error {
	n := 0
	for i := range entries {
		if entries[i].id == uuid.Nil {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if cap(w.rnd) < 10*n {
		w.rnd = make([]byte, 10*n)
	}
	rnd := w.rnd[:10*n]
	if _, err := rand.Read(rnd); err != nil {
		return fmt.Errorf("audit: id: %w", err)
	}
	ms := uint64(time.Now().UnixMilli())
	for i := range entries {
		e := &entries[i]
		if e.id != uuid.Nil {
			continue
		}
		id := &e.id
		binary.BigEndian.PutUint64(id[0:8], ms<<16)
		copy(id[6:], rnd[:10])
		rnd = rnd[10:]
		id[6] = 0x70 | id[6]&0x0f // version 7
		id[8] = 0x80 | id[8]&0x3f // variant 10
	}
	return nil
}
