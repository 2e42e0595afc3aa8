package audit

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func selectKeys(ctx context.Context, pool *pgxpool.Pool, subjects []string, into map[string][]byte) error {
	rows, err := pool.Query(ctx, keysSQL, subjects)
	if err != nil {
		return fmt.Errorf("audit: subject keys: %w", err)
	}
	if err := scanKeys(rows, into); err != nil {
		return fmt.Errorf("audit: subject keys: %w", err)
	}
	return nil
}

// scanKeys reads (subject, key) rows; a shredded subject maps to nil.
func scanKeys(rows pgx.Rows, into map[string][]byte) error {
	defer rows.Close()
	for rows.Next() {
		var s string
		var k []byte
		if err := rows.Scan(&s, &k); err != nil {
			return err
		}
		into[s] = k
	}
	return rows.Err()
}

func zeroKeys(keys map[string][]byte) {
	for _, k := range keys {
		clear(k)
	}
}

// Shred erases a subject's personal data in the audit log (GDPR Art. 17) by destroying
// its key: sealed blobs stay in the chain, which still verifies, but can no longer be
// opened. Later events of the subject are stored without personal data. It reports
// whether this call erased the subject (false when it was already erased). The caller
// (compliance) records the gdpr.erasure event.
func Shred(ctx context.Context, pool *pgxpool.Pool, subject string) (bool, error) {
	tag, err := pool.Exec(ctx, `UPDATE subject_keys SET key = NULL, shredded_at = now()
		WHERE subject = $1 AND key IS NOT NULL`, subject)
	if err != nil {
		return false, fmt.Errorf("audit: shred: %w", err)
	}
	if tag.RowsAffected() == 0 {
		// Record the erasure even when no event carried personal data yet, so none
		// will be sealed later.
		tag, err = pool.Exec(ctx, `INSERT INTO subject_keys (subject, key, shredded_at)
			VALUES ($1, NULL, now()) ON CONFLICT (subject) DO NOTHING`, subject)
		if err != nil {
			return false, fmt.Errorf("audit: shred: %w", err)
		}
		return tag.RowsAffected() > 0, nil
	}
	return true, nil
}
