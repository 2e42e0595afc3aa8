package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sealroom/sealroom/server/auth"
)

// TestRejectedTokens is the negative JWT suite: every forged, malformed or out-of-policy
// token gets 401 with a JSON error body, and none reaches a handler.
func TestRejectedTokens(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RatePerSecond, cfg.RateBurst = 1e6, 1e6
	f := newFixture(t, cfg)
	kid := auth.KeyID(f.key.Public().(ed25519.PublicKey))
	now := time.Now()

	claims := func(mut func(*jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": testIssuer, "aud": testAudience, "sub": "mallory", "jti": "j1",
			"room": "r1", "role": "host", "can_publish": true,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		}
		if mut != nil {
			mut(&c)
		}
		return c
	}
	signEd := func(c jwt.MapClaims, key ed25519.PrivateKey, hdr map[string]any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tok.Header["kid"] = kid
		for k, v := range hdr {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	unsigned := func(alg string) string {
		h, _ := json.Marshal(map[string]any{"alg": alg, "typ": "JWT", "kid": kid})
		p, _ := json.Marshal(claims(nil))
		enc := base64.RawURLEncoding.EncodeToString
		return enc(h) + "." + enc(p) + "."
	}
	valid := signEd(claims(nil), f.key, nil)

	// HS256 keyed with the server's public key: the classic algorithm confusion.
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	hs.Header["kid"] = kid
	hsTok, err := hs.SignedString([]byte(f.key.Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(nil))
	rs.Header["kid"] = kid
	rsTok, err := rs.SignedString(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	otherKid := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims(nil))
	otherKid.Header["kid"] = auth.KeyID(otherKey.Public().(ed25519.PublicKey))
	otherKidTok, _ := otherKid.SignedString(otherKey)
	noKid := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims(nil))
	noKidTok, _ := noKid.SignedString(f.key)

	parts := strings.Split(valid, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[0] ^= 1
	badSig := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)

	cases := []struct{ name, token string }{
		{"alg none", unsigned("none")},
		{"alg None", unsigned("None")},
		{"alg NONE", unsigned("NONE")},
		{"alg nOnE", unsigned("nOnE")},
		{"HS256 with the public key", hsTok},
		{"RS256", rsTok},
		{"missing exp", signEd(claims(func(c *jwt.MapClaims) { delete(*c, "exp") }), f.key, nil)},
		{"expired", signEd(claims(func(c *jwt.MapClaims) { (*c)["exp"] = now.Add(-time.Minute).Unix() }), f.key, nil)},
		{"future nbf", signEd(claims(func(c *jwt.MapClaims) { (*c)["nbf"] = now.Add(time.Minute).Unix() }), f.key, nil)},
		{"future iat", signEd(claims(func(c *jwt.MapClaims) { (*c)["iat"] = now.Add(time.Minute).Unix() }), f.key, nil)},
		{"wrong iss", signEd(claims(func(c *jwt.MapClaims) { (*c)["iss"] = "evil" }), f.key, nil)},
		{"missing iss", signEd(claims(func(c *jwt.MapClaims) { delete(*c, "iss") }), f.key, nil)},
		{"wrong aud", signEd(claims(func(c *jwt.MapClaims) { (*c)["aud"] = "other-service" }), f.key, nil)},
		{"missing aud", signEd(claims(func(c *jwt.MapClaims) { delete(*c, "aud") }), f.key, nil)},
		{"bad signature", badSig},
		{"truncated: no signature", parts[0] + "." + parts[1]},
		{"truncated: half", valid[:len(valid)/2]},
		{"truncated: signature cut", valid[:len(valid)-5]},
		{"9 KiB token", signEd(claims(func(c *jwt.MapClaims) { (*c)["pad"] = strings.Repeat("x", 9<<10) }), f.key, nil)},
		{"unknown kid", otherKidTok},
		{"no kid", noKidTok},
		{"jku header", signEd(claims(nil), f.key, map[string]any{"jku": "https://evil.example/jwks"})},
		{"x5u header", signEd(claims(nil), f.key, map[string]any{"x5u": "https://evil.example/cert"})},
		{"jwk header", signEd(claims(nil), f.key, map[string]any{"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "AA"}})},
		{"crit header", signEd(claims(nil), f.key, map[string]any{"crit": []string{"exp"}})},
		{"unknown role", signEd(claims(func(c *jwt.MapClaims) { (*c)["role"] = "superuser" }), f.key, nil)},
		{"observer publishing", signEd(claims(func(c *jwt.MapClaims) { (*c)["role"] = "observer" }), f.key, nil)},
		{"empty sub", signEd(claims(func(c *jwt.MapClaims) { (*c)["sub"] = "" }), f.key, nil)},
		{"1-year lifetime", signEd(claims(func(c *jwt.MapClaims) { (*c)["exp"] = now.Add(365 * 24 * time.Hour).Unix() }), f.key, nil)},
		{"10-year lifetime", signEd(claims(func(c *jwt.MapClaims) { (*c)["exp"] = now.Add(10 * 365 * 24 * time.Hour).Unix() }), f.key, nil)},
		{"no iat, exp 25 h ahead", signEd(claims(func(c *jwt.MapClaims) { delete(*c, "iat"); (*c)["exp"] = now.Add(25 * time.Hour).Unix() }), f.key, nil)},
		{"not a JWT", "hello"},
		{"empty", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.hits.Load()
			req := mustRequest(t, tc.token)
			rec := serve(f, req)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", rec.Code, rec.Body)
			}
			if got := errorCode(t, rec); got != CodeUnauthorized {
				t.Fatalf("error code %q", got)
			}
			if b := rec.Body.String(); strings.Contains(b, "goroutine") || strings.Contains(b, ".go:") {
				t.Fatalf("body leaks internals: %s", b)
			}
			if f.hits.Load() != before {
				t.Fatal("the handler ran")
			}
		})
	}

	t.Run("control: the valid token passes", func(t *testing.T) {
		if rec := serve(f, mustRequest(t, valid)); rec.Code != 200 {
			t.Fatalf("valid token: %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("control: 20 s of clock skew is tolerated", func(t *testing.T) {
		tok := signEd(claims(func(c *jwt.MapClaims) {
			(*c)["nbf"] = now.Add(20 * time.Second).Unix()
			(*c)["iat"] = now.Add(20 * time.Second).Unix()
		}), f.key, nil)
		if rec := serve(f, mustRequest(t, tok)); rec.Code != 200 {
			t.Fatalf("skewed token: %d %s", rec.Code, rec.Body)
		}
	})
}

func mustRequest(t *testing.T, token string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", "/v1/probe", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.RemoteAddr = "192.0.2.20:1"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}
