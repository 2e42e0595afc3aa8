package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/pflag"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/migrations/localpg"
	"github.com/sealroom/sealroom/server/auth"
)

// common holds the settings several commands share. Flags win over environment
// variables, which win over defaults.
type common struct {
	dataDir  string
	dev      bool
	issuer   string
	audience string
}

func (c *common) flags(fs *pflag.FlagSet, e *env) {
	fs.StringVar(&c.dataDir, "data", e.getenvOr("SEALROOM_DATA", ".data"), "folder for development keys and the local database (env SEALROOM_DATA)")
	fs.BoolVar(&c.dev, "dev", e.getenv("SEALROOM_DEV") == "1", "development mode: without DATABASE_URL, start a throwaway local Postgres under the data folder (env SEALROOM_DEV=1)")
	fs.StringVar(&c.issuer, "issuer", e.getenvOr("SEALROOM_ISSUER", "sealroom"), "token issuer (iss) (env SEALROOM_ISSUER)")
	fs.StringVar(&c.audience, "audience", e.getenvOr("SEALROOM_AUDIENCE", "sealroom"), "token audience (aud) (env SEALROOM_AUDIENCE)")
}

// databaseURL is DATABASE_URL, or in development mode a local cluster's.
func (c *common) databaseURL(ctx context.Context, e *env, log *slog.Logger) (string, error) {
	if u := e.getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	if !c.dev {
		return "", errors.New("DATABASE_URL is not set (use --dev for a throwaway local Postgres)")
	}
	cl, err := localpg.Open(c.dataDir)
	if err != nil {
		return "", err
	}
	log.Info("starting local development Postgres", "dir", cl.Dir, "socket", cl.Socket)
	return cl.Ensure(ctx)
}

// connect opens the pool on DATABASE_URL, or in development mode on a local cluster.
func (c *common) connect(ctx context.Context, e *env, log *slog.Logger) (*pgxpool.Pool, error) {
	url, err := c.databaseURL(ctx, e, log)
	if err != nil {
		return nil, err
	}
	return openPool(ctx, url, log)
}

// openPool connects and waits up to a minute for the database to answer, so a server
// started together with its database does not fail on the first try.
func openPool(ctx context.Context, url string, log *slog.Logger) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	// The key service holds one connection for LISTEN and one per commit being
	// validated; the pgx default (4 on this size of machine) starves it. A pool_max_conns
	// in the URL still wins when it is larger.
	if cfg.MaxConns < 32 {
		cfg.MaxConns = 32
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = pool.Ping(pctx)
		cancel()
		if err == nil {
			return pool, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			pool.Close()
			return nil, fmt.Errorf("database unreachable: %w", err)
		}
		log.Warn("database not reachable yet; retrying", "err", err)
		time.Sleep(time.Second)
	}
}

// signingKey loads the token signing key: SEALROOM_TOKEN_KEY_FILE, SEALROOM_TOKEN_KEY
// (PEM text), or a development key generated under the data folder.
func (c *common) signingKey(e *env, log *slog.Logger) (ed25519.PrivateKey, error) {
	if p := e.getenv("SEALROOM_TOKEN_KEY_FILE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("token key: %w", err)
		}
		return auth.ParsePrivateKey(b)
	}
	if pemText := e.getenv("SEALROOM_TOKEN_KEY"); pemText != "" {
		return auth.ParsePrivateKey([]byte(pemText))
	}
	path := filepath.Join(c.dataDir, "keys", "token-signing.pem")
	key, created, err := auth.LoadOrCreateKey(path)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("generated a development token signing key; set SEALROOM_TOKEN_KEY_FILE in production", "path", path)
	}
	return key, nil
}

// verifyKeys are the public keys whose tokens the server accepts: its own, plus any in
// SEALROOM_TOKEN_VERIFY_KEYS (comma-separated PEM files), for key rotation.
func (c *common) verifyKeys(e *env, own ed25519.PublicKey) ([]ed25519.PublicKey, error) {
	keys := []ed25519.PublicKey{own}
	for _, p := range strings.Split(e.getenv("SEALROOM_TOKEN_VERIFY_KEYS"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("verify key: %w", err)
		}
		k, err := auth.ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("verify key %s: %w", p, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// auditKey loads the audit checkpoint signing key: SEALROOM_AUDIT_KEY_FILE, or a
// development key generated under the data folder.
func (c *common) auditKey(e *env, log *slog.Logger) (ed25519.PrivateKey, error) {
	if p := e.getenv("SEALROOM_AUDIT_KEY_FILE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("audit key: %w", err)
		}
		return auth.ParsePrivateKey(b)
	}
	path := filepath.Join(c.dataDir, "keys", "audit-signing.pem")
	key, created, err := auth.LoadOrCreateKey(path)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("generated a development audit signing key; set SEALROOM_AUDIT_KEY_FILE in production", "path", path)
	}
	return key, nil
}

// auditPublicKey is the key `audit verify` and the compliance report check checkpoints
// against: --public-key if given (a verifier need not hold the private key), else the
// configured signing key's public half.
func (c *common) auditPublicKey(e *env, log *slog.Logger, pubFile string) (ed25519.PublicKey, error) {
	if pubFile != "" {
		b, err := os.ReadFile(pubFile)
		if err != nil {
			return nil, fmt.Errorf("audit public key: %w", err)
		}
		return auth.ParsePublicKey(b)
	}
	key, err := c.auditKey(e, log)
	if err != nil {
		return nil, err
	}
	return key.Public().(ed25519.PublicKey), nil
}

// envDuration reads a duration from the environment, or def when unset or malformed.
func envDuration(e *env, key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(e.getenv(key)); err == nil && d > 0 {
		return d
	}
	return def
}

// openAudit starts the audit log writer. Its spool (where events wait, fsync'd, while
// Postgres is unreachable) lives under SEALROOM_AUDIT_SPOOL or the data folder; each
// process needs its own, so serve and the CLI use different folders. Checkpoints it signs
// (every SEALROOM_AUDIT_CHECKPOINT_INTERVAL, default 10s) are also appended to the
// witness file SEALROOM_AUDIT_WITNESS when set (audit/README.md "Witness").
func (c *common) openAudit(ctx context.Context, e *env, log *slog.Logger, pool *pgxpool.Pool, spool string) (*audit.Log, error) {
	key, err := c.auditKey(e, log)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.dataDir, spool)
	if d := e.getenv("SEALROOM_AUDIT_SPOOL"); d != "" && spool == "audit-spool" {
		dir = d
	}
	l, err := audit.New(audit.Config{Pool: pool, SpoolDir: dir, Key: key, Logger: log,
		WitnessPath:        e.getenv("SEALROOM_AUDIT_WITNESS"),
		CheckpointInterval: envDuration(e, "SEALROOM_AUDIT_CHECKPOINT_INTERVAL", 0)})
	if err != nil {
		return nil, err
	}
	if err := l.Start(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// dsKey loads the Delivery Service's external-sender key (RFC 9420 §12.1.8.1): every
// process of a deployment must use the same one, since a group lists exactly one.
// SEALROOM_DS_KEY_FILE, or a development key generated under the data folder.
func (c *common) dsKey(e *env, log *slog.Logger) (ed25519.PrivateKey, error) {
	if p := e.getenv("SEALROOM_DS_KEY_FILE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("delivery service key: %w", err)
		}
		return auth.ParsePrivateKey(b)
	}
	path := filepath.Join(c.dataDir, "keys", "ds-signing.pem")
	key, created, err := auth.LoadOrCreateKey(path)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("generated a development delivery-service key; set SEALROOM_DS_KEY_FILE in production", "path", path)
	}
	return key, nil
}
