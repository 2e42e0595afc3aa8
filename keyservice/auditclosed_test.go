package keyservice_test

import (
	"context"
	"testing"
)

// TestAuditFailsClosed: when the audit log cannot record, an action that must be audited
// does not happen — the KeyPackage upload is refused and nothing is stored.
func TestAuditFailsClosed(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	alice := h.raw(t, 0, "alice", "participant")
	alice.create()
	rec := h.procs[0].audit
	rec.mu.Lock()
	rec.down = true
	rec.mu.Unlock()
	if code := alice.request("keypackages", map[string][][]byte{"keypackages": {alice.keyPackage("alice")}}); code == "" {
		t.Fatal("upload accepted while the audit log could not record it")
	}
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM ks_keypackages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d KeyPackages stored without an audit event", n)
	}
	rec.mu.Lock()
	rec.down = false
	rec.mu.Unlock()
	if code := alice.request("keypackages", map[string][][]byte{"keypackages": {alice.keyPackage("alice")}}); code != "" {
		t.Fatalf("upload once the audit log is back: %s", code)
	}
}
