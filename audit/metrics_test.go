package audit

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealroom/sealroom/migrations/pgtest"
	"github.com/sealroom/sealroom/server/servertest/poll"
)

// gauge is the value of the unlabelled gauge name in what reg gathers, and whether
// it was there.
func gauge(t *testing.T, reg *prometheus.Registry, name string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// Events spooled while Postgres is unreachable show as spool depth, also to the
// next process that opens the spool, until they are drained; the checkpoint age
// appears with the first transaction.
func TestCollectorSpoolAndCheckpoint(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := ln.Addr().String()
	_ = ln.Close() // nothing listens there now: every connection is refused
	dead, err := pgxpool.New(ctx, "postgres://sealroom@"+nobody+"/sealroom?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	key, dir := testKey(t), t.TempDir()
	spoolAt := func(c *Config) { c.SpoolDir, c.CommitTimeout = dir, time.Second }

	l := startLog(t, dead, key, spoolAt)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(l.Collector())
	const n = 12
	appendN(t, l, n)
	if v, _ := gauge(t, reg, "sealroom_audit_spool_events"); v != n {
		t.Fatalf("spool depth %v after %d events spooled, want %d", v, n, n)
	}
	if _, ok := gauge(t, reg, "sealroom_audit_checkpoint_age_seconds"); ok {
		t.Fatal("a checkpoint age without any transaction")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l2 := startLog(t, pgtest.Pool(t), key, spoolAt)
	reg2 := prometheus.NewPedanticRegistry()
	reg2.MustRegister(l2.Collector())
	poll.Until(t, 10*time.Second, "the recovered spool drained", func() bool {
		v, _ := gauge(t, reg2, "sealroom_audit_spool_events")
		return v == 0 && l2.Stats().Drained == n
	})
	if age, ok := gauge(t, reg2, "sealroom_audit_checkpoint_age_seconds"); !ok || age < 0 {
		t.Fatalf("checkpoint age %v %v after the drain", age, ok)
	}
	if _, ok := gauge(t, reg2, "sealroom_audit_unsigned_events"); !ok {
		t.Fatal("no unsigned-events gauge after the drain")
	}
}
