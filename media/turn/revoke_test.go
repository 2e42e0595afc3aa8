package turn

import (
	"bytes"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealroom/sealroom/server/servertest/poll"
)

// The grant survives the round trip through a username intact.
func TestGrantRoundTrip(t *testing.T) {
	s, _ := newTestServer(t, nil)
	c := mustCredentials(t, s, testGrant)
	_, g, ok := s.check(c.Username)
	if !ok || g.TokenID != testGrant.TokenID || g.Subject != testGrant.Subject || !g.IssuedAt.Equal(testGrant.IssuedAt) {
		t.Fatalf("grant after the round trip: %+v, %v", g, ok)
	}
	if _, err := s.Credentials(Grant{TokenID: string(make([]byte, maxGrantField+1))}); err == nil {
		t.Fatal("oversized grant sealed")
	}
}

// A revoked token's relay stops carrying media within the check interval,
// and the same credentials get no new allocation.
func TestRevokedGrantClosesRelay(t *testing.T) {
	sfu, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sfu.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var revoked atomic.Bool
	s, err := New(Config{Conn: conn, RelayIP: net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1",
		Realm: "sealroom.test", Secret: bytes.Repeat([]byte{7}, 32),
		AllowedPeers:    []netip.AddrPort{sfu.LocalAddr().(*net.UDPAddr).AddrPort()},
		RevocationCheck: 50 * time.Millisecond,
		Revoked:         func(g Grant) bool { return revoked.Load() && g.TokenID == testGrant.TokenID }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	creds := mustCredentials(t, s, testGrant)
	relay, err := turnClient(t, conn.LocalAddr().String(), creds).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	buf := make([]byte, 64)
	if _, err := relay.WriteTo([]byte("before"), sfu.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = sfu.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := sfu.ReadFrom(buf); err != nil || string(buf[:n]) != "before" {
		t.Fatalf("relay before revocation: %q %v", buf[:n], err)
	}
	if s.Allocations() != 1 {
		t.Fatalf("%d live relays, want 1", s.Allocations())
	}

	revoked.Store(true)
	poll.Until(t, 5*time.Second, "the revoked grant's relay to close", func() bool { return s.Allocations() == 0 })
	// Nothing the client sends through the closed relay reaches the SFU.
	_, _ = relay.WriteTo([]byte("after"), sfu.LocalAddr())
	_ = sfu.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _, err := sfu.ReadFrom(buf); err == nil {
		t.Fatalf("relay carried %q after revocation", buf[:n])
	}
	if _, err := turnClient(t, conn.LocalAddr().String(), creds).Allocate(); err == nil {
		t.Fatal("a revoked grant got a new allocation")
	}
}

// FuzzOpenGrant: arbitrary sealed grants never panic and never open.
func FuzzOpenGrant(f *testing.F) {
	aead := grantAEAD(make([]byte, 32))
	good, err := sealGrant(aead, "1", testGrant)
	if err != nil {
		f.Fatal(err)
	}
	seeds := []string{"", "AAAA", good, good[:len(good)-2]}
	for _, s := range seeds {
		f.Add(s)
	}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	f.Fuzz(func(t *testing.T, sealed string) {
		// Each fuzz worker seals its own seed under a fresh nonce, so the
		// only grant anything can open to is the one sealed above.
		if g, ok := openGrant(aead, "1", sealed); ok && g != testGrant {
			t.Fatalf("forged grant opened: %+v", g)
		}
	})
}

// A relay lives as long as the credential it was allocated with: past the
// credential's expiry it closes (the client's next Refresh would fail
// anyway, minutes later), and a relay allocated with fresh credentials
// carries on. This is why a long visit needs its credentials refreshed.
func TestExpiredCredentialClosesRelay(t *testing.T) {
	sfu, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sfu.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var offset atomic.Int64 // how far the server's clock runs ahead, in ns
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	s, err := New(Config{Conn: conn, RelayIP: net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1",
		Realm: "sealroom.test", Secret: bytes.Repeat([]byte{7}, 32), TTL: time.Minute, Now: now,
		AllowedPeers:    []netip.AddrPort{sfu.LocalAddr().(*net.UDPAddr).AddrPort()},
		RevocationCheck: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old, err := turnClient(t, conn.LocalAddr().String(), mustCredentials(t, s, testGrant)).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	offset.Store(int64(45 * time.Second)) // the credential has 15 s left: the client refreshes
	fresh, err := turnClient(t, conn.LocalAddr().String(), mustCredentials(t, s, testGrant)).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if s.Allocations() != 2 {
		t.Fatalf("%d live relays, want 2", s.Allocations())
	}
	offset.Store(int64(62 * time.Second)) // the first credential has expired, the second has not
	poll.Until(t, 5*time.Second, "the expired credential's relay to close", func() bool { return s.Allocations() == 1 })
	buf := make([]byte, 64)
	_, _ = old.WriteTo([]byte("old"), sfu.LocalAddr())
	if _, err := fresh.WriteTo([]byte("fresh"), sfu.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = sfu.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := sfu.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "fresh" {
		t.Fatalf("the SFU got %q (%v), want only the fresh relay's packet", buf[:n], err)
	}
}
