package media

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func listenLoopback(tb testing.TB) *net.UDPConn {
	tb.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

func numbered(i int) []byte {
	b := make([]byte, 100)
	binary.BigEndian.PutUint32(b, uint32(i))
	return b
}

// recvNumbers reads n datagrams written by numbered.
func recvNumbers(t *testing.T, c *net.UDPConn, n int) []int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	var got []int
	for len(got) < n {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(got), n, err)
		}
		got = append(got, int(binary.BigEndian.Uint32(buf[:k])))
	}
	return got
}

// nothingPending fails if a datagram is waiting on c. A datagram the
// writer had sent would already be queued on the receiving loopback
// socket, so the short deadline cannot turn a correct writer into a
// failure.
func nothingPending(t *testing.T, c *net.UDPConn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	buf := make([]byte, 1500)
	if n, err := c.Read(buf); err == nil {
		t.Fatalf("datagram %d sent while held", binary.BigEndian.Uint32(buf[:n]))
	}
}

func inOrder(t *testing.T, got []int, want []int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d datagrams, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("datagram %d is #%d, want #%d (order %v)", i, got[i], want[i], got)
		}
	}
}

func newTestBatchWriter(t *testing.T) (*batchWriter, *atomic.Uint64) {
	var failed atomic.Uint64
	return newBatchWriter(listenLoopback(t), &failed), &failed
}

// Writes made while held leave on release, in order per destination,
// and a write made while nothing is held or queued goes out at once.
func TestBatchWriterHoldsUntilRelease(t *testing.T) {
	w, failed := newTestBatchWriter(t)
	a, b := listenLoopback(t), listenLoopback(t)

	if _, err := w.writeTo(numbered(0), addrOf(a)); err != nil {
		t.Fatal(err)
	}
	inOrder(t, recvNumbers(t, a, 1), []int{0})

	w.hold()
	var wantA, wantB []int
	for i := 1; i <= 20; i++ {
		dst, want := a, &wantA
		if i%3 == 0 {
			dst, want = b, &wantB
		}
		if n, err := w.writeTo(numbered(i), addrOf(dst)); err != nil || n != 100 {
			t.Fatalf("queued write: %d, %v", n, err)
		}
		*want = append(*want, i)
	}
	nothingPending(t, a)
	w.release()
	inOrder(t, recvNumbers(t, a, len(wantA)), wantA)
	inOrder(t, recvNumbers(t, b, len(wantB)), wantB)
	if failed.Load() != 0 {
		t.Fatalf("%d failed", failed.Load())
	}
}

// A full queue is sent by the writer that fills it, without waiting for
// the pass to end and without dropping anything.
func TestBatchWriterFullQueueSentInline(t *testing.T) {
	w, failed := newTestBatchWriter(t)
	a := listenLoopback(t)
	w.hold()
	var want []int
	for i := range maxBatch + 5 {
		if _, err := w.writeTo(numbered(i), addrOf(a)); err != nil {
			t.Fatal(err)
		}
		want = append(want, i)
	}
	inOrder(t, recvNumbers(t, a, maxBatch), want[:maxBatch])
	nothingPending(t, a)
	w.release()
	inOrder(t, recvNumbers(t, a, 5), want[maxBatch:])
	if failed.Load() != 0 {
		t.Fatalf("%d failed", failed.Load())
	}
}

// A datagram the kernel refuses in the middle of a batch is counted and
// the rest of the batch still goes out.
func TestBatchWriterCountsRefused(t *testing.T) {
	w, failed := newTestBatchWriter(t)
	a := listenLoopback(t)
	w.hold()
	_, _ = w.writeTo(numbered(1), addrOf(a))
	// Port 0 is not a destination: udp_sendmsg fails with EINVAL.
	_, _ = w.writeTo(numbered(2), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0))
	_, _ = w.writeTo(numbered(3), addrOf(a))
	w.release()
	inOrder(t, recvNumbers(t, a, 2), []int{1, 3})
	if failed.Load() != 1 {
		t.Fatalf("failed = %d, want 1", failed.Load())
	}
}

// After close, writes fail at once and what was queued is counted as
// failed, not sent and not leaked.
func TestBatchWriterClose(t *testing.T) {
	var failed atomic.Uint64
	conn := listenLoopback(t)
	g := newGuardConn(conn, &counters{})
	g.out.failed = &failed
	a := listenLoopback(t)
	g.holdWrites()
	for i := range 3 {
		if _, err := g.WriteToAddrPort(numbered(i), addrOf(a)); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	g.releaseWrites()
	if failed.Load() != 3 {
		t.Fatalf("failed = %d, want 3", failed.Load())
	}
	if _, err := g.WriteToAddrPort(numbered(4), addrOf(a)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	nothingPending(t, a)
}

// A dual-stack socket sends queued datagrams to IPv4 destinations.
func TestBatchWriterDualStack(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no dual-stack UDP socket (CI=true): %v", err)
		}
		t.Skipf("!!! SKIPPING the dual-stack batch writer test: no IPv6 socket: %v !!!", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	var failed atomic.Uint64
	w := newBatchWriter(conn, &failed)
	a := listenLoopback(t)
	w.hold()
	_, _ = w.writeTo(numbered(1), addrOf(a))
	_, _ = w.writeTo(numbered(2), netip.AddrPortFrom(netip.AddrFrom16(addrOf(a).Addr().As16()), addrOf(a).Port()))
	w.release()
	inOrder(t, recvNumbers(t, a, 2), []int{1, 2})
	if failed.Load() != 0 {
		t.Fatalf("%d failed", failed.Load())
	}
}

// Forwarding passes on several goroutines, with writes from goroutines
// that hold nothing in between: each goroutine's datagrams arrive in the
// order it wrote them. Run with -race.
func TestBatchWriterConcurrentOrder(t *testing.T) {
	w, failed := newTestBatchWriter(t)
	const writers, perWriter = 4, 100
	dsts := make([]*net.UDPConn, writers)
	for i := range dsts {
		dsts[i] = listenLoopback(t)
	}
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := addrOf(dsts[g])
			for i := 0; i < perWriter; {
				held := g%2 == 0 || i%7 == 0
				if held {
					w.hold()
				}
				for range 5 {
					if _, err := w.writeTo(numbered(i), to); err != nil {
						t.Error(err)
					}
					i++
				}
				if held {
					w.release()
				}
			}
		}()
	}
	wg.Wait()
	want := make([]int, perWriter)
	for i := range want {
		want[i] = i
	}
	for _, d := range dsts {
		inOrder(t, recvNumbers(t, d, perWriter), want)
	}
	if failed.Load() != 0 {
		t.Fatalf("%d failed", failed.Load())
	}
}

// BenchmarkBatchWriter sends one forwarding pass of 20 datagrams of
// 1 kB to 20 loopback sockets, held (one sendmmsg) and unheld (20 sendto),
// and must not allocate per datagram.
func BenchmarkBatchWriter(b *testing.B) {
	pkt := make([]byte, 1040)
	for _, held := range []bool{true, false} {
		name := "sendto-20"
		if held {
			name = "sendmmsg-20"
		}
		b.Run(name, func(b *testing.B) {
			var failed atomic.Uint64
			w := newBatchWriter(listenLoopback(b), &failed)
			var dsts []netip.AddrPort
			for range 20 {
				c := listenLoopback(b)
				go func() {
					buf := make([]byte, 1500)
					for {
						if _, err := c.Read(buf); err != nil {
							return
						}
					}
				}()
				dsts = append(dsts, addrOf(c))
			}
			b.ReportAllocs()
			for b.Loop() {
				if held {
					w.hold()
				}
				for _, d := range dsts {
					_, _ = w.writeTo(pkt, d)
				}
				if held {
					w.release()
				}
			}
		})
	}
}
