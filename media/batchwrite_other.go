//go:build !(linux && (amd64 || arm64))

package media

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// Elsewhere a batch goes out through x/net's WriteBatch: sendmmsg(2) on
// other Linux architectures, one sendmsg per datagram on other systems.

type sysBatch struct {
	msgs  [maxBatch]ipv4.Message
	addrs [maxBatch]net.UDPAddr
	ips   [maxBatch][16]byte
	vecs  [maxBatch][1][]byte
}

type sysWriter struct{ pc *ipv4.PacketConn }

func newSysWriter(conn *net.UDPConn) sysWriter { return sysWriter{pc: ipv4.NewPacketConn(conn)} }

func (b *sysBatch) set(i int, p []byte, to netip.AddrPort) {
	b.ips[i] = to.Addr().As16()
	a := &b.addrs[i]
	if to.Addr().Is4() {
		a.IP = b.ips[i][12:16]
	} else {
		a.IP = b.ips[i][:]
	}
	a.Port = int(to.Port())
	a.Zone = to.Addr().Zone()
	b.vecs[i][0] = p
	b.msgs[i] = ipv4.Message{Buffers: b.vecs[i][:], Addr: a}
}

func (w *sysWriter) send(b *batch, failed *atomic.Uint64) {
	msgs := b.sys.msgs[:b.n]
	for len(msgs) > 0 {
		n, err := w.pc.WriteBatch(msgs, 0)
		if errors.Is(err, net.ErrClosed) {
			failed.Add(uint64(len(msgs)))
			return
		}
		if err != nil || n <= 0 {
			failed.Add(1)
			n = 1
		}
		msgs = msgs[n:]
	}
}
