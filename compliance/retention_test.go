package compliance

import (
	"context"
	"testing"

	"github.com/sealroom/sealroom/audit"
)

func TestPurge(t *testing.T) {
	s := seed(t)
	ctx := context.Background()
	if _, err := s.pool.Exec(ctx, `INSERT INTO identities (subject, first_seen, last_seen) VALUES
		('old-user', now() - interval '8 years', now() - interval '7 years'),
		('recent-user', now() - interval '1 year', now() - interval '1 day')`); err != nil {
		t.Fatal(err)
	}
	by := audit.Caller{Actor: "service:retention", Role: "service"}
	res, err := s.subs.Purge(ctx, by, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Table != "identities" || res[0].Rows != 1 || res[0].Months != 72 {
		t.Fatalf("purge: %+v", res)
	}
	var left []string
	rows, _ := s.pool.Query(ctx, `SELECT subject FROM identities ORDER BY 1`)
	for rows.Next() {
		var v string
		_ = rows.Scan(&v)
		left = append(left, v)
	}
	if len(left) != 1 || left[0] != "recent-user" {
		t.Fatalf("left after purge: %v", left)
	}
	// Configured shorter: the recent user (last seen yesterday) stays even at 1 month.
	if res, err = s.subs.Purge(ctx, by, map[string]int{"identity": 1}); err != nil || res[0].Rows != 0 {
		t.Fatalf("1-month purge: %+v %v", res, err)
	}
	page, err := s.log.Query(ctx, admin, audit.Filter{Action: audit.ActionRetentionPurged})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 2 || page.Records[0].Event.Details["rows"] != "1" {
		t.Fatalf("purges audited: %+v", page.Records)
	}
}
