package auth

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// MaxTTL bounds the lifetime of a token: a leaked token is a leaked session, and HIPAA
// automatic logoff expects sessions to end. Mint refuses longer tokens and Verify refuses
// them whoever signed them (ErrLifetime).
const MaxTTL = 24 * time.Hour

// Grant is what a token allows: one identity, optionally in one room.
type Grant struct {
	Identity     string // stable user id, becomes sub
	Name         string // display name
	Room         string
	Role         Role
	CanPublish   bool
	CanSubscribe bool
	Admin        bool
	Auditor      bool
	AMR          []string // authentication methods (RFC 8176) vouched for by the minter
	BreakGlass   bool
}

// Signer mints tokens with the server's Ed25519 key.
type Signer struct {
	key      ed25519.PrivateKey
	kid      string
	issuer   string
	audience string
	now      func() time.Time
}

// NewSigner returns a Signer for tokens of issuer, meant for audience.
func NewSigner(key ed25519.PrivateKey, issuer, audience string) *Signer {
	return &Signer{
		key:      key,
		kid:      KeyID(key.Public().(ed25519.PublicKey)),
		issuer:   issuer,
		audience: audience,
		now:      time.Now,
	}
}

// PublicKey is the key that verifies this Signer's tokens.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Mint returns a signed token for g, valid for ttl from now, and its id (jti).
func (s *Signer) Mint(g Grant, ttl time.Duration) (token, id string, err error) {
	if ttl <= 0 || ttl > MaxTTL {
		return "", "", fmt.Errorf("auth: ttl must be in (0, %s]", MaxTTL)
	}
	if err := ValidateGrant(g); err != nil {
		return "", "", err
	}
	if g.Room == "" && !g.Admin && !g.Auditor {
		return "", "", errors.New("auth: a token needs a room, the admin or the auditor grant")
	}
	now := s.now().Truncate(time.Second)
	id = uuid.NewString()
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   g.Identity,
			Audience:  jwt.ClaimStrings{s.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        id,
		},
		Name: g.Name, Room: g.Room, Role: g.Role,
		CanPublish: g.CanPublish, CanSubscribe: g.CanSubscribe, Admin: g.Admin, Auditor: g.Auditor,
		AMR: g.AMR, BreakGlass: g.BreakGlass,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &c)
	t.Header["kid"] = s.kid
	token, err = t.SignedString(s.key)
	if err != nil {
		return "", "", fmt.Errorf("auth: sign: %w", err)
	}
	return token, id, nil
}
