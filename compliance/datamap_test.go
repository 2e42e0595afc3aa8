package compliance

import (
	"context"
	"strings"
	"testing"

	"github.com/sealroom/sealroom/migrations/pgtest"
)

// TestDataMapCoversSchema fails when a migration adds a column the data map does not
// describe, or the map describes one that no longer exists. Fix it by describing the
// column in compliance/datamap.json: personal or not, and if personal, its category.
func TestDataMapCoversSchema(t *testing.T) {
	m, err := LoadDataMap()
	if err != nil {
		t.Fatal(err)
	}
	pool := pgtest.Pool(t)
	cov, err := CheckCoverage(context.Background(), pool, m)
	if err != nil {
		t.Fatal(err)
	}
	if !cov.Complete() {
		t.Fatalf("data map and schema disagree:\n  in the schema, not in compliance/datamap.json: %v\n  in the map, not in the schema: %v",
			cov.Unmapped, cov.Stale)
	}
	if cov.Columns == 0 {
		t.Fatal("no columns found: the check checked nothing")
	}
}

// The guard itself: an unmapped column must be caught.
func TestCoverageCatchesNewColumn(t *testing.T) {
	m, err := LoadDataMap()
	if err != nil {
		t.Fatal(err)
	}
	pool := pgtest.Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `ALTER TABLE identities ADD COLUMN email text`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE notes (id int, body text)`); err != nil {
		t.Fatal(err)
	}
	cov, err := CheckCoverage(ctx, pool, m)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(cov.Unmapped, ",")
	if got != "identities.email,notes.body,notes.id" {
		t.Fatalf("unmapped = %q", got)
	}
}

func TestDataMapRejectsIncompleteEntries(t *testing.T) {
	bad := []string{
		`{"version":1,"retention":{},"tables":[{"table":"t","purpose":"p","retention":"x","columns":[]}]}`,
		`{"version":1,"retention":{"r":{}},"tables":[{"table":"t","purpose":"p","retention":"r","columns":[{"name":"c","personal":true}]}]}`,
		`{"version":1,"retention":{"r":{}},"tables":[{"table":"t","purpose":"p","retention":"r","columns":[{"name":"c","personal":true,"category":"x"}]}]}`,
		`{"version":1,"retention":{"r":{}},"tables":[{"table":"t","purpose":"p","retention":"r","unknown":1,"columns":[]}]}`,
	}
	for _, b := range bad {
		if _, err := parseDataMap([]byte(b)); err == nil {
			t.Errorf("accepted %s", b)
		}
	}
}
