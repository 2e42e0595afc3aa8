package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server/servertest/poll"
)

// The sweep deletes the live sessions of a node that has been dead for longer than any
// resume waits and the records of sessions that ended 12 hours ago; it keeps a live
// node's sessions and the ended records younger than that (they let a stale tab's
// resume on any node learn that its seat went on elsewhere).
func TestSweepSessions(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	r, err := New(Config{Pool: pool, APIURL: "http://127.0.0.1:1", Lease: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	poll.Until(t, 10*time.Second, "the node settled", r.Settled)
	if _, err := pool.Exec(ctx, `INSERT INTO cluster_nodes (id, api_url, lease_until) VALUES ('dead~1', 'http://127.0.0.1:2', now() - interval '3 minutes')`); err != nil {
		t.Fatal(err)
	}
	for _, row := range []struct {
		id, node string
		endedAgo string // empty: live
	}{
		{"live-here", r.ID(), ""},
		{"live-dead-node", "dead~1", ""},
		{"ended-now-dead-node", "dead~1", "1 minute"},
		{"ended-long-ago", r.ID(), "13 hours"},
	} {
		var ended any
		if row.endedAgo != "" {
			ended = row.endedAgo
		}
		if _, err := pool.Exec(ctx, `INSERT INTO signal_sessions (id, room, subject, role, node_id, secret_hash, joined_at, ended_at)
			VALUES ($1, 'r', 's', 'participant', $2, sha256(convert_to($1, 'UTF8')), now(), now() - $3::interval)`, row.id, row.node, ended); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT id FROM signal_sessions ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		left = append(left, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"ended-now-dead-node", "live-here"}; len(left) != 2 || left[0] != want[0] || left[1] != want[1] {
		t.Fatalf("after the sweep: %v, want %v", left, want)
	}
}
