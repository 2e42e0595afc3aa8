package server

import (
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
	client := func() *pionturn.Client {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pc.Close() })
		cl, err := pionturn.NewClient(&pionturn.ClientConfig{TURNServerAddr: conn.LocalAddr().String(),
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
	relay, err := client().Allocate()
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
	if _, err := client().Allocate(); err == nil {
		t.Fatal("the revoked token's credentials got a new allocation")
	}
}
