package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/signaling"
)

func TestRevocation(t *testing.T) {
	f, ts := signalFixture(t, func(c *Config) { c.RevocationCheck = 100 * time.Millisecond })
	h := f.srv.Handler()
	admin := f.mint(t, auth.Grant{Identity: "admin-1", Admin: true})
	tok, jti, err := f.signer.Mint(auth.Grant{Identity: "bob", Room: "visit-1", Role: auth.RoleParticipant}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other := f.mint(t, auth.Grant{Identity: "bob", Room: "visit-2", Role: auth.RoleParticipant})

	// A live signaling connection with the token.
	c := dialSignal(t, ts)
	c.join(tok)
	if rec := do(h, "GET", "/v1/whoami", tok, nil); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	if rec := do(h, "POST", "/v1/admin/revocations", admin, strings.NewReader(`{"jti":"`+jti+`"}`)); rec.Code != http.StatusBadRequest {
		t.Fatalf("revocation without sub: %d", rec.Code)
	}
	if rec := do(h, "POST", "/v1/admin/revocations", admin, strings.NewReader(`{"jti":"`+jti+`","sub":"bob"}`)); rec.Code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	// The token is refused at once, even though the verifier had it cached.
	if rec := do(h, "GET", "/v1/whoami", tok, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", rec.Code)
	}
	// Bob's other token still works; the connection using the revoked one is closed.
	if rec := do(h, "GET", "/v1/whoami", other, nil); rec.Code != 200 {
		t.Fatalf("other token: %d", rec.Code)
	}
	var bye signaling.Bye
	env := c.expect("bye")
	_ = json.Unmarshal(env.Data, &bye)
	if bye.Reason != signaling.ReasonRevoked {
		t.Fatalf("bye %q", bye.Reason)
	}
	c.expectClose(signaling.CloseUnauthorized)

	// Revoking the subject refuses every token issued until now, and a refresh with one.
	c2 := dialSignal(t, ts)
	c2.join(other)
	if rec := do(h, "POST", "/v1/admin/revocations", admin, strings.NewReader(`{"sub":"bob"}`)); rec.Code != http.StatusNoContent {
		t.Fatalf("revoke subject: %d", rec.Code)
	}
	if rec := do(h, "GET", "/v1/whoami", other, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("token of a revoked subject: %d", rec.Code)
	}
	c2.expect("bye")
	c2.expectClose(signaling.CloseUnauthorized)

	// Another process learns of the revocations on its next reload.
	r2, err := NewRevocations(t.Context(), f.srv.pool, f.srv.log)
	if err != nil {
		t.Fatal(err)
	}
	issued := jwt.NewNumericDate(time.Now().Add(-time.Minute))
	if !r2.Revoked(&auth.Claims{RegisteredClaims: jwt.RegisteredClaims{ID: jti, Subject: "bob", IssuedAt: issued}}) {
		t.Fatal("the token revocation did not reach a fresh process")
	}
	if !r2.Revoked(&auth.Claims{RegisteredClaims: jwt.RegisteredClaims{ID: "other", Subject: "bob", IssuedAt: issued}}) {
		t.Fatal("the subject revocation did not reach a fresh process")
	}
	if r2.Revoked(&auth.Claims{RegisteredClaims: jwt.RegisteredClaims{ID: "x", Subject: "carol", IssuedAt: issued}}) {
		t.Fatal("an unrelated token is revoked")
	}
}
