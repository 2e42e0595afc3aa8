package turn

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

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
// the policy to each datagram, in both directions, and is known to the
// server by the username that allocated it, so a revoked grant's relays can
// be closed.
type relayGenerator struct {
	*pionturn.RelayAddressGeneratorStatic
	policy policy

	mu     sync.Mutex
	relays map[*policedConn]string // relay -> username

	allocated atomic.Uint64 // relays ever made, for metrics
}

func (g *relayGenerator) AllocatePacketConn(c pionturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGeneratorStatic.AllocatePacketConn(c)
	if err != nil {
		return nil, nil, err
	}
	pc := &policedConn{PacketConn: conn, policy: g.policy, gen: g}
	g.mu.Lock()
	if g.relays == nil {
		g.relays = map[*policedConn]string{}
	}
	g.relays[pc] = c.UserID
	g.mu.Unlock()
	g.allocated.Add(1)
	return pc, addr, nil
}

// AllocateListener refuses: no TCP allocation (RFC 6062) is ever made,
// whichever listener the request came in on.
func (g *relayGenerator) AllocateListener(pionturn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, ErrTCPRelay
}

// AllocateConn refuses: no TCP connection ever leaves the relay.
func (g *relayGenerator) AllocateConn(pionturn.AllocateConnConfig) (net.Conn, error) {
	return nil, ErrTCPRelay
}

// closeWhere closes every relay whose username dead reports true for.
func (g *relayGenerator) closeWhere(dead func(username string) bool) {
	g.mu.Lock()
	var doomed []*policedConn
	for pc, user := range g.relays {
		if dead(user) {
			doomed = append(doomed, pc)
		}
	}
	g.mu.Unlock()
	for _, pc := range doomed {
		_ = pc.Close()
	}
}

func (g *relayGenerator) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.relays)
}

type policedConn struct {
	net.PacketConn
	policy policy
	gen    *relayGenerator
	once   sync.Once
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

// Close is idempotent: a relay closed for revocation is closed again by
// pion when it deletes the allocation.
func (c *policedConn) Close() error {
	var err error
	c.once.Do(func() {
		c.gen.mu.Lock()
		delete(c.gen.relays, c)
		c.gen.mu.Unlock()
		err = c.PacketConn.Close()
	})
	return err
}
