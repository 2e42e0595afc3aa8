package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signRaw signs claims with key exactly as given, bypassing Mint's TTL cap: what a holder
// of a signing key (a careless minting script, an extra verify key's issuer, a stolen
// key) can produce.
func signRaw(t *testing.T, key ed25519.PrivateKey, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = KeyID(key.Public().(ed25519.PublicKey))
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The 24 h cap is enforced where tokens are accepted, not only where ours are minted:
// a correctly signed token that claims to live longer is refused, for every key the
// verifier accepts.
func TestVerifyCapsLifetime(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, extra, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier("iss", "aud",
		[]ed25519.PublicKey{key.Public().(ed25519.PublicKey), extra.Public().(ed25519.PublicKey)},
		WithClock(clock))

	claims := func(iat *time.Time, exp time.Time) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": "iss", "aud": "aud", "sub": "mallory", "jti": "j1",
			"room": "r", "role": "host", "nbf": now.Unix(), "exp": exp.Unix(),
		}
		if iat != nil {
			c["iat"] = iat.Unix()
		}
		return c
	}
	year := 365 * 24 * time.Hour
	earlier := now.Add(-time.Hour)
	cases := []struct {
		name string
		key  ed25519.PrivateKey
		c    jwt.MapClaims
		ok   bool
	}{
		{"24h", key, claims(&now, now.Add(MaxTTL)), true},
		{"24h issued an hour ago", key, claims(&earlier, earlier.Add(MaxTTL)), true},
		{"24h extra key", extra, claims(&now, now.Add(MaxTTL)), true},
		{"24h+1s", key, claims(&now, now.Add(MaxTTL+time.Second)), false},
		{"1 year", key, claims(&now, now.Add(year)), false},
		{"10 years", key, claims(&now, now.Add(10*year)), false},
		{"1 year extra key", extra, claims(&now, now.Add(year)), false},
		{"10 years extra key", extra, claims(&now, now.Add(10*year)), false},
		// Backdating iat does not help: the window is exp − iat.
		{"25h iat an hour ago", key, claims(&earlier, now.Add(MaxTTL)), false},
		{"no iat 24h", key, claims(nil, now.Add(MaxTTL)), true},
		{"no iat 24h + leeway", key, claims(nil, now.Add(MaxTTL+Leeway)), true},
		{"no iat 25h", key, claims(nil, now.Add(25*time.Hour)), false},
		{"no iat 10 years", extra, claims(nil, now.Add(10*year)), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := signRaw(t, tc.key, tc.c)
			// Twice: a refused token must not be cached, an accepted one is served from
			// the cache the second time.
			for range 2 {
				_, err := v.Verify(tok)
				switch {
				case tc.ok && err != nil:
					t.Fatalf("refused: %v", err)
				case !tc.ok && !errors.Is(err, ErrLifetime):
					t.Fatalf("err = %v, want ErrLifetime", err)
				case !tc.ok && !errors.Is(err, ErrInvalid):
					// Callers that only know ErrInvalid must still answer 401.
					t.Fatalf("err = %v, does not match ErrInvalid", err)
				}
			}
		})
	}
}
