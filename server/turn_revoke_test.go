package server

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"

	"github.com/sealroom/sealroom/media/turn"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/servertest/poll"
	"github.com/sealroom/sealroom/server/signaling"
)

// A revoked token's TURN relay stops within 5 s: the credentials handed out
// in ready are bound to the token, and the relay asks the same revocation
// list the API does.
func TestTURNAllocationDiesWithToken(t *testing.T) {
	f, ts := signalFixture(t, nil)
	sfu, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sfu.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relaySrv, err := turn.New(turn.Config{Conn: conn, RelayIP: net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1",
		Realm: "sealroom", Secret: make([]byte, 32), Revoked: f.srv.revoked.TURNRevoked,
		AllowedPeers: []netip.AddrPort{sfu.LocalAddr().(*net.UDPAddr).AddrPort()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = relaySrv.Close() })
	f.srv.turn, f.srv.turnURLs = relaySrv, []string{"turn:" + conn.LocalAddr().String() + "?transport=udp"}

	tok, jti, err := f.signer.Mint(auth.Grant{Identity: "bob", Room: "visit-1", Role: auth.RoleParticipant}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := dialSignal(t, ts).join(tok)
	if len(r.ICEServers) != 1 {
		t.Fatalf("ice servers %+v", r.ICEServers)
	}
	ice := r.ICEServers[0]
	relay, err := turnClient(t, conn.LocalAddr(), ice).Allocate()
	if err != nil {
		t.Fatalf("allocate with the ready credentials: %v", err)
	}
	defer relay.Close()
	if _, err := relay.WriteTo([]byte("media"), sfu.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = sfu.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := sfu.ReadFrom(buf); err != nil || string(buf[:n]) != "media" {
		t.Fatalf("relay before revocation: %q %v", buf[:n], err)
	}

	admin := f.mint(t, auth.Grant{Identity: "admin-1", Admin: true})
	if rec := do(f.srv.Handler(), "POST", "/v1/admin/revocations", admin,
		strings.NewReader(`{"jti":"`+jti+`","sub":"bob"}`)); rec.Code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	revokedAt := time.Now()
	poll.Until(t, 5*time.Second, "the revoked token's relay to close", func() bool { return relaySrv.Allocations() == 0 })
	t.Logf("relay closed %v after the revocation", time.Since(revokedAt).Round(time.Millisecond))
	if _, err := turnClient(t, conn.LocalAddr(), ice).Allocate(); err == nil {
		t.Fatal("the revoked token's credentials got a new allocation")
	}
}

// TURN credentials are short-lived and a relay closes when its credential expires, so a
// long visit gets fresh ones: the server pushes ice_servers with a quarter of the last
// ones' life left, again and again, and a token refresh yields credentials bound to the
// new token (the old token's revocation does not touch them).
func TestSignalICEServersRefreshed(t *testing.T) {
	f, ts, clock := fakeClockFixture(t)
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relaySrv, err := turn.New(turn.Config{Conn: conn, RelayIP: net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1",
		Realm: "sealroom", Secret: make([]byte, 32), TTL: time.Minute, Revoked: f.srv.revoked.TURNRevoked})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = relaySrv.Close() })
	f.srv.turn, f.srv.turnURLs = relaySrv, []string{"turn:" + conn.LocalAddr().String() + "?transport=udp"}

	tok, jti, err := f.signer.Mint(auth.Grant{Identity: "bob", Room: "visit-1", Role: auth.RoleParticipant}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := dialSignal(t, ts)
	r := c.join(tok)
	if len(r.ICEServers) != 1 {
		t.Fatalf("ice servers %+v", r.ICEServers)
	}
	seen := map[string]bool{r.ICEServers[0].Username: true}
	next := func(what string) signaling.ICEServer {
		t.Helper()
		var is signaling.ICEServers
		if err := json.Unmarshal(c.expect(signaling.TypeICEServers).Data, &is); err != nil || len(is.ICEServers) != 1 {
			t.Fatalf("%s: ice_servers %+v (%v)", what, is, err)
		}
		s := is.ICEServers[0]
		if seen[s.Username] || s.Credential == "" || s.URLs[0] != f.srv.turnURLs[0] {
			t.Fatalf("%s: not fresh credentials: %+v", what, s)
		}
		seen[s.Username] = true
		return s
	}
	waitTimers(t, clock, 4) // token expiry, idle, revocation check, the TURN refresh
	clock.Advance(44 * time.Second)
	c.send("ping", "p1", nil)
	c.expect("pong") // nothing before three quarters of the credential's life
	for i := range 2 {
		clock.Advance(time.Second)
		next(fmt.Sprintf("refresh %d", i+1))
		waitTimers(t, clock, 4)
		clock.Advance(44 * time.Second)
	}

	tok2, _, err := f.signer.Mint(auth.Grant{Identity: "bob", Room: "visit-1", Role: auth.RoleParticipant}, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.send("refresh", "r1", signaling.Auth{Token: tok2})
	c.expect("ack")
	bound := next("after a token refresh")
	admin := f.mint(t, auth.Grant{Identity: "admin-1", Admin: true})
	if rec := do(f.srv.Handler(), "POST", "/v1/admin/revocations", admin,
		strings.NewReader(`{"jti":"`+jti+`","sub":"bob"}`)); rec.Code != http.StatusNoContent {
		t.Fatalf("revoke the first token: %d %s", rec.Code, rec.Body)
	}
	relay, err := turnClient(t, conn.LocalAddr(), bound).Allocate()
	if err != nil {
		t.Fatalf("the credentials bound to the new token, after the old token's revocation: %v", err)
	}
	_ = relay.Close()
}

// turnClient is a TURN client of the relay at server, over UDP, with the credentials of ice.
func turnClient(t *testing.T, server net.Addr, ice signaling.ICEServer) *pionturn.Client {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	cl, err := pionturn.NewClient(&pionturn.ClientConfig{TURNServerAddr: server.String(),
		Conn: pc, Username: ice.Username, Password: ice.Credential, Realm: "sealroom", RTO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	return cl
}
