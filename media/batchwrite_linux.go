//go:build linux && (amd64 || arm64)

package media

import (
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// On Linux a batch goes out with one sendmmsg(2), made as a raw system
// call: the socket is non-blocking, so the call never waits, but with 64
// datagrams it takes long enough (tens of µs of loopback or NIC work) that
// a scheduler-aware call would let the Go runtime's monitor hand the
// goroutine's P to another thread and keep itself polling every 20 µs, a
// wake-up cost paid per batch. If the socket's buffer is full (EAGAIN) the
// goroutine waits for it through the poller, as a plain write does.

// mmsghdr is struct mmsghdr of sendmmsg(2).
type mmsghdr struct {
	hdr syscall.Msghdr
	len uint32
	_   [4]byte
}

// sysBatch holds the datagrams of a batch as sendmmsg takes them; its
// pointers point into the batch itself, which is never freed while in use.
type sysBatch struct {
	hdrs [maxBatch]mmsghdr
	iovs [maxBatch]syscall.Iovec
	sa4  [maxBatch]syscall.RawSockaddrInet4
	sa6  [maxBatch]syscall.RawSockaddrInet6
	v6   bool // the socket is AF_INET6 (IPv4 destinations as ::ffff:a.b.c.d)
}

type sysWriter struct {
	raw syscall.RawConn
	v6  bool
	err error // from SyscallConn: every send fails with it
	// call is the one system call, with its arguments and results in
	// state: made once, so that passing it to RawConn.Write allocates
	// nothing. Sends are serialized (batchWriter.sendMu).
	call  func(fd uintptr) bool
	state *sendmmsgCall
}

type sendmmsgCall struct {
	hdrs  *mmsghdr
	count int
	n     uintptr
	errno syscall.Errno
}

func (c *sendmmsgCall) do(fd uintptr) bool {
	c.n, _, c.errno = syscall.RawSyscall6(sysSendmmsg, fd, uintptr(unsafe.Pointer(c.hdrs)), uintptr(c.count), 0, 0, 0)
	return c.errno != syscall.EAGAIN
}

func newSysWriter(conn *net.UDPConn) sysWriter {
	w := sysWriter{state: &sendmmsgCall{}}
	w.call = w.state.do
	w.raw, w.err = conn.SyscallConn()
	if w.err == nil {
		w.err = w.raw.Control(func(fd uintptr) {
			if sa, err := syscall.Getsockname(int(fd)); err == nil {
				_, w.v6 = sa.(*syscall.SockaddrInet6)
			}
		})
	}
	return w
}

// set makes slot i the datagram p to to.
func (b *sysBatch) set(i int, p []byte, to netip.AddrPort) {
	h := &b.hdrs[i].hdr
	*h = syscall.Msghdr{}
	b.iovs[i] = syscall.Iovec{Base: unsafe.SliceData(p)}
	b.iovs[i].SetLen(len(p))
	h.Iov = &b.iovs[i]
	h.Iovlen = 1
	port := to.Port()
	if b.v6 {
		sa := &b.sa6[i]
		*sa = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: to.Addr().As16()}
		sa.Port = port>>8 | port<<8 // network byte order
		h.Name = (*byte)(unsafe.Pointer(sa))
		h.Namelen = syscall.SizeofSockaddrInet6
		return
	}
	sa := &b.sa4[i]
	// A destination an AF_INET socket cannot reach (IPv6) gets an
	// AF_INET6 address: the kernel refuses that datagram alone (counted).
	if !to.Addr().Is4() {
		sa6 := &b.sa6[i]
		*sa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: to.Addr().As16()}
		sa6.Port = port>>8 | port<<8
		h.Name = (*byte)(unsafe.Pointer(sa6))
		h.Namelen = syscall.SizeofSockaddrInet6
		return
	}
	*sa = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: to.Addr().As4()}
	sa.Port = port>>8 | port<<8
	h.Name = (*byte)(unsafe.Pointer(sa))
	h.Namelen = syscall.SizeofSockaddrInet4
}

// send writes b's datagrams in order. sendmmsg stops at the first datagram
// the kernel refuses; that one is counted in failed and the rest are sent
// on. A closed socket fails the whole rest.
func (w *sysWriter) send(b *batch, failed *atomic.Uint64) {
	if w.err != nil {
		failed.Add(uint64(b.n))
		return
	}
	c := w.state
	defer func() { c.hdrs = nil }()
	for off := 0; off < b.n; {
		c.hdrs, c.count = &b.sys.hdrs[off], b.n-off
		if err := w.raw.Write(w.call); err != nil {
			failed.Add(uint64(b.n - off))
			return
		}
		n := int(c.n)
		if c.errno != 0 || n <= 0 {
			failed.Add(1)
			n = 1
		}
		off += n
	}
}
