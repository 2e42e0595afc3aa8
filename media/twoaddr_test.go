package media

import (
	"net"
	"sync/atomic"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// twoAddrNet is the host's network as a client's pion sees it: the
// loopback interface holds 127.0.0.1 and 127.0.0.2 (both local on Linux),
// so the client has two host candidates, like a browser on a machine with
// two interfaces. Cutting 127.0.0.1 makes the client move its media to the
// other validated pair, as Chrome does on its own.
type twoAddrNet struct {
	*stdnet.Net
	lo  *transport.Interface
	cut atomic.Bool // 127.0.0.1 sockets neither send nor receive
}

func newTwoAddrNet() (*twoAddrNet, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return nil, err
	}
	ifc := transport.NewInterface(*lo)
	ifc.AddAddress(&net.IPNet{IP: net.IPv4(127, 0, 0, 1), Mask: net.CIDRMask(8, 32)})
	ifc.AddAddress(&net.IPNet{IP: net.IPv4(127, 0, 0, 2), Mask: net.CIDRMask(8, 32)})
	return &twoAddrNet{Net: n, lo: ifc}, nil
}

func (n *twoAddrNet) Interfaces() ([]*transport.Interface, error) {
	return []*transport.Interface{n.lo}, nil
}

func (n *twoAddrNet) InterfaceByIndex(int) (*transport.Interface, error) { return n.lo, nil }

func (n *twoAddrNet) InterfaceByName(string) (*transport.Interface, error) { return n.lo, nil }

func (n *twoAddrNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil || laddr == nil || !laddr.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		return c, err
	}
	return &cuttableConn{UDPConn: c, cut: &n.cut}, nil
}

func (n *twoAddrNet) ListenPacket(network, address string) (net.PacketConn, error) {
	addr, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, err
	}
	return n.ListenUDP(network, addr)
}

type cuttableConn struct {
	transport.UDPConn
	cut *atomic.Bool
}

func (c *cuttableConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, a, err := c.UDPConn.ReadFrom(p)
		if err != nil || !c.cut.Load() {
			return n, a, err
		}
	}
}

func (c *cuttableConn) WriteTo(p []byte, a net.Addr) (int, error) {
	if c.cut.Load() {
		return len(p), nil
	}
	return c.UDPConn.WriteTo(p, a)
}
