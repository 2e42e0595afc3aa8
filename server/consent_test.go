package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/server/auth"
	"github.com/sealroom/sealroom/server/signaling"
)

func TestSignalConsent(t *testing.T) {
	f, ts := signalFixture(t, nil)
	h := f.srv.Handler()
	admin := f.mint(t, auth.Grant{Identity: "admin-1", Admin: true})
	if rec := do(h, "PUT", "/v1/admin/rooms/visit-1/policy", admin, strings.NewReader(`{"notice_version":""}`)); rec.Code != http.StatusBadRequest {
		t.Fatalf("empty version: %d", rec.Code)
	}
	if rec := do(h, "PUT", "/v1/admin/rooms/visit-1/policy", admin,
		strings.NewReader(`{"notice_version":"tele-2026-01","notice_url":"https://clinic.example/notice"}`)); rec.Code != http.StatusNoContent {
		t.Fatalf("set policy: %d %s", rec.Code, rec.Body)
	}

	// Everyone accepts, the clinician too.
	doctor := dialSignal(t, ts)
	doctor.send("auth", "", map[string]string{"token": f.roomToken(t, "dr-ada", time.Hour)})
	var req signaling.ConsentRequired
	_ = json.Unmarshal(doctor.expect("consent_required").Data, &req)
	if req.NoticeVersion != "tele-2026-01" || req.NoticeURL == "" {
		t.Fatalf("consent_required %+v", req)
	}
	doctor.send("consent", "c1", signaling.Consent{NoticeVersion: "tele-2026-01"})
	doctor.expect("ack")
	doctor.expect("ready")

	patient := dialSignal(t, ts)
	patient.send("auth", "", map[string]string{"token": f.roomToken(t, "patient-7", time.Hour)})
	patient.expect("consent_required")
	// Nothing but consent, ping and leave is possible at the door.
	patient.send("mute", "m1", signaling.Mute{AudioMuted: true})
	var e signaling.Error
	_ = json.Unmarshal(patient.expect("error").Data, &e)
	if e.Code != signaling.CodeConsentRequired {
		t.Fatalf("mute before consent: %q", e.Code)
	}
	patient.send("consent", "c2", signaling.Consent{NoticeVersion: "tele-2025-12"})
	_ = json.Unmarshal(patient.expect("error").Data, &e)
	if e.Code != signaling.CodeConsentRequired {
		t.Fatalf("old notice version: %q", e.Code)
	}
	// The patient is not in the room yet: the doctor saw nobody join.
	patient.send("ping", "p", nil)
	patient.expect("pong")
	patient.send("consent", "c3", signaling.Consent{NoticeVersion: "tele-2026-01"})
	patient.expect("ack")
	r := readyOf(t, patient)
	if len(r.Participants) != 2 {
		t.Fatalf("roster after consent: %+v", r.Participants)
	}
	var p signaling.Participant
	_ = json.Unmarshal(doctor.expect(signaling.TypeJoined).Data, &p)
	if p.Subject != "patient-7" {
		t.Fatalf("doctor saw %+v", p)
	}

	// Accepted once: a second connection goes straight in.
	again := dialSignal(t, ts)
	again.join(f.roomToken(t, "patient-7", time.Hour))

	page, err := f.audit.Query(t.Context(), audit.Caller{Actor: "auditor", Role: audit.RoleAuditor}, audit.Filter{Action: audit.ActionConsentRecorded})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 2 || page.Records[1].Event.Actor != "patient-7" || page.Records[1].Event.Details["notice_version"] != "tele-2026-01" {
		t.Fatalf("consent events: %+v", page.Records)
	}
}

func readyOf(t *testing.T, c *wsClient) signaling.Ready {
	t.Helper()
	var r signaling.Ready
	if err := json.Unmarshal(c.expect("ready").Data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}
