package media

import (
	"sync"

	"github.com/sealroom/sealroom/server/signaling"
)

// signalQueue delivers a participant's outgoing messages in order on one
// goroutine, so the SFU never calls the signaling callback while holding a
// lock and a slow WebSocket never blocks forwarding.
type signalQueue struct {
	mu     sync.Mutex
	queue  []signaling.Media
	wake   chan struct{}
	done   chan struct{}
	closed bool
}

func newSignalQueue(signal func(signaling.Media)) *signalQueue {
	q := &signalQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run(signal)
	return q
}

const maxQueuedSignals = 256

func (q *signalQueue) push(m signaling.Media) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || len(q.queue) >= maxQueuedSignals {
		return
	}
	q.queue = append(q.queue, m)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *signalQueue) run(signal func(signaling.Media)) {
	defer close(q.done)
	for range q.wake {
		for {
			q.mu.Lock()
			if len(q.queue) == 0 {
				closed := q.closed
				q.mu.Unlock()
				if closed {
					return
				}
				break
			}
			m := q.queue[0]
			q.queue = q.queue[1:]
			q.mu.Unlock()
			signal(m)
		}
	}
}

// wait returns once the queue's goroutine has delivered what was queued and stopped.
func (q *signalQueue) wait() { <-q.done }

// close drains what is queued, then stops. It does not wait.
func (q *signalQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
