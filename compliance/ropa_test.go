package compliance

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestRecordOfProcessing(t *testing.T) {
	m, err := LoadDataMap()
	if err != nil {
		t.Fatal(err)
	}
	r := RecordOfProcessing(m, Controller{})
	if len(r.Gaps) != 1 {
		t.Fatalf("an unconfigured controller must show as a gap: %v", r.Gaps)
	}
	var md bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### identities", "### audit_events", "crypto-shred", "Not configured", "## Gaps"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	// Tables without personal data are not processing activities.
	if strings.Contains(md.String(), "### audit_tip") {
		t.Error("a table without personal data is listed as an activity")
	}

	r = RecordOfProcessing(m, Controller{Name: "Example Clinic", Contact: "privacy@clinic.example"})
	if len(r.Gaps) != 0 {
		t.Fatalf("gaps with a configured controller: %v", r.Gaps)
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Record
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Controller.Name != "Example Clinic" || len(back.Activities) == 0 {
		t.Fatalf("JSON round trip: %v %+v", err, back.Controller)
	}
}
