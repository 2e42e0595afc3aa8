package turn

import (
	"net"

	"github.com/pion/stun/v4"
)

// protoUDP is the only REQUESTED-TRANSPORT value the relay accepts
// (RFC 8656 §18.11: the IANA protocol number, 17 for UDP).
const protoUDP = 17

// filterConn sits between the UDP listener and pion's request loop. It
// answers an authenticated Allocate that asks for anything but a UDP relay
// with 442 Unsupported Transport Protocol (RFC 8656 §7.2 step 3), which
// is where RFC 6062's TCP allocations would otherwise begin. pion itself
// accepts TCP there; the relay generator refusing TCP is the second line,
// but it would answer 508 Insufficient Capacity, which tells a client to
// try again rather than that TCP is not offered. The TCP and TLS listeners
// apply the same filter to each frame of their streams (stream.go).
type filterConn struct {
	net.PacketConn
	s *Server
}

func (c *filterConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.PacketConn.ReadFrom(b)
		if err != nil {
			return n, from, err
		}
		resp := c.s.refuseTransport(b[:n])
		if resp == nil {
			return n, from, nil
		}
		_, _ = c.PacketConn.WriteTo(resp, from)
	}
}

// refuseTransport returns the 442 answer to msg when msg is an
// authenticated Allocate asking for a relay other than UDP, and nil for
// everything else, which goes on to pion unchanged, including
// unauthenticated requests, which pion challenges with 401 first as the
// RFC orders.
func (s *Server) refuseTransport(msg []byte) []byte {
	// Only Allocate requests matter; the first two bytes are the STUN type
	// (RFC 8489 §5), 0x0003 for an Allocate request.
	if len(msg) < 20 || msg[0] != 0 || msg[1] != 0x03 {
		return nil
	}
	m := &stun.Message{Raw: append([]byte(nil), msg...)}
	if m.Decode() != nil || m.Type != stun.NewType(stun.MethodAllocate, stun.ClassRequest) {
		return nil
	}
	rt, err := m.Get(stun.AttrRequestedTransport)
	if err != nil || len(rt) != 4 || rt[0] == protoUDP {
		return nil
	}
	var user stun.Username
	var realm stun.Realm
	if user.GetFrom(m) != nil || realm.GetFrom(m) != nil || realm.String() != s.cfg.Realm {
		return nil
	}
	pw, _, ok := s.check(user.String())
	if !ok {
		return nil
	}
	integrity := stun.NewLongTermIntegrity(user.String(), realm.String(), pw)
	if integrity.Check(m) != nil {
		return nil
	}
	resp, err := stun.Build(stun.NewTransactionIDSetter(m.TransactionID),
		stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse),
		&stun.ErrorCodeAttribute{Code: stun.CodeUnsupportedTransProto, Reason: []byte("only UDP relays are offered")},
		integrity, stun.Fingerprint)
	if err != nil {
		return nil
	}
	return resp.Raw
}
