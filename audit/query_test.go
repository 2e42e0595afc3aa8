package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sealroom/sealroom/migrations/pgtest"
)

func TestQuery(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	key := testKey(t)
	l := startLog(t, pool, key, nil)
	start := time.Now()
	for i := range 30 {
		ev := sampleEvent(i)
		ev.Room = fmt.Sprintf("room-%d", i%3)
		if i%5 == 0 {
			ev.Action = ActionRoomLeave
		}
		if err := l.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	auditor := Caller{Actor: "auditor-7", Role: RoleAuditor, RequestID: "rq-1", SourceIP: "198.51.100.4"}

	// Filters combine; personal data comes back opened.
	page, err := l.Query(ctx, auditor, Filter{Actor: "user-3", Room: "room-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Records {
		if r.Event.Actor != "user-3" || r.Event.Room != "room-1" {
			t.Fatalf("filter leak: %+v", r.Event)
		}
		if r.Event.Personal.Name != "Name 3" || r.Event.Personal.SourceIP != "192.0.2.7" || r.Erased {
			t.Fatalf("personal data: %+v", r.Event.Personal)
		}
	}
	if len(page.Records) == 0 {
		t.Fatal("no records for user-3 in room-1")
	}
	page, err = l.Query(ctx, auditor, Filter{Action: ActionRoomLeave, From: start.Add(-time.Minute), To: time.Now().Add(time.Minute)})
	if err != nil || len(page.Records) != 6 {
		t.Fatalf("by action: %d records, %v", len(page.Records), err)
	}

	// Pagination walks everything once, in sequence order.
	var seen []int64
	f := Filter{Subject: "user-2", Limit: 2}
	for {
		page, err := l.Query(ctx, auditor, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			seen = append(seen, r.Seq)
		}
		if page.Next == 0 {
			break
		}
		f.After = page.Next
	}
	if len(seen) != 4 || seen[0] >= seen[1] || seen[2] >= seen[3] {
		t.Fatalf("pages: %v", seen)
	}

	// Other roles are refused; bad filters change nothing.
	if _, err := l.Query(ctx, Caller{Actor: "user-1", Role: "participant"}, Filter{}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("participant: %v", err)
	}
	if _, err := l.Query(ctx, auditor, Filter{Limit: 5000}); !errors.Is(err, ErrInvalidFilter) {
		t.Fatalf("limit: %v", err)
	}
	if _, err := l.Query(ctx, auditor, Filter{Action: "room.teleport"}); !errors.Is(err, ErrInvalidFilter) {
		t.Fatalf("action: %v", err)
	}

	// Every query above, allowed or denied, is itself in the log.
	page, err = l.Query(ctx, Caller{Actor: "admin-1", Role: RoleAdmin}, Filter{Action: ActionAuditQuery, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var denied, ok int
	for _, r := range page.Records {
		switch r.Event.Outcome {
		case OutcomeDenied:
			denied++
			if r.Event.Actor != "user-1" {
				t.Fatalf("denied query by %q", r.Event.Actor)
			}
		case OutcomeSuccess:
			ok++
		}
	}
	if denied != 1 || ok != 4 { // a query is recorded after it runs, so not in its own results
		t.Fatalf("audit.query events: %d denied, %d success", denied, ok)
	}
	if first := page.Records[0]; first.Event.Actor != "auditor-7" || first.Event.Details["actor"] != "user-3" ||
		first.Event.Personal.SourceIP != "198.51.100.4" || first.Event.Details["returned"] == "" {
		t.Fatalf("first audit.query event: %+v", first.Event)
	}
}

// Erasing a subject makes its personal data unreadable for good and keeps the chain
// verifiable; later events of the subject carry no personal data.
func TestShredKeepsChain(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	key := testKey(t)
	l := startLog(t, pool, key, nil)
	appendN(t, l, 14)
	ok, err := Shred(ctx, pool, "user-4")
	if err != nil || !ok {
		t.Fatalf("shred: %v %v", ok, err)
	}
	if ok, err := Shred(ctx, pool, "user-4"); err != nil || ok {
		t.Fatalf("second shred: %v %v", ok, err)
	}
	ev := sampleEvent(4)
	if err := l.Append(ctx, ev); err != nil {
		t.Fatal(err)
	}
	page, err := l.Query(ctx, Caller{Actor: "a", Role: RoleAuditor}, Filter{Subject: "user-4"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 3 {
		t.Fatalf("%d records", len(page.Records))
	}
	for i, r := range page.Records {
		if r.Event.Personal != (Personal{}) {
			t.Fatalf("record %d still has personal data", i)
		}
		if wantErased := i < 2; r.Erased != wantErased {
			t.Fatalf("record %d: erased %v", i, r.Erased)
		}
	}
	var blob []byte
	if err := pool.QueryRow(ctx, `SELECT personal FROM audit_events WHERE subject = 'user-4' ORDER BY seq DESC LIMIT 1`).Scan(&blob); err != nil || len(blob) != 0 {
		t.Fatalf("event after erasure stored %d personal bytes (%v)", len(blob), err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, pool, key.Public().(ed25519.PublicKey)); !rep.OK {
		t.Fatalf("verify after erasure: %+v", rep)
	}
}

// Checkpoint signs the head right away and records who asked.
func TestCheckpointOnDemand(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	key := testKey(t)
	l := startLog(t, pool, key, func(c *Config) { c.CheckpointEvery = 1000 })
	appendN(t, l, 7)
	if err := l.Checkpoint(ctx, Caller{Actor: "service:compliance", Role: RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, pool, key.Public().(ed25519.PublicKey))
	if !rep.OK || rep.SignedHead.Seq != 8 || rep.Unsigned != 0 || rep.Checkpoints != 1 {
		t.Fatalf("%+v", rep)
	}
	head, at, err := LatestCheckpoint(ctx, pool)
	if err != nil || head != rep.SignedHead || at.IsZero() {
		t.Fatalf("latest checkpoint %+v at %v (%v), verify says %+v", head, at, err, rep.SignedHead)
	}
}
