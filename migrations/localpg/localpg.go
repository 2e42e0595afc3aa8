// Package localpg starts a throwaway, project-local PostgreSQL cluster from the machine's
// Postgres binaries, for `make run` and the tests when DATABASE_URL is unset. The cluster
// listens on a Unix socket only (no TCP), trusts local connections, and lives under the
// project's ignored data folder. It is a development convenience and must never be used
// for a deployment.
package localpg

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoPostgres means no Postgres server binaries were found. Its message says what to
// install.
var ErrNoPostgres = errors.New("localpg: no PostgreSQL server binaries (initdb, pg_ctl) found; " +
	"install them, on Debian/Ubuntu with: sudo apt-get install -y postgresql " +
	"(or set DATABASE_URL to an existing database)")

// Database is the name of the database Ensure creates for the server.
const Database = "sealroom"

// Cluster is a local cluster's on-disk location.
type Cluster struct {
	Dir    string // data directory (PGDATA)
	Socket string // directory holding the Unix socket
	Log    string // server log file
	bin    string
	run    *user.User // the account that owns the cluster when started by root
}

// Open locates the cluster that belongs to the data folder dataDir (it may not exist yet).
func Open(dataDir string) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	c := &Cluster{bin: bin}
	base := filepath.Join(abs, "pg")
	if os.Geteuid() == 0 {
		// initdb refuses to run as root, so root runs the cluster as the postgres account.
		// That account must reach the folder; under a private home (/root) it cannot, and
		// the cluster moves to a per-project folder under /var/tmp instead.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("localpg: running as root needs the postgres account (from the postgresql package): %w", err)
		}
		c.run = u
		if !traversable(abs) {
			base = filepath.Join(os.TempDir(), "sealroom-pg-"+shortHash(abs))
		}
	}
	c.Dir = filepath.Join(base, "data")
	c.Log = filepath.Join(base, "server.log")
	c.Socket = filepath.Join(base, "run")
	// A Unix socket path is limited to about 107 bytes.
	if len(c.Socket)+len("/.s.PGSQL.5432") > 100 {
		c.Socket = filepath.Join(os.TempDir(), "sealroom-pg-"+shortHash(abs))
	}
	return c, nil
}

// URL is the connection string for database name on this cluster.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&sslmode=disable", name, c.Socket)
}

// Ensure creates the cluster if needed, starts it if it is not running and creates the
// sealroom database. It is safe to call from several processes at once (a file lock
// serialises them) and returns the sealroom database's URL.
func (c *Cluster) Ensure(ctx context.Context) (string, error) {
	base := filepath.Dir(c.Dir)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("localpg: %w", err)
	}
	unlock, err := lockFile(filepath.Join(base, "lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	if err := c.own(base); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.pg(ctx, "initdb", "-D", c.Dir, "-U", "postgres", "-A", "trust",
			"-E", "UTF8", "--locale=C", "--no-instructions"); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(c.Socket, 0o755); err != nil {
		return "", fmt.Errorf("localpg: %w", err)
	}
	if err := c.own(c.Socket); err != nil {
		return "", err
	}
	if !c.running(ctx) {
		opts := strings.Join([]string{
			"-k", c.Socket,
			"-c", "listen_addresses=''",
			"-c", "max_connections=400",
			"-c", "shared_buffers=128MB",
		}, " ")
		if err := c.pg(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.Dir, "-l", c.Log, "-o", opts); err != nil {
			return "", err
		}
	}
	if err := c.createDatabase(ctx, Database); err != nil {
		return "", err
	}
	return c.URL(Database), nil
}

// Stop stops the cluster if it runs.
func (c *Cluster) Stop(ctx context.Context) error {
	if !c.running(ctx) {
		return nil
	}
	return c.pg(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", c.Dir)
}

func (c *Cluster) running(ctx context.Context) bool {
	if _, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION")); err != nil {
		return false
	}
	return c.pg(ctx, "pg_ctl", "status", "-D", c.Dir) == nil
}

func (c *Cluster) createDatabase(ctx context.Context, name string) error {
	psql := filepath.Join(c.bin, "psql")
	if _, err := os.Stat(psql); err != nil {
		psql = "psql"
	}
	out, err := c.command(ctx, psql, "-X", "-q", "-h", c.Socket, "-U", "postgres", "-d", "postgres",
		"-tAc", fmt.Sprintf("SELECT 1 FROM pg_database WHERE datname = '%s'", name)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("localpg: psql: %w: %s", err, out)
	}
	if strings.TrimSpace(string(out)) == "1" {
		return nil
	}
	out, err = c.command(ctx, psql, "-X", "-q", "-h", c.Socket, "-U", "postgres", "-d", "postgres",
		"-c", "CREATE DATABASE "+name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("localpg: create database: %w: %s", err, out)
	}
	return nil
}

func (c *Cluster) pg(ctx context.Context, tool string, args ...string) error {
	out, err := c.command(ctx, filepath.Join(c.bin, tool), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("localpg: %s: %w: %s", tool, err, bytes.TrimSpace(out))
	}
	return nil
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = os.TempDir()
	// The server outlives this process on purpose: put it in its own process group so
	// a Ctrl-C in the terminal that ran `make run` does not kill it mid-write.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.run != nil {
		uid, _ := strconv.Atoi(c.run.Uid)
		gid, _ := strconv.Atoi(c.run.Gid)
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		cmd.Env = append(os.Environ(), "HOME="+c.run.HomeDir)
	}
	return cmd
}

// own hands dir to the cluster's account when root runs it.
func (c *Cluster) own(dir string) error {
	if c.run == nil {
		return nil
	}
	uid, _ := strconv.Atoi(c.run.Uid)
	gid, _ := strconv.Atoi(c.run.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	return nil
}

func binDir() (string, error) {
	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(dirs) > 0 {
		sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				return d, nil
			}
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNoPostgres
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// traversable reports whether every folder above dir can be entered by other users.
func traversable(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil && fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }, nil
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			return nil, fmt.Errorf("localpg: waiting for %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
