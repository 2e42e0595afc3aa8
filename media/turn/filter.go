package turn

import (
	"net"

	"github.com/pion/stun/v4"
)

// protoUDP is the only REQUESTED-TRANSPORT value the relay accepts
// (RFC 8656 §18.11: the IANA protocol number, 17 for UDP).
const protoUDP = 17

// filterConn sits between the TURN listener and pion's request loop. It
// answers an authenticated Allocate that asks for anything but a UDP relay
// with 442 Unsupported Transport Protocol (RFC 8656 §7.2 step 3), which
// is where RFC 6062's TCP allocations would otherwise begin. pion itself
// accepts TCP there; the relay generator refusing TCP is the second line,
// but it would answer 508 Insufficient Capacity, which tells a client to
// try again rather than that TCP is not offered.
type filterConn struct {
	net.PacketConn
	s *Server
}

func (c *filterConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.PacketConn.ReadFrom(b)
		if err != nil || !c.refuseTransport(b[:n], from) {
			return n, from, err
		}
	}
}

// refuseTransport reports whether it answered msg itself. Everything it
// does not answer goes on to pion unchanged, including unauthenticated
// requests, which pion challenges with 401 first as the RFC orders.
func (c *filterConn) refuseTransport(msg []byte, from net.Addr) bool {
	// Only Allocate requests matter; the first two bytes are the STUN type
	// (RFC 8489 §5), 0x0003 for an Allocate request.
	if len(msg) < 20 || msg[0] != 0 || msg[1] != 0x03 {
		return false
	}
	m := &stun.Message{Raw: append([]byte(nil), msg...)}
	if m.Decode() != nil || m.Type != stun.NewType(stun.MethodAllocate, stun.ClassRequest) {
		return false
	}
	rt, err := m.Get(stun.AttrRequestedTransport)
	if err != nil || len(rt) != 4 || rt[0] == protoUDP {
		return false
	}
	var user stun.Username
	var realm stun.Realm
	if user.GetFrom(m) != nil || realm.GetFrom(m) != nil || realm.String() != c.s.cfg.Realm {
		return false
	}
	pw, _, ok := c.s.check(user.String())
	if !ok {
		return false
	}
	integrity := stun.NewLongTermIntegrity(user.String(), realm.String(), pw)
	if integrity.Check(m) != nil {
		return false
	}
	resp, err := stun.Build(stun.NewTransactionIDSetter(m.TransactionID),
		stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse),
		&stun.ErrorCodeAttribute{Code: stun.CodeUnsupportedTransProto, Reason: []byte("only UDP relays are offered")},
		integrity, stun.Fingerprint)
	if err != nil {
		return false
	}
	_, _ = c.PacketConn.WriteTo(resp.Raw, from)
	return true
}
