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
	purged := map[string]Purged{}
	for _, p := range res {
		purged[p.Table] = p
	}
	if p := purged["identities"]; p.Rows != 1 || p.Months != 72 {
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
	if res, err = s.subs.Purge(ctx, by, map[string]int{"identity": 1}); err != nil || res[0].Table != "identities" || res[0].Rows != 0 {
		t.Fatalf("1-month purge: %+v %v", res, err)
	}
	page, err := s.log.Query(ctx, admin, audit.Filter{Action: audit.ActionRetentionPurged})
	if err != nil {
		t.Fatal(err)
	}
	var identityPurges []string
	for _, r := range page.Records {
		if r.Event.Details["table"] == "identities" {
			identityPurges = append(identityPurges, r.Event.Details["rows"])
		}
	}
	if len(identityPurges) != 2 || identityPurges[0] != "1" || identityPurges[1] != "0" {
		t.Fatalf("identity purges audited: %v", identityPurges)
	}
}
