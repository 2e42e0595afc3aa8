package compliance

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/migrations/pgtest"
)

// TestReportSeededDeployment renders the report for a deployment with real audit events,
// a checkpoint and identities, and checks that each control shows live evidence, that
// what is missing shows as a gap, and that tampering turns the audit controls red.
func TestReportSeededDeployment(t *testing.T) {
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
	defer log.Close()
	for _, who := range []string{"dr-ada", "patient-7", "admin-1"} {
		if _, err := pool.Exec(ctx, `INSERT INTO identities (subject) VALUES ($1)`, who); err != nil {
			t.Fatal(err)
		}
		if err := log.Append(ctx, audit.Event{Actor: who, ActorRole: "participant", Action: audit.ActionRoomJoin,
			Room: "visit-1", Outcome: audit.OutcomeSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.Checkpoint(ctx, audit.Caller{Actor: "service:test"}); err != nil {
		t.Fatal(err)
	}
	m, err := LoadDataMap()
	if err != nil {
		t.Fatal(err)
	}
	d := Deployment{Name: "test clinic", TokenMaxTTL: 24 * time.Hour, IdleTimeout: 15 * time.Minute,
		AuditKey: key.Public().(ed25519.PublicKey), TLSNote: "nginx in front"}
	rep, err := BuildReport(ctx, Sources{Pool: pool, DataMap: m}, d, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Control{}
	for _, c := range append(append([]Control{}, rep.HIPAA...), rep.GDPR...) {
		byID[c.ID] = c
		if c.Status != StatusGap && len(c.Evidence) == 0 {
			t.Errorf("%s is %s without evidence", c.ID, c.Status)
		}
		if c.Status == StatusMet && len(c.Gaps) > 0 {
			t.Errorf("%s is met with gaps %v", c.ID, c.Gaps)
		}
	}
	if c := byID["164.312(b)"]; c.Status != StatusMet || !strings.Contains(evidence(c, "Audit chain"), "verified up to sequence") {
		t.Fatalf("audit controls: %+v", c)
	}
	if got := evidence(byID["164.312(a)(2)(i)"], "Distinct user ids seen"); got != "3" {
		t.Fatalf("identities: %q", got)
	}
	if c := byID["164.312(a)(2)(ii)"]; c.Status != StatusPartial || len(c.Gaps) != 1 {
		t.Fatalf("break-glass without a webhook must be partial, with that gap: %+v", c)
	}
	if c := byID["164.312(d)"]; c.Status == StatusMet {
		t.Fatal("MFA not required must be a gap")
	}
	if c := byID["GDPR Art. 30"]; !strings.Contains(evidence(c, "Data map coverage"), "0 unmapped, 0 stale") {
		t.Fatalf("coverage: %+v", c)
	}

	var html, js bytes.Buffer
	if err := rep.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"164.312(b)", "status gap", "status met", "test clinic"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(html.String(), "http://") || strings.Contains(html.String(), "https://") {
		t.Error("the HTML report must not load anything from elsewhere")
	}

	// Tamper with a stored row as the superuser: the report must say so.
	if _, err := pool.Exec(ctx, `ALTER TABLE audit_events DISABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE audit_events SET room = 'visit-2' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	rep, err = BuildReport(ctx, Sources{Pool: pool, DataMap: m}, d, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.HIPAA {
		if c.ID == "164.312(b)" && (c.Status == StatusMet || !strings.Contains(evidence(c, "Audit chain"), "BROKEN at sequence 2")) {
			t.Fatalf("tampered log reported as %s: %+v", c.Status, c.Evidence)
		}
	}
}

func evidence(c Control, label string) string {
	for _, e := range c.Evidence {
		if e.Label == label {
			return e.Value
		}
	}
	return ""
}
