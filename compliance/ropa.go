package compliance

import (
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"text/template"
)

//go:embed templates/ropa.md.tmpl
var templates embed.FS

// Controller identifies the organisation running the deployment (GDPR Art. 30(1)(a)).
type Controller struct {
	Name    string `json:"name"`
	Contact string `json:"contact"`
	DPO     string `json:"dpo,omitempty"` // data protection officer's contact, when there is one
}

// securityMeasures are the technical measures sealroom itself implements (Art. 30(1)(g),
// Art. 32); the operator adds its organisational ones.
var securityMeasures = []string{
	"End-to-end encryption of media and chat (SFrame keys from an MLS group); the server cannot decrypt content and stores none.",
	"Access tokens signed with Ed25519, short-lived (at most 24 h), verified strictly; automatic logoff at token expiry.",
	"Hash-chained, signed, append-only audit log enforced by database grants and triggers.",
	"Personal data in audit events encrypted under per-subject keys; erasure by crypto-shredding.",
	"Rate limits, request size limits and secure HTTP headers on every endpoint.",
}

// Record is the GDPR Art. 30 record of processing activities, as data.
type Record struct {
	Controller       Controller           `json:"controller"`
	Activities       []Activity           `json:"activities"`
	Recipients       string               `json:"recipients"`
	Transfers        string               `json:"third_country_transfers"`
	Retention        map[string]Retention `json:"retention"`
	SecurityMeasures []string             `json:"security_measures"`
	Gaps             []string             `json:"gaps"`
}

// Activity is one processing activity: a table that holds personal data.
type Activity struct {
	Table        string   `json:"table"`
	Purpose      string   `json:"purpose"`
	LegalBasis   string   `json:"legal_basis"`
	DataSubjects string   `json:"data_subjects"`
	Categories   []string `json:"categories_of_personal_data"`
	Retention    string   `json:"retention"`
	Erasure      Erasure  `json:"erasure"`
}

// RecordOfProcessing builds the Art. 30 record from the data map. What the deployment has
// not configured (the controller's identity) is listed as a gap rather than invented.
func RecordOfProcessing(m *DataMap, c Controller) Record {
	r := Record{
		Controller: c,
		Recipients: "None by sealroom: no personal data is disclosed to third parties. " +
			"Hosting and database providers chosen by the controller are processors under Art. 28.",
		Transfers:        "None by sealroom; depends on where the controller hosts the deployment.",
		Retention:        m.Retention,
		SecurityMeasures: securityMeasures,
		Gaps:             []string{},
	}
	for _, t := range m.Tables {
		if !t.Personal() {
			continue
		}
		a := Activity{Table: t.Table, Purpose: t.Purpose, LegalBasis: t.LegalBasis, DataSubjects: t.DataSubjects,
			Retention: m.Retention[t.Retention].Period, Erasure: t.Erasure}
		seen := map[string]bool{}
		for _, col := range t.Columns {
			if col.Personal && !seen[col.Category] {
				seen[col.Category] = true
				a.Categories = append(a.Categories, col.Category)
			}
		}
		r.Activities = append(r.Activities, a)
	}
	if c.Name == "" || c.Contact == "" {
		r.Gaps = append(r.Gaps, "Controller name and contact are not configured (SEALROOM_CONTROLLER_NAME, SEALROOM_CONTROLLER_CONTACT): Art. 30(1)(a).")
	}
	return r
}

// WriteMarkdown renders the record for people.
func (r Record) WriteMarkdown(w io.Writer) error {
	t, err := template.ParseFS(templates, "templates/ropa.md.tmpl")
	if err != nil {
		return fmt.Errorf("compliance: %w", err)
	}
	return t.Execute(w, r)
}

// WriteJSON renders the record for machines.
func (r Record) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
