package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/signaling"
)

// Taking over a session recorded by another node: only with a token for the same subject,
// room and role and the session's current secret, once; a replayed or stale secret, or
// another's token, changes nothing.
func TestSessionTakeOver(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	a := &sessionStore{pool: pool, node: "a"}
	b := &sessionStore{pool: pool, node: "b"}
	me := signaling.Participant{ID: "p-1", Subject: "patient-7", Name: "Pat", Role: "participant", JoinedAt: time.Now()}
	claims := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "patient-7"}, Room: "r", Role: auth.RoleParticipant}
	secret := []byte("0123456789abcdef0123456789abcdef")
	if err := a.put(ctx, me, claims, sha256.Sum256(secret)); err != nil {
		t.Fatal(err)
	}
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
		if _, err := b.take(ctx, tc.ra, tc.c, next); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	var node string
	if err := pool.QueryRow(ctx, `SELECT node_id FROM signal_sessions WHERE id = 'p-1'`).Scan(&node); err != nil || node != "a" {
		t.Fatalf("after refused take-overs the record is on %q (%v), want a", node, err)
	}
	rec, err := b.take(ctx, ra, claims, next)
	if err != nil || rec.me.ID != "p-1" || rec.node != "a" {
		t.Fatalf("take-over: %+v, %v", rec, err)
	}
	if _, err := a.take(ctx, ra, claims, sha256.Sum256([]byte("again"))); !errors.Is(err, errStaleSecret) {
		t.Fatalf("a replayed resume: %v, want a stale secret", err)
	}
	// The node that lost the session cannot drop the record any more.
	if err := a.drop(ctx, "p-1"); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT node_id FROM signal_sessions WHERE id = 'p-1'`).Scan(&node); err != nil || node != "b" {
		t.Fatalf("record on %q (%v), want b", node, err)
	}
}
