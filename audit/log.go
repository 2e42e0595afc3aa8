package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Config configures a Log. Pool, SpoolDir and Key are required.
type Config struct {
	Pool *pgxpool.Pool
	// SpoolDir holds the local write-ahead spool. It must be on a local disk, private to
	// one process at a time (enforced with flock), and kept across restarts.
	SpoolDir string
	// Key signs checkpoints. Its public half is published in the compliance report.
	Key ed25519.PrivateKey
	// CheckpointEvery and CheckpointInterval: a checkpoint is signed once this many
	// events, or this much time, have passed since the last one (defaults 10000, 10s).
	// Every CheckpointInterval the writer also signs whatever is chained but unsigned,
	// and Close signs the tail, so no row stays unsigned (and unwitnessed) for longer
	// than about one interval.
	CheckpointEvery    int64
	CheckpointInterval time.Duration
	// WitnessPath, when set, names a file outside the database to which every checkpoint
	// this process signs is appended once committed: one JSON line, fdatasync'd
	// (README "Witness"). Start creates it (mode 0600) and fails if it cannot open it. A
	// failing witness never blocks appends; it is retried and counted in Stats.
	WitnessPath string
	// MaxBatch bounds the events chained in one transaction (default 8192).
	MaxBatch int
	// CommitTimeout bounds one batch transaction (default 5s).
	CommitTimeout time.Duration
	// RetryInterval is the pause between attempts to drain the spool while Postgres is
	// unreachable (default 250ms).
	RetryInterval time.Duration
	Logger        *slog.Logger
	// Now replaces the clock, for tests of retention and checkpoint cadence. When nil,
	// event times default to time.Now and chained_at comes from Postgres's clock.
	Now func() time.Time

	// witness replaces the file witness (tests inject failures through it).
	witness witness
}

// Log is the audit log of one process: Append hands events to a single writer goroutine
// that chains them in batches. Build it with New, then Start; Close flushes.
type Log struct {
	cfg  Config
	pool *pgxpool.Pool
	log  *slog.Logger

	mu     sync.RWMutex // held for reading while submitting, for writing by Close
	state  int          // guarded by mu: 0 new, 1 running, 2 closed
	queue  *queue
	stop   chan struct{}
	done   chan struct{}
	stats  counters
	writer *writer // owned by the writer goroutine
	pump   *pump   // nil without a witness
	sink   witness
}

type counters struct {
	committed, spooled, drained, failed atomic.Int64
	// The chain's newest checkpoint (Unix µs, 0 before this process's first
	// transaction) and how many rows follow it unsigned, as of this process's last
	// committed transaction: the tip is shared by every process, and each writer
	// sees it when it commits.
	checkpointAt, unsigned atomic.Int64
}

// Stats are counters since Start, for metrics and health checks.
type Stats struct {
	Committed int64 // events chained directly
	Spooled   int64 // events written to the spool (Postgres unreachable)
	Drained   int64 // spooled events since chained
	Failed    int64 // events not recorded at all (ErrNotRecorded)
	// Witnessed counts checkpoints appended to the witness; WitnessFailures failed
	// attempts (each retried); WitnessDropped checkpoints given up on because too many
	// waited while the witness failed.
	Witnessed       int64
	WitnessFailures int64
	WitnessDropped  int64
	// SpoolDepth is the events in the spool not yet chained (those of earlier runs
	// included).
	SpoolDepth int64
	// CheckpointAt is when the chain's newest checkpoint was signed, and Unsigned the
	// events chained after it, as this process saw the tip when it last committed;
	// CheckpointAt is zero until then.
	CheckpointAt time.Time
	Unsigned     int64
}

// New checks cfg and returns a Log that is not yet started.
func New(cfg Config) (*Log, error) {
	if cfg.Pool == nil {
		return nil, fmt.Errorf("%w: Pool is nil", ErrConfig)
	}
	if cfg.SpoolDir == "" {
		return nil, fmt.Errorf("%w: SpoolDir is empty", ErrConfig)
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: Key is not an Ed25519 private key", ErrConfig)
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 10000
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = 10 * time.Second
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 8192
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = 5 * time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 250 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.WitnessPath != "" && cfg.witness != nil {
		return nil, fmt.Errorf("%w: two witnesses", ErrConfig)
	}
	l := &Log{
		cfg:   cfg,
		pool:  cfg.Pool,
		log:   cfg.Logger,
		queue: newQueue(cfg.MaxBatch, 4),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	return l, nil
}

// PublicKey is the checkpoint verification key, for the compliance report.
func (l *Log) PublicKey() ed25519.PublicKey {
	return l.cfg.Key.Public().(ed25519.PublicKey)
}

func (l *Log) now() time.Time {
	if l.cfg.Now != nil {
		return l.cfg.Now()
	}
	return time.Now()
}

// Start opens (and recovers) the spool, makes sure this and next month's partitions exist
// when Postgres is reachable, and starts the writer goroutine. Spooled events left by a
// previous run are drained, in order, before any new event is chained.
func (l *Log) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != 0 {
		return fmt.Errorf("%w: Start called twice", ErrConfig)
	}
	l.sink = l.cfg.witness
	if l.cfg.WitnessPath != "" {
		fw, err := openFileWitness(l.cfg.WitnessPath)
		if err != nil {
			return err
		}
		l.sink = fw
	}
	sp, err := openSpool(l.cfg.SpoolDir, l.log)
	if err != nil {
		l.closeSink()
		return err
	}
	if l.sink != nil {
		l.pump = newPump(l.sink, l.log, 4*l.cfg.RetryInterval)
		go l.pump.run()
	}
	l.writer = newWriter(l, sp)
	if err := l.writer.ensureAhead(ctx); err != nil {
		l.log.Warn("audit: cannot prepare partitions; will retry on append", "err", err)
	}
	l.state = 1
	go l.writer.run()
	return nil
}

// Close stops accepting events, chains or spools everything already handed over, tries
// once to drain the spool, and stops the writer. Events still spooled stay on disk for
// the next Start.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.state != 1 {
		l.state = 2
		l.mu.Unlock()
		return nil
	}
	l.state = 2
	close(l.stop)
	l.mu.Unlock()
	<-l.done
	if l.pump != nil && l.pump.close(l.cfg.CommitTimeout) {
		l.closeSink()
	}
	return nil
}

func (l *Log) closeSink() {
	if c, ok := l.sink.(interface{ Close() error }); ok {
		if err := c.Close(); err != nil {
			l.log.Error("audit: closing the witness", "err", err)
		}
	}
}

// Stats returns the counters.
func (l *Log) Stats() Stats {
	s := Stats{
		Committed: l.stats.committed.Load(),
		Spooled:   l.stats.spooled.Load(),
		Drained:   l.stats.drained.Load(),
		Failed:    l.stats.failed.Load(),
		Unsigned:  l.stats.unsigned.Load(),
	}
	if at := l.stats.checkpointAt.Load(); at != 0 {
		s.CheckpointAt = time.UnixMicro(at)
	}
	l.mu.RLock()
	p, w := l.pump, l.writer
	l.mu.RUnlock()
	if w != nil {
		s.SpoolDepth = w.spool.depth.Load()
	}
	if p != nil {
		s.Witnessed, s.WitnessFailures, s.WitnessDropped = p.witnessed.Load(), p.failures.Load(), p.dropped.Load()
	}
	return s
}

// Append validates ev and returns once it is durable: chained in Postgres, or fsync'd in
// the spool while Postgres is unreachable. An error wrapping ErrInvalidEvent changes
// nothing. If ctx ends first the outcome is unknown; appending the same ID again is safe.
func (l *Log) Append(ctx context.Context, ev Event) error {
	e, err := normalize(&ev, l.now())
	if err != nil {
		return err
	}
	return l.submit(ctx, e, false)
}

// Record is Append with the fail-closed rule applied: when the event cannot be recorded,
// it returns the error unless ev.Action is on the allow-list (Action.FailOpen), in which
// case the failure is logged and Record returns nil so the action may proceed. Invalid
// events are always an error. Callers record before acting and act only on nil.
func (l *Log) Record(ctx context.Context, ev Event) error {
	err := l.Append(ctx, ev)
	if err == nil || errors.Is(err, ErrInvalidEvent) || !ev.Action.FailOpen() {
		return err
	}
	l.log.Error("audit: event not recorded; action allowed by the fail-open list",
		"action", string(ev.Action), "err", err)
	return nil
}

func (l *Log) submit(ctx context.Context, e entry, force bool) error {
	e.force = force
	l.mu.RLock()
	switch l.state {
	case 0:
		l.mu.RUnlock()
		return ErrNotStarted
	case 2:
		l.mu.RUnlock()
		return ErrClosed
	}
	seg := l.queue.push(&e)
	l.mu.RUnlock()
	select {
	case <-seg.done:
		if force && seg.forceErr != nil {
			return seg.forceErr
		}
		return seg.err
	case <-ctx.Done():
		return fmt.Errorf("audit: append outcome unknown: %w", ctx.Err())
	}
}

// Checkpoint records audit.checkpoint and signs a checkpoint at the resulting head in the
// same transaction, for example just before the head is published in the compliance
// report. With Postgres unreachable the event is spooled and ErrCheckpointDeferred is
// returned.
func (l *Log) Checkpoint(ctx context.Context, by Caller) error {
	e, err := normalize(&Event{
		Actor: by.Actor, ActorRole: by.Role, Action: ActionAuditCheckpoint, Outcome: OutcomeSuccess,
		Target: Target{Kind: TargetAuditLog}, RequestID: by.RequestID,
		Personal: Personal{SourceIP: by.SourceIP, UserAgent: by.UserAgent},
	}, l.now())
	if err != nil {
		return err
	}
	return l.submit(ctx, e, true)
}
