package audit

import "sync"

// queue is the group-commit hand-off between Append callers and the writer: callers
// append their entry to the open segment and wait on that segment's done channel; the
// writer takes whole segments (at most MaxBatch entries each), makes them durable, sets
// err and closes done, which wakes every waiter of the batch at once. Appending is a
// mutex-protected copy, so a busy server pays no per-event channel operation.
type queue struct {
	mu      sync.Mutex
	notFull sync.Cond // callers wait here when maxSegs segments are queued
	segs    []*segment
	free    [][]entry // entry slices handed back by the writer
	notify  chan struct{}
	maxLen  int
	maxSegs int
}

// segment is one batch: its entries and, once handled, the outcome for its waiters.
type segment struct {
	entries []entry
	done    chan struct{}
	// err is every waiter's result; forceErr replaces it for Checkpoint callers.
	err, forceErr error
}

func newQueue(maxLen, maxSegs int) *queue {
	q := &queue{notify: make(chan struct{}, 1), maxLen: maxLen, maxSegs: maxSegs}
	q.notFull.L = &q.mu
	return q
}

// push queues e and returns the segment whose done channel reports its outcome.
func (q *queue) push(e *entry) *segment {
	q.mu.Lock()
	n := len(q.segs)
	for n == q.maxSegs && len(q.segs[n-1].entries) == q.maxLen {
		q.notFull.Wait()
		n = len(q.segs)
	}
	if n == 0 || len(q.segs[n-1].entries) == q.maxLen {
		s := &segment{done: make(chan struct{})}
		if k := len(q.free); k > 0 {
			s.entries, q.free = q.free[k-1], q.free[:k-1]
		} else {
			s.entries = make([]entry, 0, q.maxLen)
		}
		q.segs = append(q.segs, s)
		n++
	}
	s := q.segs[n-1]
	s.entries = append(s.entries, *e)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return s
}

// take removes the oldest segment, or returns nil when the queue is empty.
func (q *queue) take() *segment {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.segs) == 0 {
		return nil
	}
	s := q.segs[0]
	q.segs[0] = nil
	q.segs = q.segs[1:]
	q.notFull.Broadcast()
	return s
}

// recycle returns a handled segment's entry slice for reuse, wiped.
func (q *queue) recycle(s *segment) {
	clear(s.entries)
	q.mu.Lock()
	q.free = append(q.free, s.entries[:0])
	q.mu.Unlock()
	s.entries = nil
}
