package turn

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"
)

func newTestServer(t *testing.T, now func() time.Time) (*Server, string) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Conn: conn, RelayIP: net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1",
		Realm: "sealroom.test", Secret: bytes.Repeat([]byte{7}, 32), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, conn.LocalAddr().String()
}

var testGrant = Grant{TokenID: "jti-1", Subject: "patient-7", IssuedAt: time.Unix(1767225000, 0)}

func mustCredentials(t *testing.T, s *Server, g Grant) Credentials {
	t.Helper()
	c, err := s.Credentials(g)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func turnClient(t *testing.T, server string, c Credentials) *pionturn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	cl, err := pionturn.NewClient(&pionturn.ClientConfig{TURNServerAddr: server, STUNServerAddr: server,
		Conn: conn, Username: c.Username, Password: c.Password, Realm: "sealroom.test",
		RTO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	return cl
}

// A client with minted credentials gets an allocation, but the relay
// refuses to reach a loopback peer: no permission, no packet delivered.
func TestRelayToLoopbackRefused(t *testing.T) {
	s, addr := newTestServer(t, nil)
	cl := turnClient(t, addr, mustCredentials(t, s, testGrant))
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("allocate with valid credentials: %v", err)
	}
	defer relay.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	var got atomic.Int32
	go func() {
		buf := make([]byte, 100)
		for {
			if _, _, err := peer.ReadFrom(buf); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	if err := cl.CreatePermission(peer.LocalAddr()); err == nil {
		t.Fatal("permission to a loopback peer granted")
	}
	_, _ = relay.WriteTo([]byte("probe"), peer.LocalAddr())
	time.Sleep(300 * time.Millisecond)
	if got.Load() != 0 {
		t.Fatal("relay delivered a packet to loopback")
	}
}

func TestCredentialsRefused(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	s, addr := newTestServer(t, clock)
	good := mustCredentials(t, s, testGrant)
	for _, secret := range []string{testGrant.TokenID, testGrant.Subject} {
		if strings.Contains(good.Username+good.Password, secret) {
			t.Fatalf("credentials carry %q in the clear", secret)
		}
	}

	bad := good
	bad.Password = "x" + good.Password[1:]
	if _, err := turnClient(t, addr, bad).Allocate(); err == nil {
		t.Fatal("allocation with a wrong password")
	}
	farExp := strconv.FormatInt(clock().Add(48*time.Hour).Unix(), 10)
	sealed, err := sealGrant(s.aead, farExp, testGrant)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.check(farExp + ":" + sealed); ok {
		t.Fatal("username living past the TTL accepted")
	}
	// A grant sealed for one expiry does not open under another.
	_, goodSealed, _ := strings.Cut(good.Username, ":")
	if _, _, ok := s.check(strconv.FormatInt(clock().Add(time.Minute).Unix(), 10) + ":" + goodSealed); ok {
		t.Fatal("grant moved to another expiry accepted")
	}
	now.Add(int64(11 * time.Minute / time.Second))
	if _, err := turnClient(t, addr, good).Allocate(); err == nil {
		t.Fatal("allocation with expired credentials")
	}
	for _, u := range []string{"", "abc", "123", "x:" + goodSealed, "1:short"} {
		if _, _, ok := s.check(u); ok {
			t.Fatalf("malformed username %q accepted", u)
		}
	}
}

func TestConfigRejected(t *testing.T) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, c := range []Config{
		{},
		{Conn: conn, RelayIP: net.IPv4(127, 0, 0, 1), Realm: "r", Secret: []byte("short")},
		{Conn: conn, RelayIP: net.IPv4(127, 0, 0, 1), Realm: "r", Secret: make([]byte, 32), TTL: time.Second},
	} {
		if _, err := New(c); err == nil {
			t.Fatalf("config accepted: %+v", c)
		}
	}
}

// The SFU's own (here loopback) media address may be allowed exactly:
// the relay reaches that port, and no other port of the same IP.
func TestRelayToAllowedPeerOnly(t *testing.T) {
	sfu, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sfu.Close()
	other, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Conn: conn, RelayIP: net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1",
		Realm: "sealroom.test", Secret: bytes.Repeat([]byte{7}, 32),
		AllowedPeers: []netip.AddrPort{sfu.LocalAddr().(*net.UDPAddr).AddrPort()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cl := turnClient(t, conn.LocalAddr().String(), mustCredentials(t, s, testGrant))
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	if _, err := relay.WriteTo([]byte("to-sfu"), sfu.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := relay.WriteTo([]byte("to-other"), other.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = sfu.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := sfu.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "to-sfu" {
		t.Fatalf("allowed peer: %q %v", buf[:n], err)
	}
	_ = other.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := other.ReadFrom(buf); err == nil {
		t.Fatalf("other port of the allowed IP got %q", buf[:n])
	}
}

// FuzzCheck: arbitrary usernames never panic the credential check and
// are accepted only in their minted form.
func FuzzCheck(f *testing.F) {
	seeds := []string{"", ":", "1:AAAA", "99999999999999999999:x", "1767225600:bm9wZQ"}
	for _, s := range seeds {
		f.Add(s)
	}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	s := &Server{cfg: Config{TTL: 10 * time.Minute, Secret: make([]byte, 32),
		Now: func() time.Time { return time.Unix(1767225000, 0) }}, aead: grantAEAD(make([]byte, 32))}
	f.Fuzz(func(t *testing.T, u string) {
		// Only a grant sealed under the secret opens; random input never does.
		if _, _, ok := s.check(u); ok {
			t.Fatalf("accepted %q", u)
		}
	})
}
