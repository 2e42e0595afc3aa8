// Package auth mints and verifies sealroom's access tokens: JWTs signed with Ed25519
// (EdDSA) that carry one room grant. Verification is deliberately narrow: one algorithm,
// keys only from the server's own key set by kid, exp/iss/aud required, a lifetime of at
// most MaxTTL, at most 30 s of clock leeway, and a size cap checked before any parsing. It never logs a token.
package auth

import (
	"fmt"
	"regexp"

	"github.com/golang-jwt/jwt/v5"
)

// Role is a participant's role in a room. The set is closed.
type Role string

// The roles, from most to least privileged in a room.
const (
	RoleHost        Role = "host"        // runs the room: may remove participants
	RoleClinician   Role = "clinician"   // a care provider in a telehealth visit
	RoleParticipant Role = "participant" // an ordinary member, e.g. the patient
	RoleObserver    Role = "observer"    // may watch, never publish
)

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool {
	switch r {
	case RoleHost, RoleClinician, RoleParticipant, RoleObserver:
		return true
	}
	return false
}

var (
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,128}$`)
	roomPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// Claims are the verified contents of a token. Subject (sub) is the stable user id;
// everything else is the grant.
type Claims struct {
	jwt.RegisteredClaims
	Name         string `json:"name,omitempty"`
	Room         string `json:"room,omitempty"`
	Role         Role   `json:"role,omitempty"`
	CanPublish   bool   `json:"can_publish,omitempty"`
	CanSubscribe bool   `json:"can_subscribe,omitempty"`
	Admin        bool   `json:"admin,omitempty"`
	Auditor      bool   `json:"auditor,omitempty"` // may read the audit log
	// AMR lists how the subject authenticated (RFC 8176), as the identity provider
	// asserted it; "mfa", "otp" or "hwk" count as a second factor.
	AMR []string `json:"amr,omitempty"`
	// BreakGlass marks an emergency-access token (HIPAA §164.312(a)(2)(ii)).
	BreakGlass bool `json:"bg,omitempty"`
}

// MFA reports whether the token asserts a second authentication factor.
func (c *Claims) MFA() bool {
	for _, m := range c.AMR {
		switch m {
		case "mfa", "otp", "hwk":
			return true
		}
	}
	return false
}

var _ jwt.ClaimsValidator = (*Claims)(nil)

// Validate checks the grant's shape. golang-jwt calls it after the registered claims
// (exp, nbf, iat, iss, aud) have passed.
func (c *Claims) Validate() error {
	if !idPattern.MatchString(c.Subject) {
		return fmt.Errorf("%w: subject must match %s", ErrClaims, idPattern)
	}
	if c.ID == "" {
		return fmt.Errorf("%w: jti required", ErrClaims)
	}
	if len(c.Name) > 128 {
		return fmt.Errorf("%w: name longer than 128 bytes", ErrClaims)
	}
	if c.Room == "" {
		if c.Role != "" || c.CanPublish || c.CanSubscribe {
			return fmt.Errorf("%w: a role or media grant needs a room", ErrClaims)
		}
		return nil
	}
	if !roomPattern.MatchString(c.Room) {
		return fmt.Errorf("%w: room must match %s", ErrClaims, roomPattern)
	}
	if !c.Role.Valid() {
		return fmt.Errorf("%w: unknown role %q", ErrClaims, c.Role)
	}
	if c.Role == RoleObserver && c.CanPublish {
		return fmt.Errorf("%w: an observer cannot publish", ErrClaims)
	}
	return nil
}

// ValidateGrant checks a grant before it is minted, with the same rules as verification.
func ValidateGrant(g Grant) error {
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: g.Identity, ID: "mint"},
		Name:             g.Name, Room: g.Room, Role: g.Role,
		CanPublish: g.CanPublish, CanSubscribe: g.CanSubscribe, Admin: g.Admin, Auditor: g.Auditor,
		AMR: g.AMR, BreakGlass: g.BreakGlass,
	}
	return c.Validate()
}
