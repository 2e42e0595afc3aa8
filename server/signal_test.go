package server

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jonboulle/clockwork"

	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/signaling"
)

type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialSignal(t *testing.T, ts *httptest.Server) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/v1/signal", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(4 << 20)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &wsClient{t: t, ws: ws}
}

func (c *wsClient) sendRaw(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) send(typ, id string, data any) {
	c.t.Helper()
	env := map[string]any{"v": signaling.Version, "type": typ}
	if id != "" {
		env["id"] = id
	}
	if data != nil {
		env["data"] = data
	}
	b, _ := json.Marshal(env)
	c.sendRaw(b)
}

// next returns the next message, or the close status when the server closed.
func (c *wsClient) next() (signaling.Envelope, websocket.StatusCode) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		if st := websocket.CloseStatus(err); st != -1 {
			return signaling.Envelope{}, st
		}
		c.t.Fatalf("read: %v", err)
	}
	var env signaling.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		c.t.Fatalf("server sent non-JSON %q", b)
	}
	return env, 0
}

// expect skips messages until one of type typ arrives.
func (c *wsClient) expect(typ string) signaling.Envelope {
	c.t.Helper()
	for {
		env, closed := c.next()
		if closed != 0 {
			c.t.Fatalf("closed with %d while waiting for %q", closed, typ)
		}
		if env.Type == typ {
			return env
		}
	}
}

// expectClose skips messages until the server closes, and checks the code.
func (c *wsClient) expectClose(code websocket.StatusCode) {
	c.t.Helper()
	for {
		_, closed := c.next()
		if closed != 0 {
			if closed != code {
				c.t.Fatalf("closed with %d, want %d", closed, code)
			}
			return
		}
	}
}

func (f *fixture) roomToken(t *testing.T, who string, ttl time.Duration) string {
	t.Helper()
	tok, _, err := f.signer.Mint(auth.Grant{Identity: who, Name: strings.ToUpper(who), Room: "visit-1", Role: auth.RoleParticipant, CanPublish: true, CanSubscribe: true}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (c *wsClient) join(token string) signaling.Ready {
	c.t.Helper()
	c.send("auth", "", map[string]string{"token": token})
	env := c.expect("ready")
	var r signaling.Ready
	if err := json.Unmarshal(env.Data, &r); err != nil {
		c.t.Fatal(err)
	}
	return r
}

func signalFixture(t *testing.T, mut func(*Config)) (*fixture, *httptest.Server) {
	cfg := DefaultConfig()
	cfg.RatePerSecond, cfg.RateBurst = 1000, 1000
	if mut != nil {
		mut(&cfg)
	}
	f := newFixture(t, cfg)
	ts := httptest.NewServer(f.srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(f.srv.EndSessions) // before ts.Close: sessions waiting for a resume end now
	return f, ts
}

func TestSignalRoom(t *testing.T) {
	f, ts := signalFixture(t, nil)
	alice := dialSignal(t, ts)
	r := alice.join(f.roomToken(t, "alice", time.Hour))
	if len(r.Participants) != 1 || r.Participant.Subject != "alice" || r.Version != signaling.Version {
		t.Fatalf("alice ready: %+v", r)
	}
	bob := dialSignal(t, ts)
	r = bob.join(f.roomToken(t, "bob", time.Hour))
	if len(r.Participants) != 2 || r.Participants[0].Subject != "alice" {
		t.Fatalf("bob's roster: %+v", r.Participants)
	}
	var p signaling.Participant
	_ = json.Unmarshal(alice.expect(signaling.TypeJoined).Data, &p)
	if p.Subject != "bob" || p.Name != "BOB" {
		t.Fatalf("alice saw %+v join", p)
	}

	bob.send("mute", "m1", signaling.Mute{AudioMuted: true})
	if ack := bob.expect("ack"); ack.ID != "m1" {
		t.Fatalf("ack id %q", ack.ID)
	}
	_ = json.Unmarshal(alice.expect(signaling.TypeUpdated).Data, &p)
	if !p.AudioMuted || p.VideoMuted {
		t.Fatalf("alice saw %+v", p)
	}

	bob.send("ping", "p1", nil)
	if pong := bob.expect("pong"); pong.ID != "p1" {
		t.Fatalf("pong id %q", pong.ID)
	}
	bob.send("leave", "", nil)
	bob.expect("bye")
	bob.expectClose(websocket.StatusNormalClosure)
	var left signaling.Left
	_ = json.Unmarshal(alice.expect(signaling.TypeLeft).Data, &left)
	if left.Participant.Subject != "bob" || left.Reason != signaling.ReasonLeft {
		t.Fatalf("alice saw %+v", left)
	}
}

func TestSignalAuthFailures(t *testing.T) {
	f, ts := signalFixture(t, nil)
	adminTok, _, err := f.signer.Mint(auth.Grant{Identity: "root", Admin: true}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		first func(*wsClient)
		code  websocket.StatusCode
	}{
		{"bad token", func(c *wsClient) { c.send("auth", "", map[string]string{"token": "x.y.z"}) }, signaling.CloseUnauthorized},
		{"forged token", func(c *wsClient) {
			tok := f.roomToken(t, "alice", time.Hour)
			c.send("auth", "", map[string]string{"token": tok[:len(tok)-4] + "AAAA"})
		}, signaling.CloseUnauthorized},
		{"token without a room", func(c *wsClient) { c.send("auth", "", map[string]string{"token": adminTok}) }, signaling.CloseUnauthorized},
		{"first message not auth", func(c *wsClient) { c.send("ping", "", nil) }, signaling.CloseProtocol},
		{"not JSON", func(c *wsClient) { c.sendRaw([]byte("{{{")) }, signaling.CloseProtocol},
		{"unknown field in auth", func(c *wsClient) {
			c.send("auth", "", map[string]string{"token": f.roomToken(t, "alice", time.Hour), "jwk": "x"})
		}, signaling.CloseProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialSignal(t, ts)
			c.t = t
			tc.first(c)
			c.expectClose(tc.code)
		})
	}
}

func TestSignalBadMessages(t *testing.T) {
	f, ts := signalFixture(t, nil)
	c := dialSignal(t, ts)
	c.join(f.roomToken(t, "alice", time.Hour))

	errCode := func() string {
		var e signaling.Error
		_ = json.Unmarshal(c.expect("error").Data, &e)
		return e.Code
	}
	c.sendRaw([]byte(`not json`))
	if got := errCode(); got != signaling.CodeBadMessage {
		t.Fatalf("invalid JSON: %q", got)
	}
	c.sendRaw([]byte(`{"v":1,"type":"ping","extra":1}`))
	if got := errCode(); got != signaling.CodeBadMessage {
		t.Fatalf("unknown field: %q", got)
	}
	c.send("teleport", "", nil)
	if got := errCode(); got != signaling.CodeUnknownType {
		t.Fatalf("unknown type: %q", got)
	}
	c.sendRaw([]byte(`{"v":2,"type":"ping"}`))
	if got := errCode(); got != signaling.CodeUnsupportedVersion {
		t.Fatalf("version 2: %q", got)
	}
	c.send("mute", "", map[string]any{"audio_muted": "yes"})
	if got := errCode(); got != signaling.CodeBadMessage {
		t.Fatalf("bad mute: %q", got)
	}
	// The connection survives all of that.
	c.send("ping", "still-here", nil)
	c.expect("pong")

	// A 2 MB message is over the limit: the server closes with 1009.
	c.sendRaw([]byte(`{"v":1,"type":"ping","id":"` + strings.Repeat("a", 2<<20) + `"}`))
	c.expectClose(websocket.StatusMessageTooBig)
}

// fakeClockFixture is a signaling fixture whose timers run on a fake clock that starts
// now: tests advance it instead of sleeping.
func fakeClockFixture(t *testing.T) (*fixture, *httptest.Server, *clockwork.FakeClock) {
	clock := clockwork.NewFakeClockAt(time.Now())
	f, ts := signalFixture(t, func(c *Config) { c.Clock = clock })
	return f, ts, clock
}

// pastRealNow advances the fake clock to d after the real clock's now. The fixture's
// tokens are minted and verified on the real clock while the fake one stands still, so
// a timer armed for a token's expiry lies further ahead on the fake clock by however
// long the fixture and the joins took (seconds on a loaded machine).
func pastRealNow(clock *clockwork.FakeClock, d time.Duration) {
	clock.Advance(max(time.Since(clock.Now()), 0) + d)
}

// waitTimers waits until n timers are armed on the clock: a seated connection arms
// three (token expiry, idle logoff, revocation check).
func waitTimers(t *testing.T, clock *clockwork.FakeClock, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, n); err != nil {
		t.Fatalf("%d timers never armed: %v", n, err)
	}
}

// A client that never authenticates is closed with 4408 once the auth timeout passes.
func TestSignalAuthTimeout(t *testing.T) {
	_, ts, clock := fakeClockFixture(t)
	c := dialSignal(t, ts)
	waitTimers(t, clock, 1)
	clock.Advance(DefaultConfig().SignalAuthTimeout)
	c.expectClose(signaling.CloseAuthTimeout)
}

// Automatic logoff: the connection ends when its token expires, and the room hears why.
func TestSignalTokenExpiry(t *testing.T) {
	f, ts, clock := fakeClockFixture(t)
	alice := dialSignal(t, ts)
	alice.join(f.roomToken(t, "alice", time.Hour))
	bob := dialSignal(t, ts)
	bob.join(f.roomToken(t, "bob", 2*time.Second))
	waitTimers(t, clock, 6)
	pastRealNow(clock, 3*time.Second) // bob's token expired 2 s after it was minted
	var bye signaling.Bye
	_ = json.Unmarshal(bob.expect("bye").Data, &bye)
	if bye.Reason != signaling.ReasonExpired {
		t.Fatalf("bye reason %q", bye.Reason)
	}
	bob.expectClose(signaling.CloseUnauthorized)
	var left signaling.Left
	_ = json.Unmarshal(alice.expect(signaling.TypeLeft).Data, &left)
	if left.Reason != signaling.ReasonExpired {
		t.Fatalf("alice saw reason %q", left.Reason)
	}
}

func TestSignalRefresh(t *testing.T) {
	f, ts, clock := fakeClockFixture(t)
	c := dialSignal(t, ts)
	c.join(f.roomToken(t, "carol", 2*time.Second))

	other, _, _ := f.signer.Mint(auth.Grant{Identity: "mallory", Room: "visit-1", Role: auth.RoleParticipant}, time.Hour)
	c.send("refresh", "r0", signaling.Auth{Token: other})
	var e signaling.Error
	_ = json.Unmarshal(c.expect("error").Data, &e)
	if e.Code != signaling.CodeUnauthorized {
		t.Fatalf("refresh with another identity: %q", e.Code)
	}
	c.send("refresh", "r1", signaling.Auth{Token: f.roomToken(t, "carol", time.Hour)})
	c.expect("ack") // the expiry has moved before the ack is sent
	waitTimers(t, clock, 3)
	pastRealNow(clock, 3*time.Second) // past the first token's expiry
	c.send("ping", "p1", nil)
	if env, closed := c.next(); closed != 0 || env.Type != "pong" {
		t.Fatalf("after the first token's expiry: %q, closed %d", env.Type, closed)
	}
}

func TestSignalReplaced(t *testing.T) {
	f, ts := signalFixture(t, nil)
	first := dialSignal(t, ts)
	first.join(f.roomToken(t, "dave", time.Hour))
	second := dialSignal(t, ts)
	r := second.join(f.roomToken(t, "dave", time.Hour))
	if len(r.Participants) != 1 {
		t.Fatalf("roster after replacement: %+v", r.Participants)
	}
	var bye signaling.Bye
	_ = json.Unmarshal(first.expect("bye").Data, &bye)
	if bye.Reason != signaling.ReasonReplaced {
		t.Fatalf("bye reason %q", bye.Reason)
	}
	first.expectClose(signaling.CloseReplaced)
	second.send("ping", "", nil)
	second.expect("pong")
}

// Automatic logoff after inactivity; any client message keeps the session alive.
func TestSignalIdleLogoff(t *testing.T) {
	f, ts, clock := fakeClockFixture(t)
	idle := DefaultConfig().SignalIdleTimeout
	c := dialSignal(t, ts)
	c.join(f.roomToken(t, "erin", time.Hour))
	waitTimers(t, clock, 3)
	for range 3 {
		clock.Advance(idle * 2 / 3)
		c.send("ping", "", nil)
		if env, closed := c.next(); closed != 0 || env.Type != "pong" {
			t.Fatalf("a live session got %q, closed %d", env.Type, closed)
		}
	}
	clock.Advance(idle)
	var bye signaling.Bye
	_ = json.Unmarshal(c.expect("bye").Data, &bye)
	if bye.Reason != signaling.ReasonIdle {
		t.Fatalf("bye reason %q", bye.Reason)
	}
	c.expectClose(signaling.CloseIdle)
}

// Tokens living longer than auth.MaxTTL are refused on signaling as on the API, however
// correctly signed.
func TestSignalLifetimeCap(t *testing.T) {
	f, ts := signalFixture(t, nil)
	now := time.Now()
	for name, exp := range map[string]time.Time{"1 year": now.AddDate(1, 0, 0), "10 years": now.AddDate(10, 0, 0)} {
		t.Run(name, func(t *testing.T) {
			tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
				"iss": testIssuer, "aud": testAudience, "sub": "mallory", "jti": "long-" + name,
				"room": "visit-1", "role": "participant", "iat": now.Unix(), "exp": exp.Unix(),
			})
			tok.Header["kid"] = auth.KeyID(f.key.Public().(ed25519.PublicKey))
			s, err := tok.SignedString(f.key)
			if err != nil {
				t.Fatal(err)
			}
			c := dialSignal(t, ts)
			c.t = t
			c.send("auth", "", signaling.Auth{Token: s})
			c.expectClose(signaling.CloseUnauthorized)
		})
	}
}
