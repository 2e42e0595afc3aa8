package compliance

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Coverage compares the data map with the live schema.
type Coverage struct {
	Tables   int      `json:"tables"`   // tables in the schema (partitions count as their parent)
	Columns  int      `json:"columns"`  // columns in the schema
	Unmapped []string `json:"unmapped"` // table.column in the schema but not in the map
	Stale    []string `json:"stale"`    // table.column in the map but not in the schema
}

// Complete reports whether map and schema agree exactly.
func (c Coverage) Complete() bool { return len(c.Unmapped) == 0 && len(c.Stale) == 0 }

// CheckCoverage reads every table and column of the public schema (leaving out the
// migration tool's bookkeeping and partitions, which share their parent's columns) and
// compares them with m.
func CheckCoverage(ctx context.Context, pool *pgxpool.Pool, m *DataMap) (Coverage, error) {
	rows, err := pool.Query(ctx, `
		SELECT c.relname, a.attname
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND c.relname <> 'goose_db_version' AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY 1, 2`)
	if err != nil {
		return Coverage{}, fmt.Errorf("compliance: coverage: %w", err)
	}
	defer rows.Close()
	live := map[string]bool{}
	tables := map[string]bool{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return Coverage{}, fmt.Errorf("compliance: coverage: %w", err)
		}
		live[t+"."+c] = true
		tables[t] = true
	}
	if err := rows.Err(); err != nil {
		return Coverage{}, fmt.Errorf("compliance: coverage: %w", err)
	}
	mapped := map[string]bool{}
	for _, t := range m.Tables {
		for _, c := range t.Columns {
			mapped[t.Table+"."+c.Name] = true
		}
	}
	cov := Coverage{Tables: len(tables), Columns: len(live), Unmapped: []string{}, Stale: []string{}}
	for k := range live {
		if !mapped[k] {
			cov.Unmapped = append(cov.Unmapped, k)
		}
	}
	for k := range mapped {
		if !live[k] {
			cov.Stale = append(cov.Stale, k)
		}
	}
	slices.Sort(cov.Unmapped)
	slices.Sort(cov.Stale)
	return cov, nil
}
