package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/signaling"
)

// recordedSession is one session of node a recorded in a fresh database, with the
// stores of nodes a and b, its token's claims and its resume secret.
type recordedSession struct {
	pool   *pgxpool.Pool
	a, b   *sessionStore
	me     signaling.Participant
	claims *auth.Claims
	secret []byte
}

func recordSession(t *testing.T) recordedSession {
	t.Helper()
	pool := pgtest.Pool(t)
	rs := recordedSession{pool: pool,
		a:      &sessionStore{pool: pool, node: "a", grace: time.Minute},
		b:      &sessionStore{pool: pool, node: "b", grace: time.Minute},
		me:     signaling.Participant{ID: "p-1", Subject: "patient-7", Name: "Pat", Role: "participant", JoinedAt: time.Now()},
		claims: &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "patient-7"}, Room: "r", Role: auth.RoleParticipant},
		secret: []byte("0123456789abcdef0123456789abcdef")}
	if err := rs.a.put(context.Background(), rs.me, rs.claims, sha256.Sum256(rs.secret), nil); err != nil {
		t.Fatal(err)
	}
	return rs
}

// Taking over a session recorded by another node: only with a token for the same subject,
// room and role and the session's current secret (or the one its last resume presented,
// until the client acknowledged the new one); a replayed or stale secret, or another's
// token, changes nothing.
func TestSessionTakeOver(t *testing.T) {
	ctx := context.Background()
	rs := recordSession(t)
	pool, a, b, claims, secret := rs.pool, rs.a, rs.b, rs.claims, rs.secret
	ra := &signaling.ResumeAuth{Session: "p-1", Secret: secret}
	next := sha256.Sum256([]byte("next"))
	for _, tc := range []struct {
		name string
		ra   *signaling.ResumeAuth
		c    *auth.Claims
		want error
	}{
		{"another subject", ra, &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "mallory"}, Room: "r", Role: auth.RoleParticipant}, errNotYours},
		{"another room", ra, &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "patient-7"}, Room: "other", Role: auth.RoleParticipant}, errNotYours},
		{"another role", ra, &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "patient-7"}, Room: "r", Role: auth.RoleHost}, errNotYours},
		{"a wrong secret", &signaling.ResumeAuth{Session: "p-1", Secret: []byte("guess")}, claims, errStaleSecret},
		{"no such session", &signaling.ResumeAuth{Session: "p-2", Secret: secret}, claims, errNoSession},
	} {
		if _, _, err := b.take(ctx, tc.ra, tc.c, next); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	var node string
	if err := pool.QueryRow(ctx, `SELECT node_id FROM signal_sessions WHERE id = 'p-1'`).Scan(&node); err != nil || node != "a" {
		t.Fatalf("after refused take-overs the record is on %q (%v), want a", node, err)
	}
	rec, presented, err := b.take(ctx, ra, claims, next)
	if err != nil || rec.me.ID != "p-1" || rec.node != "a" || presented != sha256.Sum256(secret) {
		t.Fatalf("take-over: %+v, %v", rec, err)
	}
	// Node b dies before its resumed reached the client, which still holds only the
	// secret it presented: node a takes the session back with it. The secret b made
	// ("next"), which never reached anyone, is forgotten.
	again := []byte("again")
	if _, _, err := a.take(ctx, ra, claims, sha256.Sum256(again)); err != nil {
		t.Fatalf("a resume whose resumed was lost: %v", err)
	}
	if _, _, err := b.take(ctx, &signaling.ResumeAuth{Session: "p-1", Secret: []byte("next")}, claims, next); !errors.Is(err, errStaleSecret) {
		t.Fatalf("the secret that never reached the client: %v, want a stale secret", err)
	}
	// The previous secret is good for the grace only: a node whose grace has passed
	// since the record was written refuses it.
	late := &sessionStore{pool: pool, node: "c"}
	if _, _, err := late.take(ctx, ra, claims, next); !errors.Is(err, errStaleSecret) {
		t.Fatalf("the previous secret after the grace: %v, want a stale secret", err)
	}
	// The client acknowledges the new secret: a replay of its resume is refused.
	if err := a.confirm(ctx, "p-1", sha256.Sum256(again)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.take(ctx, ra, claims, next); !errors.Is(err, errStaleSecret) {
		t.Fatalf("a replayed resume: %v, want a stale secret", err)
	}
	if _, _, err := b.take(ctx, &signaling.ResumeAuth{Session: "p-1", Secret: again}, claims, next); err != nil {
		t.Fatalf("a resume with the acknowledged secret: %v", err)
	}
	// The node that lost the session cannot drop the record any more.
	if err := a.drop(ctx, "p-1"); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT node_id FROM signal_sessions WHERE id = 'p-1'`).Scan(&node); err != nil || node != "b" {
		t.Fatalf("record on %q (%v), want b", node, err)
	}
}

// A session that ended keeps its record, without the display name, so that a resume
// reaching another node (the room moved) can prove it was the session's client and be
// told its seat went on elsewhere; the record is never taken over, a put cannot revive
// it, and after endedFor it is as good as gone.
func TestSessionEndedRecord(t *testing.T) {
	ctx := context.Background()
	rs := recordSession(t)
	pool, a, b, me, claims, secret := rs.pool, rs.a, rs.b, rs.me, rs.claims, rs.secret
	if err := b.end(ctx, "p-1"); err != nil { // not b's to end
		t.Fatal(err)
	}
	ra := &signaling.ResumeAuth{Session: "p-1", Secret: secret}
	next := sha256.Sum256([]byte("next"))
	if err := a.end(ctx, "p-1"); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := pool.QueryRow(ctx, `SELECT name FROM signal_sessions WHERE id = 'p-1'`).Scan(&name); err != nil || name != "" {
		t.Fatalf("the ended record keeps the name %q (%v)", name, err)
	}
	for _, tc := range []struct {
		name string
		ra   *signaling.ResumeAuth
		c    *auth.Claims
		want error
	}{
		{"its client", ra, claims, errEndedProven},
		{"its client again", ra, claims, errEndedProven},
		{"a wrong secret", &signaling.ResumeAuth{Session: "p-1", Secret: []byte("guess")}, claims, errStaleSecret},
		{"another subject", ra, &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "mallory"}, Room: "r", Role: auth.RoleParticipant}, errNotYours},
	} {
		if _, _, err := b.take(ctx, tc.ra, tc.c, next); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// A late write of the live session (a resume racing its end) does not revive it.
	if err := a.put(ctx, me, claims, next, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.take(ctx, &signaling.ResumeAuth{Session: "p-1", Secret: []byte("next")}, claims, next); !errors.Is(err, errStaleSecret) {
		t.Fatalf("after a put on the ended record: %v, want a stale secret (the record unchanged)", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE signal_sessions SET ended_at = now() - make_interval(secs => $1)`, endedFor.Seconds()+1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.take(ctx, ra, claims, next); !errors.Is(err, errNoSession) {
		t.Fatalf("after endedFor: %v, want no session", err)
	}
}
