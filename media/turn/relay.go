package turn

import (
	"net"
	"net/netip"
	"slices"

	pionturn "github.com/pion/turn/v5"
)

// policy decides which peers relays may exchange packets with: public
// unicast addresses (PeerAllowed), plus the exact addresses in allowed
// (the SFU's own media socket, typically on a private address).
type policy struct{ allowed []netip.AddrPort }

// permitIP is the TURN permission check (RFC 8656 §9), per IP address.
func (p policy) permitIP(ip net.IP) bool {
	if PeerAllowed(ip) {
		return true
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	return slices.ContainsFunc(p.allowed, func(ap netip.AddrPort) bool { return ap.Addr() == a })
}

// permitAddr is checked per packet: a permission granted for an allowed
// private IP does not open its other ports.
func (p policy) permitAddr(addr net.Addr) bool {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return false
	}
	ap := ua.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if PeerAllowed(ua.IP) {
		return true
	}
	return slices.Contains(p.allowed, ap)
}

// relayGenerator wraps the static generator so every relay socket applies
// the policy to each datagram, in both directions.
type relayGenerator struct {
	*pionturn.RelayAddressGeneratorStatic
	policy policy
}

func (g *relayGenerator) AllocatePacketConn(c pionturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGeneratorStatic.AllocatePacketConn(c)
	if err != nil {
		return nil, nil, err
	}
	return &policedConn{PacketConn: conn, policy: g.policy}, addr, nil
}

type policedConn struct {
	net.PacketConn
	policy policy
}

// WriteTo drops (reports as sent) datagrams to refused peers: the client
// learns nothing about what lies behind the server.
func (c *policedConn) WriteTo(b []byte, to net.Addr) (int, error) {
	if !c.policy.permitAddr(to) {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, to)
}

func (c *policedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.PacketConn.ReadFrom(b)
		if err != nil || c.policy.permitAddr(from) {
			return n, from, err
		}
	}
}
