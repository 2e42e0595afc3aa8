package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenSize is the largest token Verify parses. Ours are about 500 bytes; the cap
// keeps a hostile client from making the server base64-decode and JSON-parse megabytes.
const MaxTokenSize = 8 << 10

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 30 * time.Second

// forbiddenHeaders would let a token choose its own verification key or demand
// extensions we do not implement (RFC 7515 §4.1).
var forbiddenHeaders = []string{"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit"}

// Verifier checks tokens against a fixed set of Ed25519 keys. It is safe for concurrent
// use. Verified tokens are cached by their SHA-256 until they expire, so a client that
// sends the same token on every request pays for one signature check.
type Verifier struct {
	keys    map[string]ed25519.PublicKey
	parser  *jwt.Parser
	now     func() time.Time
	revoked Revocations

	mu    sync.Mutex
	cache map[[32]byte]*Claims
}

// cacheSize bounds the verified-token cache; when full it is emptied, which costs one
// signature check per live token and keeps memory bounded against token spraying.
const cacheSize = 10000

// VerifierOption configures a Verifier.
type VerifierOption func(*Verifier)

// Revocations says whether a verified token has been revoked since it was issued. It is
// asked on every Verify, cached tokens included, so it must answer from memory.
type Revocations interface {
	Revoked(c *Claims) bool
}

// WithRevocations makes the Verifier refuse tokens that r reports revoked.
func WithRevocations(r Revocations) VerifierOption {
	return func(v *Verifier) { v.revoked = r }
}

// WithClock sets the clock used for exp/nbf/iat checks (tests).
func WithClock(now func() time.Time) VerifierOption {
	return func(v *Verifier) { v.now = now }
}

// NewVerifier accepts tokens from issuer for audience signed by any of keys.
func NewVerifier(issuer, audience string, keys []ed25519.PublicKey, opts ...VerifierOption) *Verifier {
	v := &Verifier{
		keys:  make(map[string]ed25519.PublicKey, len(keys)),
		now:   time.Now,
		cache: make(map[[32]byte]*Claims),
	}
	for _, k := range keys {
		v.keys[KeyID(k)] = k
	}
	for _, o := range opts {
		o(v)
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
		jwt.WithStrictDecoding(),
	)
	return v
}

// Verify returns the token's claims, or an error wrapping one of the package's
// sentinel errors.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if token == "" {
		return nil, ErrMissing
	}
	if len(token) > MaxTokenSize {
		return nil, ErrTooLarge
	}
	sum := sha256.Sum256([]byte(token))
	if c := v.cached(sum); c != nil {
		return v.checkRevoked(c)
	}
	c := new(Claims)
	_, err := v.parser.ParseWithClaims(token, c, v.key)
	if err != nil {
		if errors.Is(err, ErrHeader) || errors.Is(err, ErrClaims) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := checkLifetime(c, v.now()); err != nil {
		return nil, err
	}
	v.store(sum, c)
	return v.checkRevoked(c)
}

// checkLifetime enforces MaxTTL on a token whose signature and time window have
// passed. Minting caps the lifetime too, but the verifier is what stands between a
// token and access: a token from an extra verify key, a hand-rolled minting script or a
// stolen key must not grant a year of access because it says so. With iat the lifetime
// is exp − iat (backdating iat only shortens what is left); without it, exp may lie at
// most MaxTTL plus Leeway ahead of now.
func checkLifetime(c *Claims, now time.Time) error {
	exp := c.ExpiresAt.Time // never nil: the parser requires exp
	if c.IssuedAt != nil {
		if life := exp.Sub(c.IssuedAt.Time); life > MaxTTL {
			return fmt.Errorf("%w: %w: exp is %s after iat, cap %s", ErrInvalid, ErrLifetime, life, MaxTTL)
		}
		return nil
	}
	if ahead := exp.Sub(now); ahead > MaxTTL+Leeway {
		return fmt.Errorf("%w: %w: no iat and exp is %s ahead, cap %s", ErrInvalid, ErrLifetime, ahead.Truncate(time.Second), MaxTTL)
	}
	return nil
}

func (v *Verifier) checkRevoked(c *Claims) (*Claims, error) {
	if v.revoked != nil && v.revoked.Revoked(c) {
		return nil, ErrRevoked
	}
	return c, nil
}

// StillValid reports whether claims verified earlier are still acceptable now: not
// expired and not revoked. Long-lived connections ask it periodically.
func (v *Verifier) StillValid(c *Claims) error {
	if v.now().After(c.ExpiresAt.Add(Leeway)) {
		return ErrInvalid
	}
	if _, err := v.checkRevoked(c); err != nil {
		return err
	}
	return nil
}

func (v *Verifier) key(t *jwt.Token) (any, error) {
	for _, h := range forbiddenHeaders {
		if _, ok := t.Header[h]; ok {
			return nil, fmt.Errorf("%w: %q", ErrHeader, h)
		}
	}
	kid, _ := t.Header["kid"].(string)
	k, ok := v.keys[kid]
	if !ok {
		return nil, fmt.Errorf("%w: unknown kid", ErrHeader)
	}
	return k, nil
}

// cached returns the claims of an already verified token while its time window holds.
func (v *Verifier) cached(sum [32]byte) *Claims {
	v.mu.Lock()
	c, ok := v.cache[sum]
	v.mu.Unlock()
	if !ok {
		return nil
	}
	now := v.now()
	if now.After(c.ExpiresAt.Add(Leeway)) {
		v.mu.Lock()
		delete(v.cache, sum)
		v.mu.Unlock()
		return nil
	}
	return c
}

func (v *Verifier) store(sum [32]byte, c *Claims) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.cache) >= cacheSize {
		clear(v.cache)
	}
	v.cache[sum] = c
}
