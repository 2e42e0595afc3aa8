package audit

import (
	"context"
	"crypto/ed25519"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealroom/sealroom/migrations/pgtest"
)

// Expiry drops whole month partitions past the retention period, oldest first, never
// past a legal hold; the remaining chain still verifies and tampering with it is still
// caught.
func TestRetentionExpiry(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	key := testKey(t)
	pub := key.Public().(ed25519.PublicKey)
	var clock atomic.Int64
	setClock := func(tm time.Time) { clock.Store(tm.UnixMicro()) }
	setClock(time.Date(2019, 1, 15, 12, 0, 0, 0, time.UTC))
	l := startLog(t, pool, key, func(c *Config) {
		c.Now = func() time.Time { return time.UnixMicro(clock.Load()) }
	})
	admin := Caller{Actor: "admin-1", Role: RoleAdmin}

	appendN(t, l, 5) // seq 1..5, January 2019
	setClock(time.Date(2019, 2, 15, 12, 0, 0, 0, time.UTC))
	appendN(t, l, 5) // 6..10, February
	setClock(time.Date(2019, 3, 15, 12, 0, 0, 0, time.UTC))
	appendN(t, l, 5) // 11..15, March
	setClock(time.Now())
	appendN(t, l, 5) // 16..20, now

	if months, err := Retention(ctx, pool); err != nil || months != DefaultRetentionMonths {
		t.Fatalf("default retention %d, %v", months, err)
	}
	// A longer retention keeps everything.
	if err := l.SetRetention(ctx, admin, 1200); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Expire(ctx, admin); err != nil || n != 0 {
		t.Fatalf("expire under 100-year retention: %d, %v", n, err)
	}
	if err := l.SetRetention(ctx, admin, DefaultRetentionMonths); err != nil {
		t.Fatal(err)
	}

	hold, err := l.PlaceLegalHold(ctx, admin, "litigation 2019-17",
		time.Date(2019, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2019, 2, 10, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.Expire(ctx, admin); err != nil || n != 1 {
		t.Fatalf("expire with a hold on February: %d, %v; want January only", n, err)
	}
	rep := mustVerify(t, pool, pub)
	if !rep.OK || rep.FirstSeq != 6 {
		t.Fatalf("after expiring January: %+v", rep)
	}

	if err := l.ReleaseLegalHold(ctx, admin, hold); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Expire(ctx, admin); err != nil || n != 2 {
		t.Fatalf("expire after release: %d, %v; want February and March", n, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep = mustVerify(t, pool, pub)
	if !rep.OK || rep.FirstSeq != 16 || rep.Head.Seq != rep.FirstSeq+rep.Rows-1 {
		t.Fatalf("after expiring February and March: %+v", rep)
	}

	// Removing the first remaining row is not expiry: it is reported.
	superExec(t, pool, `DELETE FROM audit_events WHERE seq = 16`)
	rep = mustVerify(t, pool, pub)
	if rep.OK || rep.FirstBad != 16 {
		t.Fatalf("deleted first row after expiry: %+v", rep)
	}
}
