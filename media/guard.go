package media

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// guardConn wraps the SFU's one media socket, below pion's ICE mux, and
// enforces SSRC binding and per-transport rate limits before any SRTP work.
//
// SRTP leaves the RTP header in the clear (RFC 3711 §3.1), so the SSRC can
// be read here. A transport is the set of remote addresses of a
// participant's validated ICE candidate pairs (the selected one and any
// other whose checks succeeded: the client may send on either). RTP from
// those addresses is let through only for
// SSRCs the participant announced in its SDP (a=ssrc, RFC 5576 §4.1) or,
// for rid-based simulcast (RFC 8851/8853) where SSRCs are not announced, for
// a few probe packets per new SSRC until pion binds it to an announced rid,
// and (publishers only) for SSRC 0 bandwidth probes. Everything else is
// dropped and counted. STUN and DTLS pass untouched.
type guardConn struct {
	conn   *net.UDPConn
	in     *batchReader // read by pion's mux goroutine only
	out    *batchWriter
	epoch  time.Time
	global *counters // drops that belong to no participant

	mu       sync.RWMutex
	bindings map[netip.AddrPort]*transportBinding
}

var _ net.PacketConn = (*guardConn)(nil)

const (
	probePacketsPerSSRC = 20 // pion needs at most 10 to read MID/RID
	maxProbeSSRCs       = 8
)

// transportBinding is the guard's view of one participant's transport.
// The allowed set is replaced wholesale by the participant (copy on write);
// bucket and probes are touched only by the socket reader goroutine.
type transportBinding struct {
	allowed  atomic.Pointer[ssrcPolicy]
	counters *counters
	dead     bool // guarded by guardConn.mu: unbound for good

	bucket tokenBucket
	probes map[uint32]int
}

// ssrcPolicy is immutable once published.
type ssrcPolicy struct {
	ssrcs []uint32
	probe bool // rid-based simulcast announced: allow probing new SSRCs
	// bwProbe admits SSRC 0, which Chrome uses for padding-only bandwidth
	// probes when RTX is not negotiated; pion reads them only to report
	// them in transport-wide CC feedback. Dropping them would look like
	// loss to the publisher's congestion controller.
	bwProbe bool
}

func (p *ssrcPolicy) has(ssrc uint32) bool {
	for _, s := range p.ssrcs {
		if s == ssrc {
			return true
		}
	}
	return false
}

func newGuardConn(conn *net.UDPConn, global *counters) *guardConn {
	return &guardConn{
		conn:     conn,
		in:       newBatchReader(conn),
		out:      newBatchWriter(conn, &global.sendFailed),
		epoch:    time.Now(),
		global:   global,
		bindings: make(map[netip.AddrPort]*transportBinding),
	}
}

func (g *guardConn) nanos() int64 { return int64(time.Since(g.epoch)) }

func newTransportBinding(c *counters, limit RateLimit, nanos int64) *transportBinding {
	b := &transportBinding{counters: c, bucket: newTokenBucket(limit, nanos), probes: map[uint32]int{}}
	b.allowed.Store(&ssrcPolicy{})
	return b
}

// bind routes RTP from each of addrs to b's policy, and no longer from
// b's other addresses. A participant has one binding but may have several
// addresses: the remote end of every candidate pair ICE validated for it
// (see Participant.rebind).
func (g *guardConn) bind(addrs []netip.AddrPort, b *transportBinding) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if b.dead {
		return // a pair change racing the participant's Close
	}
	for a, old := range g.bindings {
		if old == b {
			delete(g.bindings, a)
		}
	}
	for _, a := range addrs {
		g.bindings[normAddr(a)] = b
	}
}

func (g *guardConn) unbind(b *transportBinding) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b.dead = true
	for a, old := range g.bindings {
		if old == b {
			delete(g.bindings, a)
		}
	}
}

func normAddr(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

func (g *guardConn) lookup(a netip.AddrPort) *transportBinding {
	g.mu.RLock()
	b := g.bindings[normAddr(a)]
	g.mu.RUnlock()
	return b
}

// admit decides whether one datagram reaches pion. RFC 7983 §7: a first
// byte in 128..191 is RTP or RTCP; RFC 5761 §4: a second byte in 192..223
// is RTCP.
func (g *guardConn) admit(pkt []byte, from netip.AddrPort) bool {
	if len(pkt) == 0 || pkt[0] < 128 || pkt[0] > 191 {
		return true // STUN, DTLS, TURN channel data: pion's business
	}
	b := g.lookup(from)
	if b == nil {
		g.global.unbound.Add(1)
		return false
	}
	if len(pkt) < 12 {
		b.counters.malformed.Add(1)
		return false
	}
	if pkt[1] < 192 || pkt[1] > 223 {
		ssrc := binary.BigEndian.Uint32(pkt[8:12])
		if !b.ssrcAllowed(ssrc) {
			b.counters.unannounced.Add(1)
			return false
		}
	}
	if !b.bucket.allow(len(pkt), g.nanos()) {
		b.counters.rateLimited.Add(1)
		return false
	}
	return true
}

func (b *transportBinding) ssrcAllowed(ssrc uint32) bool {
	pol := b.allowed.Load()
	if pol.has(ssrc) || (ssrc == 0 && pol.bwProbe) {
		return true
	}
	if !pol.probe {
		return false
	}
	n, seen := b.probes[ssrc]
	if !seen && len(b.probes) >= maxProbeSSRCs {
		return false
	}
	if n >= probePacketsPerSSRC {
		return false
	}
	b.probes[ssrc] = n + 1
	return true
}

// errTruncated is a datagram longer than the receive buffer, dropped and
// counted as malformed.
var errTruncated = errors.New("media: datagram longer than the receive buffer")

// ReadFromAddrPort is what pion's UDP mux calls (ice.AddrPortReaderWriter);
// it never returns a refused packet.
func (g *guardConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	for {
		n, from, err := g.in.read(p)
		if errors.Is(err, errTruncated) {
			g.global.malformed.Add(1)
			continue
		}
		if err != nil {
			return n, from, err
		}
		if g.admit(p[:n], from) {
			return n, from, nil
		}
	}
}

// WriteToAddrPort is pion's write path for every datagram (SRTP, SRTCP,
// DTLS, STUN); see batchWriter for when it is queued.
func (g *guardConn) WriteToAddrPort(p []byte, to netip.AddrPort) (int, error) {
	return g.out.writeTo(p, to)
}

// holdWrites and releaseWrites bracket a forwarding pass so that its
// writes leave in one batch.
func (g *guardConn) holdWrites()    { g.out.hold() }
func (g *guardConn) releaseWrites() { g.out.release() }

func (g *guardConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := g.ReadFromAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

func (g *guardConn) WriteTo(p []byte, to net.Addr) (int, error) {
	ua, ok := to.(*net.UDPAddr)
	if !ok {
		return 0, net.InvalidAddrError("media: not a UDP address")
	}
	return g.out.writeTo(p, ua.AddrPort())
}

func (g *guardConn) Close() error {
	g.out.close()
	return g.conn.Close()
}

func (g *guardConn) LocalAddr() net.Addr                { return g.conn.LocalAddr() }
func (g *guardConn) SetDeadline(t time.Time) error      { return g.conn.SetDeadline(t) }
func (g *guardConn) SetReadDeadline(t time.Time) error  { return g.conn.SetReadDeadline(t) }
func (g *guardConn) SetWriteDeadline(t time.Time) error { return g.conn.SetWriteDeadline(t) }
