package compliance

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/migrations/pgtest"
)

type seeded struct {
	pool *pgxpool.Pool
	log  *audit.Log
	key  ed25519.PrivateKey
	subs *Subjects
	dm   *DataMap
}

func seed(t *testing.T) *seeded {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	log, err := audit.New(audit.Config{Pool: pool, SpoolDir: t.TempDir(), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := log.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	dm, err := LoadDataMap()
	if err != nil {
		t.Fatal(err)
	}
	return &seeded{pool: pool, log: log, key: key, subs: NewSubjects(pool, log, dm), dm: dm}
}

var admin = audit.Caller{Actor: "admin-1", Role: audit.RoleAdmin, RequestID: "req-1", SourceIP: "192.0.2.1"}

// seedUser gives patient-7 a row in every table the data map lists for users.
func (s *seeded) seedUser(t *testing.T, subject string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.pool.Exec(ctx, `INSERT INTO identities (subject) VALUES ($1)`, subject); err != nil {
		t.Fatal(err)
	}
	for _, a := range []audit.Action{audit.ActionRoomJoin, audit.ActionRoomLeave} {
		if err := s.log.Append(ctx, audit.Event{Actor: subject, ActorRole: "participant", Action: a, Room: "visit-1",
			Outcome: audit.OutcomeSuccess, Personal: audit.Personal{SourceIP: "198.51.100.7", Name: "Pat Doe"}}); err != nil {
			t.Fatal(err)
		}
	}
	id, err := s.subs.PlaceHold(ctx, admin, subject, "litigation 2026-17")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.subs.ReleaseHold(ctx, admin, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO token_revocations (jti, subject, expires_at, revoked_by) VALUES ($1, $2, now() + interval '1 day', 'admin-1')`,
		"jti-"+subject, subject); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO subject_revocations (subject, not_before, revoked_by) VALUES ($1, now(), 'admin-1')`, subject); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO ks_keypackages (ref, subject, conn_id, data, not_after) VALUES (convert_to($1, 'UTF8'), $1, 'c', '\x00', now() + interval '1 day')`,
		`INSERT INTO ks_seats (room, subject, conn_id, role) VALUES ('r', $1, 'c', 'participant')`,
		`INSERT INTO ks_room_bars (room, subject, barred_by) VALUES ('r', $1, 'host-1')`,
		`INSERT INTO signal_sessions (id, room, subject, role, node_id, secret_hash, joined_at) VALUES ('s-' || $1, 'r', $1, 'participant', 'n1', sha256(convert_to($1, 'UTF8')), now())`,
		`INSERT INTO ks_proposals (room, epoch, ref, kind, subject, conn_id, message) VALUES ('r', 0, convert_to($1, 'UTF8'), 'add', $1, 'c', '\x00')`,
	} {
		if _, err := s.pool.Exec(ctx, q, subject); err != nil {
			t.Fatal(err)
		}
	}
	cons := NewConsents(s.pool, s.log)
	if err := cons.SetPolicy(ctx, audit.Caller{Actor: subject, Role: "admin"}, Policy{Room: "room-of-" + subject, NoticeVersion: "v1"}); err != nil {
		t.Fatal(err)
	}
	if err := cons.Accept(ctx, audit.Caller{Actor: subject, Role: "participant"}, "room-of-"+subject, "v1"); err != nil {
		t.Fatal(err)
	}
	// audit_legal_holds names its creator; seed one created by the user.
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit_legal_holds (reason, from_time, until_time, created_by) VALUES ('r', now(), now() + interval '1 day', $1)`, subject); err != nil {
		t.Fatal(err)
	}
}

// TestExportCoversEveryUserTable: the export of a seeded user has rows from every table
// the data map lists as holding data about a user. A new personal table fails this test
// until it is seeded above, which keeps the guarantee honest.
func TestExportCoversEveryUserTable(t *testing.T) {
	s := seed(t)
	ctx := context.Background()
	s.seedUser(t, "patient-7")
	exp, err := s.subs.Export(ctx, admin, "patient-7")
	if err != nil {
		t.Fatal(err)
	}
	for _, tbl := range s.dm.Tables {
		if !tbl.Personal() || tbl.SubjectColumn == "" {
			continue
		}
		if tbl.Table == "audit_events" {
			if len(exp.AuditEvents) < 2 {
				t.Errorf("audit events: %d", len(exp.AuditEvents))
			}
			continue
		}
		if len(exp.Tables[tbl.Table]) == 0 {
			t.Errorf("export lacks table %s", tbl.Table)
		}
	}
	var sawName bool
	for _, ev := range exp.AuditEvents {
		if ev.Personal != nil && ev.Personal.Name == "Pat Doe" && ev.Personal.SourceIP == "198.51.100.7" {
			sawName = true
		}
	}
	if !sawName {
		t.Error("audit events are not exported with their personal fields decrypted")
	}
	for _, row := range exp.Tables["subject_keys"] {
		if _, ok := row["key"]; ok {
			t.Fatal("the export leaks key material")
		}
	}
	if _, err := s.subs.Export(ctx, admin, "bad subject!"); !errors.Is(err, ErrInvalidSubject) {
		t.Fatalf("bad subject: %v", err)
	}
}

func TestErasure(t *testing.T) {
	s := seed(t)
	ctx := context.Background()
	s.seedUser(t, "patient-7")
	s.seedUser(t, "patient-8")

	// A legal hold blocks erasure with a clear error, and changes nothing.
	hold, err := s.subs.PlaceHold(ctx, admin, "patient-7", "subpoena")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.subs.Erase(ctx, admin, "patient-7"); !errors.Is(err, ErrLegalHold) {
		t.Fatalf("erase under hold: %v", err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM identities WHERE subject = 'patient-7'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("identity after refused erasure: %d %v", n, err)
	}
	if err := s.subs.ReleaseHold(ctx, admin, hold); err != nil {
		t.Fatal(err)
	}
	if err := s.subs.ReleaseHold(ctx, admin, hold); !errors.Is(err, ErrNoHold) {
		t.Fatalf("second release: %v", err)
	}

	res, err := s.subs.Erase(ctx, admin, "patient-7")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Shredded || res.Deleted["identities"] != 1 {
		t.Fatalf("erasure result %+v", res)
	}

	// Export afterwards: no personal rows but those kept under a legal obligation (the
	// data map's "retain" tables, reported by Erase); audit events erased; the tombstone
	// is there.
	exp, err := s.subs.Export(ctx, admin, "patient-7")
	if err != nil {
		t.Fatal(err)
	}
	retained := map[string]bool{}
	for _, r := range res.RetainedFor {
		retained[r] = true
	}
	for table, rows := range exp.Tables {
		if retained[table] {
			continue
		}
		if table != "subject_keys" {
			t.Errorf("after erasure the export still has %s: %v", table, rows)
			continue
		}
		for _, r := range rows {
			if r["shredded_at"] == nil {
				t.Errorf("subject key not shredded: %v", r)
			}
		}
	}
	erased := 0
	for _, ev := range exp.AuditEvents {
		if ev.Personal != nil {
			t.Errorf("audit event %d still readable: %+v", ev.Seq, ev)
		}
		if ev.Erased {
			erased++
		}
	}
	if erased < 2 { // the two seeded events that carried a name and an address
		t.Errorf("%d audit events marked erased, want the seeded ones", erased)
	}
	page, err := s.log.Query(ctx, admin, audit.Filter{Action: audit.ActionGDPRErasure})
	if err != nil {
		t.Fatal(err)
	}
	var tombstone bool
	for _, r := range page.Records {
		if r.Event.Target.ID == "patient-7" && r.Event.Outcome == audit.OutcomeSuccess {
			tombstone = true
		}
	}
	if !tombstone {
		t.Fatal("no gdpr.erasure tombstone")
	}

	// The other user is untouched, and the chain still verifies.
	other, err := s.subs.Export(ctx, admin, "patient-8")
	if err != nil || len(other.Tables["identities"]) != 1 {
		t.Fatalf("the other subject's data: %v %v", err, other.Tables)
	}
	if err := s.log.Checkpoint(ctx, admin); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, s.pool, s.key.Public().(ed25519.PublicKey))
	if err != nil || !rep.OK {
		t.Fatalf("audit verify after erasure: %+v %v", rep, err)
	}
}
