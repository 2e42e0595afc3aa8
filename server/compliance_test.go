package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/server/auth"
)

func (f *fixture) mint(t *testing.T, g auth.Grant) string {
	t.Helper()
	tok, _, err := f.signer.Mint(g, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSubjectRightsAPI(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RatePerSecond, cfg.RateBurst = 1000, 1000
	cfg.RequireMFA = true
	f := newFixture(t, cfg)
	h := f.srv.Handler()
	// The patient is seen once, so there is something to export.
	patient := f.mint(t, auth.Grant{Identity: "patient-7", Room: "visit-1", Role: auth.RoleParticipant})
	if rec := do(h, "GET", "/v1/whoami", patient, nil); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	admin := f.mint(t, auth.Grant{Identity: "admin-1", Admin: true, AMR: []string{"pwd", "otp"}})
	adminNoMFA := f.mint(t, auth.Grant{Identity: "admin-2", Admin: true, AMR: []string{"pwd"}})

	if rec := do(h, "GET", "/v1/admin/subjects/patient-7/export", patient, nil); rec.Code != http.StatusForbidden {
		t.Fatalf("participant export: %d", rec.Code)
	}
	if rec := do(h, "GET", "/v1/admin/subjects/patient-7/export", adminNoMFA, nil); rec.Code != http.StatusForbidden {
		t.Fatalf("admin without MFA: %d", rec.Code)
	}
	// The identity is recorded asynchronously; wait for it.
	deadline := time.Now().Add(5 * time.Second)
	var exp struct {
		Tables map[string][]map[string]any `json:"tables"`
	}
	for {
		rec := do(h, "GET", "/v1/admin/subjects/patient-7/export", admin, nil)
		if rec.Code != 200 {
			t.Fatalf("export: %d %s", rec.Code, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &exp); err != nil {
			t.Fatal(err)
		}
		if len(exp.Tables["identities"]) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(exp.Tables["identities"]) != 1 {
		t.Fatalf("export: %+v", exp.Tables)
	}

	rec := do(h, "POST", "/v1/admin/subjects/patient-7/legal-holds", admin, strings.NewReader(`{"reason":"subpoena 17"}`))
	if rec.Code != http.StatusCreated {
		t.Fatalf("hold: %d %s", rec.Code, rec.Body)
	}
	var hold struct{ ID int64 }
	_ = json.Unmarshal(rec.Body.Bytes(), &hold)
	rec = do(h, "POST", "/v1/admin/subjects/patient-7/erasure", admin, nil)
	if rec.Code != http.StatusConflict || errorCode(t, rec) != CodeConflict {
		t.Fatalf("erasure under hold: %d %s", rec.Code, rec.Body)
	}
	if rec := do(h, "DELETE", "/v1/admin/legal-holds/"+itoa(hold.ID), admin, nil); rec.Code != http.StatusNoContent {
		t.Fatalf("release: %d %s", rec.Code, rec.Body)
	}
	if rec := do(h, "POST", "/v1/admin/subjects/patient-7/erasure", admin, nil); rec.Code != 200 {
		t.Fatalf("erasure: %d %s", rec.Code, rec.Body)
	}
	if rec := do(h, "POST", "/v1/admin/subjects/patient-7/legal-holds", admin, strings.NewReader(`{"reason":"x","extra":1}`)); rec.Code != 400 {
		t.Fatalf("unknown field: %d", rec.Code)
	}
	if rec := do(h, "GET", "/v1/admin/subjects/bad%20subject/export", admin, nil); rec.Code != 400 {
		t.Fatalf("bad subject: %d", rec.Code)
	}
}

func TestBreakGlass(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RatePerSecond, cfg.RateBurst = 1000, 1000
	f := newFixture(t, cfg)
	h := f.srv.Handler()
	clinician := f.mint(t, auth.Grant{Identity: "dr-ada", Name: "Dr Ada", Room: "ward-3", Role: auth.RoleClinician})
	patient := f.mint(t, auth.Grant{Identity: "patient-7", Room: "visit-1", Role: auth.RoleParticipant})
	body := func(s string) *strings.Reader { return strings.NewReader(s) }

	if rec := do(h, "POST", "/v1/break-glass", patient, body(`{"room":"visit-1","reason":"I want to see it"}`)); rec.Code != http.StatusForbidden {
		t.Fatalf("patient breaking glass: %d", rec.Code)
	}
	if rec := do(h, "POST", "/v1/break-glass", clinician, body(`{"room":"visit-1"}`)); rec.Code != http.StatusBadRequest {
		t.Fatalf("no reason: %d", rec.Code)
	}
	if rec := do(h, "POST", "/v1/break-glass", clinician, body(`{"room":"visit-1","reason":"patient collapsed","ttl_seconds":3600}`)); rec.Code != http.StatusBadRequest {
		t.Fatalf("long ttl: %d", rec.Code)
	}
	rec := do(h, "POST", "/v1/break-glass", clinician, body(`{"room":"visit-1","reason":"patient collapsed during the visit","ttl_seconds":300}`))
	if rec.Code != http.StatusCreated {
		t.Fatalf("break glass: %d %s", rec.Code, rec.Body)
	}
	var bg breakGlassResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &bg); err != nil {
		t.Fatal(err)
	}
	// It works: the emergency token reaches the room as host.
	rec = do(h, "GET", "/v1/whoami", bg.Token, nil)
	var who whoamiResponse
	_ = json.Unmarshal(rec.Body.Bytes(), &who)
	if rec.Code != 200 || who.Room != "visit-1" || who.Role != auth.RoleHost || who.Subject != "dr-ada" {
		t.Fatalf("emergency token: %d %+v", rec.Code, who)
	}
	if rec := do(h, "POST", "/v1/break-glass", bg.Token, body(`{"room":"visit-2","reason":"chaining emergency tokens"}`)); rec.Code != http.StatusForbidden {
		t.Fatalf("break glass with an emergency token: %d", rec.Code)
	}
	// The security team is told.
	select {
	case n := <-f.notes:
		if n.Subject != "dr-ada" || n.Room != "visit-1" || n.Reason == "" {
			t.Fatalf("notice %+v", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no break-glass notification")
	}
	// It is audited as high severity, with the reason sealed for the clinician.
	page, err := f.audit.Query(t.Context(), audit.Caller{Actor: "auditor", Role: audit.RoleAuditor}, audit.Filter{Action: audit.ActionBreakGlassGranted})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 1 || page.Records[0].Event.Details["severity"] != "high" ||
		page.Records[0].Event.Personal.Text != "patient collapsed during the visit" {
		t.Fatalf("break-glass audit events: %+v", page.Records)
	}
	// It expires: five minutes (and the clock leeway) later the token is refused.
	f.skew.Store(int64(5*time.Minute + auth.Leeway + time.Second))
	if rec := do(h, "GET", "/v1/whoami", bg.Token, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("expired emergency token: %d", rec.Code)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
