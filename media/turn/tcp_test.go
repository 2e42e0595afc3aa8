package turn

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
)

// A TCP allocation (RFC 6062) would let a participant's relay open TCP
// connections from the server: to the API beside the SFU, to Postgres, to
// anything the permission check lets through by IP. The relay refuses it
// with 442, and even if a TCP allocation were made, no TCP connection
// leaves the relay.
func TestTCPAllocationRefused(t *testing.T) {
	// A TCP listener on the SFU's IP, as the API or Postgres would be.
	api, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := api.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	sfu, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sfu.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Conn: conn, RelayIP: net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1",
		Realm: "sealroom.test", Secret: make([]byte, 32),
		// The SFU's IP is allowed, so the per-IP permission check alone
		// would admit a Connect to any port of it.
		AllowedPeers: []netip.AddrPort{sfu.LocalAddr().(*net.UDPAddr).AddrPort()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	cl := turnClient(t, conn.LocalAddr().String(), mustCredentials(t, s, testGrant))
	alloc, err := cl.AllocateTCP()
	if err == nil {
		_, cerr := alloc.Connect(api.Addr())
		alloc.Close()
		t.Fatalf("TCP allocation granted (Connect to the API port: %v)", cerr)
	}
	var terr *stun.TurnError
	if !errors.As(err, &terr) {
		t.Fatalf("TCP allocate: %v, want an error response", err)
	}
	if terr.ErrorCodeAttr.Code != stun.CodeUnsupportedTransProto {
		t.Fatalf("TCP allocate refused with %d, want 442", terr.ErrorCodeAttr.Code)
	}
	// The UDP allocation of the same client still works.
	if relay, err := cl.Allocate(); err != nil {
		t.Fatalf("UDP allocate after the refused TCP one: %v", err)
	} else {
		relay.Close()
	}
	select {
	case <-accepted:
		t.Fatal("a TCP connection left the relay")
	default:
	}
}

// Below the request filter, the relay generator itself never makes a TCP
// listener or connection, whatever listener a request came in on.
func TestGeneratorRefusesTCP(t *testing.T) {
	g := &relayGenerator{RelayAddressGeneratorStatic: &pionturn.RelayAddressGeneratorStatic{
		RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}}
	if _, _, err := g.AllocateListener(pionturn.AllocateListenerConfig{Network: "tcp4"}); !errors.Is(err, ErrTCPRelay) {
		t.Fatalf("AllocateListener: %v", err)
	}
	if _, err := g.AllocateConn(pionturn.AllocateConnConfig{Network: "tcp4"}); !errors.Is(err, ErrTCPRelay) {
		t.Fatalf("AllocateConn: %v", err)
	}
}
