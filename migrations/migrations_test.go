package migrations_test

import (
	"context"
	"testing"

	"github.com/sealroom/sealroom/migrations"
	"github.com/sealroom/sealroom/migrations/pgtest"
)

// Every migration must apply and roll back cleanly, in order, and apply again after a
// full rollback: a down migration that leaves a table behind fails the second Up.
func TestUpDownUp(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.EmptyPool(t)
	m, err := migrations.New(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	if ok, err := m.Current(ctx); err != nil || ok {
		t.Fatalf("fresh database: current = %v, %v; want false", ok, err)
	}
	applied, err := m.Up(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 {
		t.Fatal("no migrations applied")
	}
	cur, target, err := m.Versions(ctx)
	if err != nil || cur != target {
		t.Fatalf("after up: current %d target %d err %v", cur, target, err)
	}
	if ok, err := m.Current(ctx); err != nil || !ok {
		t.Fatalf("after up: current = %v, %v; want true", ok, err)
	}
	if _, err := m.DownTo(ctx, 0); err != nil {
		t.Fatal(err)
	}
	var tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("%d tables left after rolling everything back", tables)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("second up: %v", err)
	}
}

// Two migrators racing on one database (two server processes starting together) must
// both succeed and apply each migration once.
func TestConcurrentUp(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.EmptyPool(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			m, err := migrations.New(pool, nil)
			if err != nil {
				errs <- err
				return
			}
			defer m.Close()
			_, err = m.Up(ctx)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
