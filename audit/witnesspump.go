package audit

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// maxWitnessPending bounds the checkpoints held while the witness fails. When it
// overflows the oldest go first: a newer head commits to every row before it, so the
// witness still catches truncation, only not the deletion of the dropped checkpoints.
const maxWitnessPending = 4096

// pump hands committed checkpoints to the witness on its own goroutine, so a slow or
// hung witness (a remote mount) never holds up the batch writer, and retries failures.
type pump struct {
	sink  witness
	log   *slog.Logger
	retry time.Duration

	mu      sync.Mutex
	pending []Checkpoint // guarded by mu

	wake chan struct{} // capacity 1
	stop chan struct{}
	done chan struct{}

	witnessed, failures, dropped atomic.Int64
}

func newPump(sink witness, log *slog.Logger, retry time.Duration) *pump {
	return &pump{sink: sink, log: log, retry: retry,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// add queues a committed checkpoint. It never blocks on the witness.
func (p *pump) add(c Checkpoint) {
	p.mu.Lock()
	p.pending = append(p.pending, c)
	if n := len(p.pending) - maxWitnessPending; n > 0 {
		p.pending = append(p.pending[:0], p.pending[n:]...)
		p.dropped.Add(int64(n))
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *pump) run() {
	defer close(p.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	backoff := false
	failing := false
	for {
		select {
		case <-p.stop:
			// Close: everything signed is queued by now; one last attempt, whatever
			// the backoff says.
			p.flush(&failing)
			return
		case <-p.wake:
			if backoff {
				continue
			}
		case <-timer.C:
			backoff = false
		}
		if !p.flush(&failing) {
			backoff = true
			timer.Reset(p.retry)
		}
	}
}

// flush appends everything pending; on failure it puts the checkpoints back in front
// of any queued meanwhile and reports false.
func (p *pump) flush(failing *bool) bool {
	p.mu.Lock()
	batch := p.pending
	p.pending = nil
	p.mu.Unlock()
	if len(batch) == 0 {
		return true
	}
	err := p.sink.Append(batch)
	if err == nil {
		p.witnessed.Add(int64(len(batch)))
		if *failing {
			p.log.Info("audit: witness writable again", "checkpoints", len(batch))
		}
		*failing = false
		return true
	}
	p.failures.Add(1)
	if !*failing {
		p.log.Error("audit: witness append failed; retrying", "err", err, "checkpoints", len(batch))
	}
	*failing = true
	p.mu.Lock()
	p.pending = append(batch, p.pending...)
	if n := len(p.pending) - maxWitnessPending; n > 0 {
		p.pending = append(p.pending[:0], p.pending[n:]...)
		p.dropped.Add(int64(n))
	}
	p.mu.Unlock()
	return false
}

// close delivers what is pending and stops, waiting at most wait for a hung witness.
// It reports whether the pump goroutine is done with the sink.
func (p *pump) close(wait time.Duration) bool {
	close(p.stop)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		p.log.Error("audit: witness did not answer at shutdown; checkpoints may be missing from it")
		return false
	}
}
