package audit

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sealroom/sealroom/migrations/pgtest"
)

// Appending an ID twice, or draining a spool whose events partly reached Postgres
// already (a commit whose answer was lost), stores each event once.
func TestIdempotentAppendAndRedrain(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	key := testKey(t)
	l := startLog(t, pool, key, nil)
	ev := sampleEvent(1)
	ev.ID = uuid.Must(uuid.NewV7())
	for range 2 {
		if err := l.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// A spool holding that event again, plus new ones (one of them twice).
	dir := t.TempDir()
	s, err := openSpool(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	again, err := normalize(&ev, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fresh := spoolEntries(t, 3)
	if err := s.append(append([]entry{again}, fresh...)); err != nil {
		t.Fatal(err)
	}
	if err := s.append(fresh[1:2]); err != nil {
		t.Fatal(err)
	}
	s.close()

	l = startLog(t, pool, key, func(c *Config) { c.SpoolDir = dir })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ids := []uuid.UUID{ev.ID}
	for _, e := range fresh {
		ids = append(ids, e.id)
	}
	checkPresentOnce(t, pool, ids)
	rep := mustVerify(t, pool, key.Public().(ed25519.PublicKey))
	if !rep.OK || rep.Rows != 4 {
		t.Fatalf("%+v", rep)
	}
}
