package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/media/turn"
	"github.com/sealroom/sealroom/server/auth"
)

// Revocations is the set of revoked tokens and subjects, held in memory so every request
// can be checked without a database round trip, and reloaded from Postgres every few
// seconds so a revocation made by another server process takes effect everywhere.
type Revocations struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu       sync.RWMutex
	tokens   map[string]struct{}  // jti
	subjects map[string]time.Time // subject -> tokens issued before this are revoked
	// Revocations made here are kept in memory for a while even if a reload that began
	// before they committed does not see them.
	recentTokens   map[string]time.Time
	recentSubjects map[string]time.Time
}

var _ auth.Revocations = (*Revocations)(nil)

// RevocationRefresh is how often each process reloads the revocation lists, and so the
// longest a revocation made elsewhere takes to reach this process.
const RevocationRefresh = 5 * time.Second

// NewRevocations loads the revocation lists.
func NewRevocations(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (*Revocations, error) {
	r := &Revocations{pool: pool, log: log, recentTokens: map[string]time.Time{}, recentSubjects: map[string]time.Time{}}
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Revoked implements auth.Revocations.
func (r *Revocations) Revoked(c *auth.Claims) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.tokens[c.ID]; ok {
		return true
	}
	nb, ok := r.subjects[c.Subject]
	return ok && (c.IssuedAt == nil || c.IssuedAt.Before(nb))
}

// RevokeToken revokes one token. Tokens live at most auth.MaxTTL, so the entry can go
// once that has passed.
func (r *Revocations) RevokeToken(ctx context.Context, jti, subject, by string) error {
	if _, err := r.pool.Exec(ctx, `INSERT INTO token_revocations (jti, subject, expires_at, revoked_by)
		VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING`, jti, subject, time.Now().Add(auth.MaxTTL+auth.Leeway), by); err != nil {
		return fmt.Errorf("server: revoke token: %w", err)
	}
	r.mu.Lock()
	r.tokens[jti] = struct{}{}
	r.recentTokens[jti] = time.Now()
	r.mu.Unlock()
	return nil
}

// RevokeSubject revokes every token of subject issued until now. The cut-off is rounded
// up to the next second because token times have one-second resolution: a token issued
// in the same second is revoked too, which errs on the safe side.
func (r *Revocations) RevokeSubject(ctx context.Context, subject, by string) error {
	nb := time.Now().Truncate(time.Second).Add(time.Second)
	if _, err := r.pool.Exec(ctx, `INSERT INTO subject_revocations (subject, not_before, revoked_by) VALUES ($1, $2, $3)
		ON CONFLICT (subject) DO UPDATE SET not_before = excluded.not_before, revoked_by = excluded.revoked_by, revoked_at = now()`,
		subject, nb, by); err != nil {
		return fmt.Errorf("server: revoke subject: %w", err)
	}
	r.mu.Lock()
	r.subjects[subject] = nb
	r.recentSubjects[subject] = nb
	r.mu.Unlock()
	return nil
}

// Run reloads the lists until ctx ends.
func (r *Revocations) Run(ctx context.Context) {
	t := time.NewTicker(RevocationRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.load(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("reloading revocations", "err", err)
			}
		}
	}
}

func (r *Revocations) load(ctx context.Context) error {
	tokens := map[string]struct{}{}
	rows, err := r.pool.Query(ctx, `SELECT jti FROM token_revocations WHERE expires_at > now()`)
	if err != nil {
		return fmt.Errorf("server: load revocations: %w", err)
	}
	for rows.Next() {
		var jti string
		if err := rows.Scan(&jti); err != nil {
			rows.Close()
			return fmt.Errorf("server: load revocations: %w", err)
		}
		tokens[jti] = struct{}{}
	}
	rows.Close()
	subjects := map[string]time.Time{}
	rows, err = r.pool.Query(ctx, `SELECT subject, not_before FROM subject_revocations`)
	if err != nil {
		return fmt.Errorf("server: load revocations: %w", err)
	}
	for rows.Next() {
		var s string
		var nb time.Time
		if err := rows.Scan(&s, &nb); err != nil {
			rows.Close()
			return fmt.Errorf("server: load revocations: %w", err)
		}
		subjects[s] = nb
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("server: load revocations: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := time.Now().Add(-3 * RevocationRefresh)
	for jti, at := range r.recentTokens {
		if at.Before(keep) {
			delete(r.recentTokens, jti)
			continue
		}
		tokens[jti] = struct{}{}
	}
	for sub, nb := range r.recentSubjects {
		if nb.Before(keep) {
			delete(r.recentSubjects, sub)
			continue
		}
		if cur, ok := subjects[sub]; !ok || cur.Before(nb) {
			subjects[sub] = nb
		}
	}
	r.tokens, r.subjects = tokens, subjects
	return nil
}

// turnGrant is what TURN credentials minted for c's holder are bound to.
func turnGrant(c *auth.Claims) turn.Grant {
	g := turn.Grant{TokenID: c.ID, Subject: c.Subject}
	if c.IssuedAt != nil {
		g.IssuedAt = c.IssuedAt.Time
	}
	return g
}

// TURNRevoked reports whether the token behind a TURN grant is revoked, for
// turn.Config.Revoked: a revoked token's relays close within the TURN
// server's check interval, and within RevocationRefresh when the revocation
// was made by another process.
func (r *Revocations) TURNRevoked(g turn.Grant) bool {
	c := &auth.Claims{}
	c.ID, c.Subject = g.TokenID, g.Subject
	if !g.IssuedAt.IsZero() {
		c.IssuedAt = jwt.NewNumericDate(g.IssuedAt)
	}
	return r.Revoked(c)
}
