package server

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/signaling"
)

// resumeAs dials and asks to resume session with secret under token; it returns the
// client and the resumed message, or nil and the close code.
func resumeAs(t *testing.T, c *wsClient, token, session string, secret []byte) (*signaling.Ready, websocket.StatusCode) {
	t.Helper()
	c.send("auth", "", signaling.Auth{Token: token, Resume: &signaling.ResumeAuth{Session: session, Secret: secret}})
	for {
		env, closed := c.next()
		if closed != 0 {
			return nil, closed
		}
		if env.Type == signaling.TypeResumed {
			var r signaling.Ready
			if err := json.Unmarshal(env.Data, &r); err != nil {
				t.Fatal(err)
			}
			return &r, 0
		}
	}
}

// aliceAndBob seats alice, then bob, in the fixture's room; it returns bob's token and
// ready.
func aliceAndBob(t *testing.T, f *fixture, ts *httptest.Server) (alice, bob *wsClient, bobTok string, r signaling.Ready) {
	t.Helper()
	alice = dialSignal(t, ts)
	alice.join(f.roomToken(t, "alice", time.Hour))
	bobTok = f.roomToken(t, "bob", time.Hour)
	bob = dialSignal(t, ts)
	return alice, bob, bobTok, bob.join(bobTok)
}

// updatedOf returns the next participant_updated c receives about sub.
func updatedOf(t *testing.T, c *wsClient, sub string) signaling.Participant {
	t.Helper()
	for {
		var p signaling.Participant
		_ = json.Unmarshal(c.expect(signaling.TypeUpdated).Data, &p)
		if p.Subject == sub {
			return p
		}
	}
}

// mustResume resumes session with secret on a new connection, or fails the test.
func mustResume(t *testing.T, ts *httptest.Server, token, session string, secret []byte, what string) (*wsClient, *signaling.Ready) {
	t.Helper()
	c := dialSignal(t, ts)
	r, closed := resumeAs(t, c, token, session, secret)
	if r == nil {
		t.Fatalf("%s: refused with %d", what, closed)
	}
	if r.Participant.ID != session {
		t.Fatalf("%s: resumed as %q, want %q", what, r.Participant.ID, session)
	}
	return c, r
}

// A dropped connection does not end the session: the participant shows as reconnecting,
// the room's messages queue, and the client that proves it holds the session (its resume
// secret, a token for the same subject and room) takes it back with the same participant
// id, then gets what it missed in order. Nobody sees it leave.
func TestSignalResume(t *testing.T) {
	f, ts := signalFixture(t, nil)
	alice, bob, bobTok, r := aliceAndBob(t, f, ts)
	if len(r.Resume) != 32 {
		t.Fatalf("ready carries a %d-byte resume secret", len(r.Resume))
	}
	alice.expect(signaling.TypeJoined)

	_ = bob.ws.CloseNow() // the network drops: no close frame
	p := updatedOf(t, alice, "bob")
	if p.ID != r.Participant.ID || !p.Reconnecting {
		t.Fatalf("alice saw %+v, want bob reconnecting", p)
	}
	// While bob is away the room goes on: alice mutes.
	alice.send("mute", "m1", signaling.Mute{AudioMuted: true})
	alice.expect("ack")

	back := dialSignal(t, ts)
	resumed, closed := resumeAs(t, back, bobTok, r.Participant.ID, r.Resume)
	if resumed == nil {
		t.Fatalf("resume refused with %d", closed)
	}
	if resumed.Participant.ID != r.Participant.ID || slices.Equal(resumed.Resume, r.Resume) || len(resumed.Resume) != 32 {
		t.Fatalf("resumed as %q with a new secret? %v", resumed.Participant.ID, !slices.Equal(resumed.Resume, r.Resume))
	}
	// What bob missed arrives after resumed.
	if p := updatedOf(t, back, "alice"); !p.AudioMuted {
		t.Fatalf("bob's missed message: %+v", p)
	}
	if p := updatedOf(t, alice, "bob"); p.ID != r.Participant.ID || p.Reconnecting {
		t.Fatalf("alice saw %+v, want bob back", p)
	}
	back.send(signaling.TypeResumeAck, "", nil) // bob holds the new secret
	back.send("ping", "p", nil)
	back.expect("pong")

	// The old secret is spent: a replay of it is refused, and the session stays bob's.
	_ = back.ws.CloseNow()
	if p := updatedOf(t, alice, "bob"); !p.Reconnecting {
		t.Fatal("bob not reconnecting after the second drop")
	}
	replay := dialSignal(t, ts)
	if _, closed := resumeAs(t, replay, bobTok, r.Participant.ID, r.Resume); closed != signaling.CloseNoResume {
		t.Fatalf("replayed secret: close %d, want %d", closed, signaling.CloseNoResume)
	}
	again := dialSignal(t, ts)
	if res, closed := resumeAs(t, again, bobTok, r.Participant.ID, resumed.Resume); res == nil {
		t.Fatalf("resume with the current secret after a refused replay: %d", closed)
	}
}

// A connection that dies after the server took the resume but before resumed reached
// the client leaves the client with only the secret it presented: that one still resumes
// the session until the client acknowledges a new one, and the secret the lost resumed
// carried, which the client never had, is forgotten.
func TestSignalResumeLostResumed(t *testing.T) {
	f, ts := signalFixture(t, nil)
	alice, bob, bobTok, r := aliceAndBob(t, f, ts)
	reconnecting := func(want bool) {
		t.Helper()
		if p := updatedOf(t, alice, "bob"); p.Reconnecting != want {
			t.Fatalf("alice saw bob reconnecting %v, want %v", p.Reconnecting, want)
		}
	}
	_ = bob.ws.CloseNow()
	reconnecting(true)

	// The server takes the resume and sends resumed; the socket dies before bob reads it
	// (the test reads it only to know the server got that far).
	lost, unread := mustResume(t, ts, bobTok, r.Participant.ID, r.Resume, "the first resume")
	reconnecting(false)
	_ = lost.ws.CloseNow()
	reconnecting(true)

	again, back := mustResume(t, ts, bobTok, r.Participant.ID, r.Resume, "a resume with the only secret bob has, after a lost resumed")
	reconnecting(false)
	again.send(signaling.TypeResumeAck, "", nil)
	again.send("ping", "p", nil)
	again.expect("pong")
	_ = again.ws.CloseNow()
	reconnecting(true)

	for name, secret := range map[string][]byte{"the lost resumed's secret": unread.Resume, "the acknowledged resume's secret": r.Resume} {
		if res, closed := resumeAs(t, dialSignal(t, ts), bobTok, r.Participant.ID, secret); res != nil || closed != signaling.CloseNoResume {
			t.Fatalf("%s: resumed %v, close %d", name, res != nil, closed)
		}
	}
	mustResume(t, ts, bobTok, r.Participant.ID, back.Resume, "a resume with the current secret")
}

// A resume is bound to the subject and room of the session and to its current secret;
// after the grace, or once the participant was removed, there is nothing to resume. Each
// refusal closes with 4412, changes nothing, and is audited.
func TestSignalResumeRefused(t *testing.T) {
	f, ts, clock := fakeClockFixture(t)
	alice, bob, bobTok, r := aliceAndBob(t, f, ts)
	_ = bob.ws.CloseNow()
	alice.expect(signaling.TypeUpdated) // bob reconnecting

	carolTok := f.roomToken(t, "carol", time.Hour)
	otherRoom, _, err := f.signer.Mint(auth.Grant{Identity: "bob", Room: "visit-2", Role: auth.RoleParticipant}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		token   string
		session string
		secret  []byte
		want    websocket.StatusCode
	}{
		"another subject's token": {carolTok, r.Participant.ID, r.Resume, signaling.CloseNoResume},
		"another room's token":    {otherRoom, r.Participant.ID, r.Resume, signaling.CloseNoResume},
		"a wrong secret":          {bobTok, r.Participant.ID, make([]byte, 32), signaling.CloseNoResume},
		"an unknown session":      {bobTok, "no-such-session", r.Resume, signaling.CloseNoResume},
	} {
		ws := dialSignal(t, ts)
		ws.t = t
		if res, closed := resumeAs(t, ws, c.token, c.session, c.secret); res != nil || closed != c.want {
			t.Fatalf("%s: resumed %v, close %d, want %d", name, res != nil, closed, c.want)
		}
	}
	// After the grace the session is over: the room hears bob's connection was lost, and
	// even the right secret resumes nothing.
	waitTimers(t, clock, 4) // alice's three, and bob's grace
	clock.Advance(DefaultConfig().SessionGrace + time.Second)
	var left signaling.Left
	_ = json.Unmarshal(alice.expect(signaling.TypeLeft).Data, &left)
	if left.Participant.ID != r.Participant.ID || left.Reason != signaling.ReasonLost {
		t.Fatalf("alice saw %+v", left)
	}
	late := dialSignal(t, ts)
	if res, closed := resumeAs(t, late, bobTok, r.Participant.ID, r.Resume); res != nil || closed != signaling.CloseNoResume {
		t.Fatalf("resume after the grace: resumed %v, close %d", res != nil, closed)
	}
	// A participant that said goodbye has no session left to resume.
	daveTok := f.roomToken(t, "dave", time.Hour)
	dave := dialSignal(t, ts)
	dr := dave.join(daveTok)
	dave.send("leave", "", nil)
	dave.expectClose(websocket.StatusNormalClosure)
	gone := dialSignal(t, ts)
	if res, closed := resumeAs(t, gone, daveTok, dr.Participant.ID, dr.Resume); res != nil || closed != signaling.CloseNoResume {
		t.Fatalf("resume after leave: resumed %v, close %d", res != nil, closed)
	}
	var denied int
	page, err := f.audit.Query(t.Context(), audit.Caller{Actor: "auditor", Role: audit.RoleAuditor}, audit.Filter{Action: audit.ActionSessionResumed})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range page.Records {
		if ev.Event.Outcome == audit.OutcomeDenied {
			denied++
		}
	}
	if denied != 6 {
		t.Fatalf("%d refused resumes audited, want 6", denied)
	}
}

// A session whose participant went on from another tab or device while it was away is
// not "join anew" to the tab that held it: its resume is told it was replaced (4409,
// audited), so that the tab does not rejoin and take the visit back; so too once the grace
// has run out before the participant came back elsewhere. Only that session's client is
// told so (its subject, room and secret): anyone else, a made-up session id included, gets
// 4412 as for any session not there, so a token cannot ask silently whether its subject is
// in the room. And when the newer connection is itself down (reconnecting) or has left,
// the old tab is told to join anew: the one that is up takes the seat.
func TestSignalResumeOfReplacedSession(t *testing.T) {
	f, ts := signalFixture(t, nil)
	alice, bob, bobTok, r := aliceAndBob(t, f, ts)
	_ = bob.ws.CloseNow()
	if p := updatedOf(t, alice, "bob"); !p.Reconnecting {
		t.Fatal("alice did not see bob reconnecting")
	}
	other := dialSignal(t, ts)
	other.join(f.roomToken(t, "bob", time.Hour)) // bob again, in another tab
	stale := func(f *fixture, ts *httptest.Server, token, session string, secret []byte) websocket.StatusCode {
		t.Helper()
		res, closed := resumeAs(t, dialSignal(t, ts), token, session, secret)
		if res != nil {
			t.Fatal("a session resumed whose participant went on elsewhere")
		}
		return closed
	}
	if closed := stale(f, ts, bobTok, r.Participant.ID, r.Resume); closed != signaling.CloseReplaced {
		t.Fatalf("the replaced tab's resume closed with %d, want %d", closed, signaling.CloseReplaced)
	}
	for name, c := range map[string]struct {
		token, session string
		secret         []byte
	}{
		"another subject's token": {f.roomToken(t, "carol", time.Hour), r.Participant.ID, r.Resume},
		"a wrong secret":          {bobTok, r.Participant.ID, make([]byte, 32)},
		"a made-up session":       {bobTok, "no-such-session", r.Resume},
	} {
		if closed := stale(f, ts, c.token, c.session, c.secret); closed != signaling.CloseNoResume {
			t.Fatalf("%s, while bob is seated elsewhere: close %d, want %d", name, closed, signaling.CloseNoResume)
		}
	}
	other.send("ping", "p", nil) // the newer connection keeps the seat
	other.expect("pong")
	// The newer connection drops too: the old tab, which is back, may take the seat.
	_ = other.ws.CloseNow()
	if p := updatedOf(t, alice, "bob"); !p.Reconnecting {
		t.Fatal("alice did not see the newer connection reconnecting")
	}
	if closed := stale(f, ts, bobTok, r.Participant.ID, r.Resume); closed != signaling.CloseNoResume {
		t.Fatalf("with the newer connection down, the old tab's resume closed with %d, want %d", closed, signaling.CloseNoResume)
	}
	page, err := f.audit.Query(t.Context(), audit.Caller{Actor: "auditor", Role: audit.RoleAuditor}, audit.Filter{Action: audit.ActionSessionResumed})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, ev := range page.Records {
		reasons[ev.Event.Details["reason"]]++
	}
	if reasons["replaced"] != 1 {
		t.Fatalf("refusals audited by reason %v, want one replaced", reasons)
	}

	// The grace runs out before the participant comes back from another tab.
	f, ts = signalFixture(t, func(c *Config) { c.SessionGrace = 50 * time.Millisecond })
	alice, bob, bobTok, r = aliceAndBob(t, f, ts)
	_ = bob.ws.CloseNow()
	leftAs := func(id string) {
		t.Helper()
		for {
			var left signaling.Left
			if json.Unmarshal(alice.expect(signaling.TypeLeft).Data, &left) == nil && left.Participant.ID == id {
				return
			}
		}
	}
	leftAs(r.Participant.ID)
	other = dialSignal(t, ts)
	again := other.join(bobTok)
	if closed := stale(f, ts, bobTok, r.Participant.ID, r.Resume); closed != signaling.CloseReplaced {
		t.Fatalf("after the grace, the old tab's resume closed with %d, want %d", closed, signaling.CloseReplaced)
	}
	// Once nobody holds the seat, the old tab joins anew.
	other.send("leave", "", nil)
	other.expectClose(websocket.StatusNormalClosure)
	leftAs(again.Participant.ID) // the close comes before the room hears of the leave
	if closed := stale(f, ts, bobTok, r.Participant.ID, r.Resume); closed != signaling.CloseNoResume {
		t.Fatalf("with the seat empty, the old tab's resume closed with %d, want %d", closed, signaling.CloseNoResume)
	}
}

// Ended sessions are remembered for endedFor, and only the last maxEnded of them.
func TestSessionsRememberEndedBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	secret := []byte("the secret of ready, 32 bytes...")
	c := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "pat"}, Room: "r"}
	ss := &sessions{}
	end := func(id string) {
		sc := &signalConn{claims: c, room: "r", me: signaling.Participant{ID: id, Subject: "pat"}, done: make(chan struct{}), secretHash: sha256.Sum256(secret)}
		ss.add(sc)
		sc.close(signaling.CloseReplaced, "replaced")
		ss.remove(sc, now)
	}
	for i := range maxEnded + 10 {
		end(fmt.Sprint("s", i))
	}
	if len(ss.ended) != maxEnded || len(ss.endedOrder) != maxEnded {
		t.Fatalf("%d ended sessions remembered (%d in order), want %d", len(ss.ended), len(ss.endedOrder), maxEnded)
	}
	proven := func(id string, at time.Time) bool {
		return ss.endedProven(&signaling.ResumeAuth{Session: id, Secret: secret}, c, at)
	}
	if proven("s0", now) || !proven("s10", now) || !proven(fmt.Sprint("s", maxEnded+9), now) {
		t.Fatal("not the oldest forgotten first")
	}
	if proven("s10", now.Add(endedFor)) {
		t.Fatal("an ended session remembered past endedFor")
	}
	if ss.endedProven(&signaling.ResumeAuth{Session: "s10", Secret: make([]byte, 32)}, c, now) {
		t.Fatal("a wrong secret proves an ended session")
	}
}

// The secret a resume presented stays good until the client acknowledges the new one on
// the socket of that resume, and for the grace at the most; an acknowledgement read from
// a socket a later resume took over spends nothing.
func TestClaimKeepsThePresentedSecretUntilAcknowledged(t *testing.T) {
	c := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "pat"}, Room: "r", Role: auth.RoleParticipant}
	sc := &signalConn{claims: c, me: signaling.Participant{ID: "p"}, done: make(chan struct{})}
	sc.detached.Store(true) // no socket to close
	x := []byte("the secret of ready, 32 bytes...")
	sc.secretHash = sha256.Sum256(x)
	ss := &sessions{}
	ss.add(sc)
	const grace = 30 * time.Second
	now := time.Unix(1_000_000, 0)
	claim := func(what string, secret []byte, at time.Time, want error) ([]byte, uint64) {
		t.Helper()
		_, next, _, gen, err := ss.claim(&signaling.ResumeAuth{Session: "p", Secret: secret}, c, at, grace)
		if !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", what, err, want)
		}
		return next, gen
	}
	y, gen1 := claim("the first resume", x, now, nil)
	// Its resumed was lost: the client presents x again; y, which it never had, is gone.
	z, gen2 := claim("the resume after a lost resumed", x, now.Add(time.Second), nil)
	claim("the lost resumed's secret", y, now.Add(time.Second), errStaleSecret)
	if _, had := ss.confirm(sc, gen1); had {
		t.Fatal("an acknowledgement from the first resume's socket spent the secret the second presented")
	}
	if _, had := ss.confirm(sc, gen2); !had {
		t.Fatal("the second resume's acknowledgement spent nothing")
	}
	claim("a replay of the acknowledged resume", x, now.Add(2*time.Second), errStaleSecret)
	// Never acknowledged: the presented secret lapses with the grace.
	w, _ := claim("a resume with the current secret", z, now.Add(3*time.Second), nil)
	claim("the presented secret after the grace", z, now.Add(3*time.Second+grace), errStaleSecret)
	claim("the current secret", w, now.Add(3*time.Second+grace), nil)
}
