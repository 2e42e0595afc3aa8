//go:build !(linux && (amd64 || arm64))

package media

import (
	"net"
	"net/netip"
)

// batchReader reads one datagram per call where recvmmsg is not used.
type batchReader struct{ conn *net.UDPConn }

func newBatchReader(conn *net.UDPConn) *batchReader { return &batchReader{conn: conn} }

func (r *batchReader) read(p []byte) (int, netip.AddrPort, error) {
	return r.conn.ReadFromUDPAddrPort(p)
}
