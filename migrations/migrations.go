// Package migrations owns sealroom's database schema: numbered SQL files embedded in the
// binary and applied with goose, up and down. It never holds data access code; the
// packages that own tables (audit, keyservice, compliance) query them.
//
// File numbers are allocated per owner so parallel work does not collide:
// 00001-00099 foundation, 00100-00199 audit, 00200-00299 keyservice,
// 00300-00399 compliance, 00400-00499 media.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files, for tools that want to inspect them (the
// compliance data map test reads every column they create).
func FS() fs.FS { return files }

// Migrator applies the embedded migrations to one database.
type Migrator struct {
	db       *sql.DB
	provider *goose.Provider
}

// New returns a Migrator for the database behind pool. A Postgres session advisory lock
// serialises concurrent migrators, so several server processes may start at once.
func New(pool *pgxpool.Pool, log *slog.Logger) (*Migrator, error) {
	return newMigrator(pool, files, log)
}

func newMigrator(pool *pgxpool.Pool, fsys fs.FS, log *slog.Logger) (*Migrator, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrations: locker: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	opts := []goose.ProviderOption{
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	}
	if log != nil {
		opts = append(opts, goose.WithSlog(log))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, opts...)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return &Migrator{db: db, provider: p}, nil
}

// Up applies every pending migration and returns the versions applied.
func (m *Migrator) Up(ctx context.Context) ([]int64, error) {
	res, err := m.provider.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: up: %w", err)
	}
	return versions(res), nil
}

// Down rolls back the most recent migration and returns its version.
func (m *Migrator) Down(ctx context.Context) (int64, error) {
	res, err := m.provider.Down(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: down: %w", err)
	}
	return res.Source.Version, nil
}

// DownTo rolls back to version (0 removes every migration).
func (m *Migrator) DownTo(ctx context.Context, version int64) ([]int64, error) {
	res, err := m.provider.DownTo(ctx, version)
	if err != nil {
		return nil, fmt.Errorf("migrations: down to %d: %w", version, err)
	}
	return versions(res), nil
}

// Versions reports the database's current version and the newest embedded one.
func (m *Migrator) Versions(ctx context.Context) (current, target int64, err error) {
	current, target, err = m.provider.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: versions: %w", err)
	}
	return current, target, nil
}

// Current reports whether every embedded migration has been applied.
func (m *Migrator) Current(ctx context.Context) (bool, error) {
	pending, err := m.provider.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("migrations: status: %w", err)
	}
	return !pending, nil
}

// Close releases the database/sql handle; the pool stays open.
func (m *Migrator) Close() error {
	return m.provider.Close()
}

func versions(res []*goose.MigrationResult) []int64 {
	out := make([]int64, 0, len(res))
	for _, r := range res {
		out = append(out, r.Source.Version)
	}
	return out
}
