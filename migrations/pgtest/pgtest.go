// Package pgtest gives each test its own Postgres database on a real server: the one
// DATABASE_URL names, or else the project-local cluster of package localpg, started on
// first use. Databases are created empty or migrated and dropped when the test ends, so
// test runs and parallel packages never see each other's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/migrations"
	"github.com/sealroom/sealroom/migrations/localpg"
)

var admin = sync.OnceValues(adminURL)

// AdminURL is the URL of the server tests create their databases on.
func AdminURL(tb testing.TB) string {
	tb.Helper()
	u, err := admin()
	if err != nil {
		tb.Fatalf("pgtest: no Postgres for the tests: %v", err)
	}
	return u
}

// URL creates an empty database for this test and returns its URL. The database is
// dropped (with any connections still open) when the test ends.
func URL(tb testing.TB) string {
	tb.Helper()
	base := AdminURL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	name := "test_" + randomHex(8)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("pgtest: connect for cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database: %v", err)
		}
	})
	u, err := withDatabase(base, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return u
}

// withDatabase points a connection string at another database on the same server.
func withDatabase(conn, name string) (string, error) {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		u, err := url.Parse(conn)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// keyword=value form: a later keyword overrides an earlier one.
	return conn + " dbname=" + name, nil
}

// Pool creates a migrated database for this test and returns a pool on it, closed when
// the test ends.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool := EmptyPool(tb)
	m, err := migrations.New(pool, nil)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	defer m.Close()
	if _, err := m.Up(context.Background()); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return pool
}

// EmptyPool creates an empty database for this test and returns a pool on it.
func EmptyPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), URL(tb))
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func adminURL() (string, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	data := os.Getenv("SEALROOM_DATA")
	if data == "" {
		root, err := ModuleRoot()
		if err != nil {
			return "", fmt.Errorf("pgtest: DATABASE_URL is unset and there is %w", err)
		}
		data = filepath.Join(root, ".data")
	}
	c, err := localpg.Open(data)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return c.Ensure(ctx)
}

// ModuleRoot is the folder of the go.mod above the working directory (a test's package
// folder): the project's root.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
