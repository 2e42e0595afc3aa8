package media

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// batchWriter sends the media socket's datagrams, coalescing those written
// during a forwarding pass into one sendmmsg(2).
//
// Forwarding one upstream packet writes one datagram per subscriber, all
// from the forwarding goroutine, deep inside pion's write path (SRTP, ICE
// mux). The forwarding loop brackets the pass with hold and release; writes
// made while any pass is held are copied into a bounded queue, and release
// sends the queue with one system call instead of one per subscriber. The
// forwarding goroutine itself sends: there is no writer goroutine to hand
// off to and no timer, so an idle socket adds no latency, and a write made
// while nothing is held (STUN, DTLS, RTCP) goes straight to the socket.
//
// Ordering: datagrams leave in the order they were written. A write goes
// straight to the socket only when nothing is queued or being sent; once a
// datagram is queued, later writes queue behind it until the queue is sent.
// Queued datagrams are sent under sendMu, one batch at a time.
//
// A full queue is sent by the writer that finds it full, so the queue
// never grows past maxBatch and a write never waits for another pass to
// end; it waits at most for a send, as a plain sendto would. A queued
// write reports success to pion; if the socket later refuses the datagram
// it is counted in failed (pion's ICE and SRTP do not retry writes either).
type batchWriter struct {
	conn   *net.UDPConn
	sys    sysWriter // the platform's batch send: sendmmsg(2) on Linux
	failed *atomic.Uint64

	mu      sync.Mutex
	holders int  // forwarding passes under way
	sending bool // a batch taken from the queue is being sent
	closed  bool
	queue   *batch // filled under mu
	spare   *batch // sent under sendMu, then swapped back

	sendMu sync.Mutex
}

// maxBatch bounds the queue; 64 datagrams of 1.5 kB is below the socket's
// send buffer, so one sendmmsg normally sends the whole batch.
const maxBatch = 64

// batch is a queue of datagrams with their own buffers, reused across
// batches so that queueing does not allocate.
type batch struct {
	n     int
	slots [maxBatch][]byte
	sys   sysBatch // the platform's form of the datagrams and their destinations
}

func newBatchWriter(conn *net.UDPConn, failed *atomic.Uint64) *batchWriter {
	return &batchWriter{conn: conn, sys: newSysWriter(conn), failed: failed,
		queue: &batch{}, spare: &batch{}}
}

// hold starts a forwarding pass: writes queue until release.
func (w *batchWriter) hold() {
	w.mu.Lock()
	w.holders++
	w.mu.Unlock()
}

// release ends a forwarding pass and sends what is queued, including
// datagrams other goroutines queued meanwhile.
func (w *batchWriter) release() {
	w.mu.Lock()
	w.holders--
	pending := w.queue.n > 0 && !w.sending
	w.mu.Unlock()
	if pending {
		w.flush()
	}
}

func (w *batchWriter) writeTo(p []byte, to netip.AddrPort) (int, error) {
	for {
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return 0, net.ErrClosed
		}
		if w.holders == 0 && w.queue.n == 0 && !w.sending {
			w.mu.Unlock()
			return w.conn.WriteToUDPAddrPort(p, to)
		}
		if w.queue.n < maxBatch {
			full := w.queue.add(p, to)
			w.mu.Unlock()
			if full {
				w.flush()
			}
			return len(p), nil
		}
		// Full and another goroutine is sending it: wait for that send.
		w.mu.Unlock()
		w.flush()
	}
}

// add copies p into the next slot and reports whether the batch is full.
func (b *batch) add(p []byte, to netip.AddrPort) bool {
	s := &b.slots[b.n]
	if cap(*s) < len(p) {
		*s = make([]byte, max(len(p), maxRTPSize))
	}
	*s = append((*s)[:0], p...)
	b.sys.set(b.n, *s, normAddr(to))
	b.n++
	return b.n == maxBatch
}

// flush sends queued batches until the queue is empty.
func (w *batchWriter) flush() {
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	for {
		w.mu.Lock()
		if w.queue.n == 0 {
			w.sending = false
			w.mu.Unlock()
			return
		}
		b := w.queue
		w.queue, w.spare = w.spare, nil
		w.sending = true
		w.mu.Unlock()

		w.sys.send(b, w.failed)
		b.n = 0

		w.mu.Lock()
		w.spare = b
		w.mu.Unlock()
	}
}

// close refuses further writes; what is queued is sent by the pass that
// queued it and fails if the socket is already closed.
func (w *batchWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}
