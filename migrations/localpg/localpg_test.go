package localpg

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestLifecycle creates a cluster of its own (not the shared one the other tests use),
// connects, stops it and starts it again with its data intact.
func TestLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Stop(context.Background())
		// As root the cluster may live outside the test's temporary folder.
		_ = os.RemoveAll(filepath.Dir(c.Dir))
		_ = os.RemoveAll(c.Socket)
	})
	url, err := c.Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
	if again, err := c.Ensure(ctx); err != nil || again != url {
		t.Fatalf("second Ensure: %q, %v", again, err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if c.running(ctx) {
		t.Fatal("still running after Stop")
	}
	if _, err := pgx.Connect(ctx, url); err == nil {
		t.Fatal("connected to a stopped cluster")
	}
	if _, err := c.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	exec("SELECT x FROM kept WHERE x = 42")
}
