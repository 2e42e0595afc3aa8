package server

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/server/auth"
)

func TestAuditAPI(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RatePerSecond, cfg.RateBurst = 1000, 1000
	f := newFixture(t, cfg)
	h := f.srv.Handler()

	// A forged token is refused and leaves an auth.denied event with the source address.
	if rec := do(h, "GET", "/v1/whoami", "not.a.token", nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("forged token: %d", rec.Code)
	}
	// A participant cannot read the audit log.
	if rec := do(h, "GET", "/v1/audit/events", f.token(t), nil); rec.Code != http.StatusForbidden {
		t.Fatalf("participant reading the audit log: %d", rec.Code)
	}
	auditor, _, err := f.signer.Mint(auth.Grant{Identity: "auditor-1", Auditor: true}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if rec := do(h, "GET", "/v1/audit/events?action=no.such", auditor, nil); rec.Code != http.StatusBadRequest {
		t.Fatalf("unknown action: %d", rec.Code)
	}
	if rec := do(h, "GET", "/v1/audit/events?from=yesterday", auditor, nil); rec.Code != http.StatusBadRequest {
		t.Fatalf("bad time: %d", rec.Code)
	}
	rec := do(h, "GET", "/v1/audit/events?action=auth.denied", auditor, nil)
	if rec.Code != 200 {
		t.Fatalf("auditor query: %d %s", rec.Code, rec.Body)
	}
	var page auditPage
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 {
		t.Fatalf("want 1 auth.denied event, got %+v", page.Events)
	}
	ev := page.Events[0]
	if ev.Actor != anonymousActor || ev.Outcome != audit.OutcomeDenied || ev.Details["reason"] != "invalid" ||
		ev.Personal == nil || ev.Personal.SourceIP != "192.0.2.10" {
		t.Fatalf("auth.denied event: %+v", ev)
	}
	// The query itself was audited, under the auditor's identity, and so was the
	// participant's refused attempt.
	for _, want := range []struct {
		actor   string
		outcome audit.Outcome
	}{{"auditor-1", audit.OutcomeSuccess}, {"alice", audit.OutcomeDenied}} {
		actor, outcome := want.actor, want.outcome
		rec = do(h, "GET", "/v1/audit/events?action=audit.query&actor="+actor, auditor, nil)
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != 1 || page.Events[0].Outcome != outcome {
			t.Fatalf("audit.query events by %s: %+v", actor, page.Events)
		}
	}
}
