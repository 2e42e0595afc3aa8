package audit

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/migrations/pgtest"
)

func TestVerifyUntouched(t *testing.T) {
	pool := pgtest.Pool(t)
	key := testKey(t)
	l := startLog(t, pool, key, nil)
	appendN(t, l, 55)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, pool, key.Public().(ed25519.PublicKey))
	if !rep.OK {
		t.Fatalf("untouched log: %+v", rep)
	}
	if rep.Rows != 55 || rep.Head.Seq != 55 || rep.Checkpoints < 5 || rep.FirstSeq != 1 {
		t.Fatalf("report: %+v", rep)
	}
	// Close signs the tail: a stopped writer leaves nothing unsigned.
	if rep.SignedHead.Seq != 55 || rep.Unsigned != 0 {
		t.Fatalf("signed head %d unsigned %d", rep.SignedHead.Seq, rep.Unsigned)
	}
}

// Each tampering, done as the superuser with triggers off, must be caught at the first
// sequence number it affects.
func TestVerifyDetectsTampering(t *testing.T) {
	columns := []string{"id", "chained_at", "occurred_at", "actor", "actor_role", "action",
		"target_kind", "target_id", "room", "outcome", "request_id", "subject", "details",
		"personal", "prev_hash", "hash"}
	type tc struct {
		name     string
		sql      string
		firstBad int64
		reason   string
	}
	var cases []tc
	for _, c := range columns {
		// Flip one byte (or one microsecond / one character) of the column in row 17.
		var set string
		switch c {
		case "id":
			set = `id = overlay(id::text placing (CASE WHEN substr(id::text,1,1)='0' THEN '1' ELSE '0' END) from 1 for 1)::uuid`
		case "chained_at":
			// Stay inside the month so the row keeps its partition.
			set = `chained_at = chained_at + interval '1 microsecond'`
		case "occurred_at":
			set = `occurred_at = occurred_at - interval '1 microsecond'`
		case "personal", "prev_hash", "hash":
			set = c + ` = set_byte(` + c + `, 3, get_byte(` + c + `, 3) # 1)`
		default:
			set = c + ` = overlay(` + c + ` placing chr(ascii(substr(` + c + `||'x',1,1)) # 1) from 1 for 1)`
		}
		cases = append(cases, tc{"byte/" + c, `UPDATE audit_events SET ` + set + ` WHERE seq = 17`, 17, ""})
	}
	cases = append(cases,
		tc{"byte/seq", `UPDATE audit_events SET seq = 1017 WHERE seq = 17`, 17, "missing"},
		tc{"deleted", `DELETE FROM audit_events WHERE seq = 23`, 23, "missing"},
		tc{"swapped", `UPDATE audit_events SET seq = CASE seq WHEN 30 THEN 31 ELSE 30 END WHERE seq IN (30, 31)`, 30, ""},
		tc{"inserted", `INSERT INTO audit_events SELECT * FROM audit_events WHERE seq = 12`, 12, "more than once"},
		tc{"truncated", `DELETE FROM audit_events WHERE seq > 40`, 41, "missing"},
		tc{"truncated-and-tip-rewound", `DELETE FROM audit_events WHERE seq > 44;
			UPDATE audit_tip SET seq = 44, hash = (SELECT hash FROM audit_events WHERE seq = 44)`, 45, "checkpoint"},
		tc{"checkpoint-signature", `UPDATE audit_checkpoints SET signature = set_byte(signature, 0, get_byte(signature, 0) # 1) WHERE seq = 20`, 20, "signature"},
		tc{"rewritten-and-rehashed", "", 11, "rewritten"},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.Pool(t)
			key := testKey(t)
			l := startLog(t, pool, key, nil)
			appendN(t, l, 55)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			pub := key.Public().(ed25519.PublicKey)
			if rep := mustVerify(t, pool, pub); !rep.OK {
				t.Fatalf("before tampering: %+v", rep)
			}
			if c.sql != "" {
				for _, stmt := range strings.Split(c.sql, ";") {
					superExec(t, pool, stmt)
				}
			} else {
				rehash(t, pool, 15)
			}
			rep := mustVerify(t, pool, pub)
			if rep.OK || rep.FirstBad != c.firstBad || !strings.Contains(rep.Reason, c.reason) {
				t.Fatalf("got OK=%v FirstBad=%d Reason=%q; want FirstBad=%d reason containing %q",
					rep.OK, rep.FirstBad, rep.Reason, c.firstBad, c.reason)
			}
		})
	}
}

// rehash changes row seq's actor and recomputes every hash from there to the tip, as an
// attacker who knows the encoding would; only the signed checkpoints expose it.
func rehash(t *testing.T, pool *pgxpool.Pool, seq int64) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT seq, id, chained_at, occurred_at, actor, actor_role, action,
		target_kind, target_id, room, outcome, request_id, subject, details, personal, prev_hash
		FROM audit_events WHERE seq >= $1 ORDER BY seq`, seq)
	if err != nil {
		t.Fatal(err)
	}
	var all []row
	for rows.Next() {
		var r row
		var ca, oa time.Time
		var prev []byte
		if err := rows.Scan(&r.seq, &r.id, &ca, &oa, &r.actor, &r.actorRole, &r.action, &r.targetKind,
			&r.targetID, &r.room, &r.outcome, &r.requestID, &r.subject, &r.details, &r.personal, &prev); err != nil {
			t.Fatal(err)
		}
		r.chainedAt, r.occurredAt = ca.UnixMicro(), oa.UnixMicro()
		copy(r.prevHash[:], prev)
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	all[0].actor = "mallory"
	for i := range all {
		if i > 0 {
			all[i].prevHash = all[i-1].hash
		}
		all[i].hash, _ = all[i].chainHash(nil)
		superExec(t, pool, `UPDATE audit_events SET actor = $1, prev_hash = $2, hash = $3 WHERE seq = $4`,
			all[i].actor, all[i].prevHash[:], all[i].hash[:], all[i].seq)
	}
	last := all[len(all)-1]
	superExec(t, pool, `UPDATE audit_tip SET hash = $1`, last.hash[:])
}
