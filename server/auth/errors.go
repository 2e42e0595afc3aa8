package auth

import "errors"

// Errors returned by Verifier.Verify. Every one of them means "not authenticated": the
// HTTP layer answers 401 for all of them and never shows which one to the caller, but
// logs and counts the reason.
var (
	// ErrMissing means no bearer token was presented.
	ErrMissing = errors.New("auth: no bearer token")
	// ErrTooLarge means the token exceeds MaxTokenSize and was not parsed.
	ErrTooLarge = errors.New("auth: token too large")
	// ErrHeader means the JOSE header asks for something sealroom never honours: an
	// unknown key id, or a key to be fetched from or embedded in the token itself (jku,
	// x5u, jwk, x5c) or critical extensions (crit).
	ErrHeader = errors.New("auth: forbidden or unknown token header")
	// ErrInvalid covers every other failure: malformed, bad signature, wrong algorithm,
	// expired, not yet valid, wrong issuer or audience, bad claims.
	ErrInvalid = errors.New("auth: invalid token")
	// ErrClaims means the signature was good but the grant inside is malformed.
	ErrClaims = errors.New("auth: invalid claims")
	// ErrLifetime means a correctly signed token claims to live longer than MaxTTL: exp
	// is more than MaxTTL after iat or, without iat, more than MaxTTL (plus Leeway) after
	// now. The cap holds for every key the Verifier accepts, not only for tokens it
	// minted. Errors that match it also match ErrInvalid, so a caller that only knows
	// ErrInvalid still refuses them.
	ErrLifetime = errors.New("auth: token lifetime exceeds the cap")
	// ErrRevoked means the token, or every token of its subject issued before a
	// cut-off, was revoked.
	ErrRevoked = errors.New("auth: token revoked")
)
