//go:build linux && (amd64 || arm64)

package media

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"
)

// batchReader reads the media socket with recvmmsg(2): as many datagrams
// as are waiting, up to readBatch, in one system call, handed to pion's
// UDP mux one at a time. Packets arrive in bursts (the packets of a video
// frame leave the publisher back to back), so a burst costs one call, as
// sending it on costs one sendmmsg (batchWriter).
//
// The call is raw, like the sendmmsg: the socket is non-blocking and an
// empty socket waits in the poller (RawConn.Read), never in the kernel. A
// scheduler-aware call here, the first thing an idle SFU does when a packet
// arrives, would wake the runtime's monitor from its deep sleep each time,
// and it then polls every 20 µs for a millisecond: thousands of wake-ups a
// second for nothing.
//
// It is used by the one goroutine that reads the socket (pion's mux).
type batchReader struct {
	raw  syscall.RawConn
	err  error
	call func(fd uintptr) bool

	next, n int // datagrams read and not yet returned: [next, n)
	count   int // datagrams the last call read
	errno   syscall.Errno
	hdrs    [readBatch]mmsghdr
	iovs    [readBatch]syscall.Iovec
	names   [readBatch]syscall.RawSockaddrAny
	bufs    [readBatch][readSlot]byte
}

const (
	readBatch = 16
	// readSlot is pion's receive MTU: no datagram pion would read whole
	// is cut.
	readSlot = 8192
)

func newBatchReader(conn *net.UDPConn) *batchReader {
	r := &batchReader{}
	r.raw, r.err = conn.SyscallConn()
	for i := range r.hdrs {
		r.iovs[i] = syscall.Iovec{Base: &r.bufs[i][0]}
		r.iovs[i].SetLen(readSlot)
		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.Iovlen = 1
		r.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	r.call = r.recv
	return r
}

func (r *batchReader) recv(fd uintptr) bool {
	for i := range r.hdrs {
		r.hdrs[i].hdr.Namelen = syscall.SizeofSockaddrAny
		r.hdrs[i].hdr.Flags = 0
	}
	n, _, errno := syscall.RawSyscall6(sysRecvmmsg, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), readBatch, 0, 0, 0)
	if errno == syscall.EAGAIN {
		return false
	}
	r.count, r.errno = int(n), errno
	return true
}

// read returns the next datagram, reading a batch when none is left.
func (r *batchReader) read(p []byte) (int, netip.AddrPort, error) {
	if r.err != nil {
		return 0, netip.AddrPort{}, r.err
	}
	for r.next >= r.n {
		if err := r.raw.Read(r.call); err != nil {
			return 0, netip.AddrPort{}, err
		}
		if r.errno != 0 {
			return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Err: r.errno}
		}
		r.next, r.n = 0, r.count
	}
	i := r.next
	r.next++
	h := &r.hdrs[i]
	if h.hdr.Flags&syscall.MSG_TRUNC != 0 {
		// Longer than pion would read: drop it, as a cut datagram
		// cannot be anything pion accepts.
		return 0, netip.AddrPort{}, errTruncated
	}
	n := copy(p, r.bufs[i][:h.len])
	return n, sockaddrAddrPort(&r.names[i]), nil
}

// sockaddrAddrPort converts a source address as Go's net package does: an
// IPv4 source on an AF_INET6 socket stays IPv4-mapped, a link-local source
// gets its interface's name as zone.
func sockaddrAddrPort(sa *syscall.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		a := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), a.Port>>8|a.Port<<8)
	case syscall.AF_INET6:
		a := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		ip := netip.AddrFrom16(a.Addr)
		if a.Scope_id != 0 {
			zone := strconv.Itoa(int(a.Scope_id))
			if ifi, err := net.InterfaceByIndex(int(a.Scope_id)); err == nil {
				zone = ifi.Name
			}
			ip = ip.WithZone(zone)
		}
		return netip.AddrPortFrom(ip, a.Port>>8|a.Port<<8)
	}
	return netip.AddrPort{}
}
