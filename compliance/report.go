package compliance

import (
	"context"
	"crypto/ed25519"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed templates/report.html.tmpl
var reportTemplates embed.FS

// Status says how far a control is met, judged only from live evidence.
type Status string

// The statuses. A control without evidence is a gap, never hidden.
const (
	StatusMet     Status = "met"
	StatusPartial Status = "partial"
	StatusGap     Status = "gap"
)

// Evidence is one fact read from this deployment, with where it came from.
type Evidence struct {
	Label  string `json:"label"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// Control is one HIPAA §164.312 standard or implementation specification, or one GDPR
// article, with the feature that implements it and the evidence that it works here.
type Control struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Requirement string     `json:"requirement"`
	Feature     string     `json:"feature"`
	Status      Status     `json:"status"`
	Evidence    []Evidence `json:"evidence"`
	Gaps        []string   `json:"gaps"`
}

// Report is the compliance report for one deployment at one time.
type Report struct {
	GeneratedAt time.Time `json:"generated_at"`
	PeriodFrom  time.Time `json:"period_from"`
	Deployment  string    `json:"deployment"`
	HIPAA       []Control `json:"hipaa_164_312"`
	GDPR        []Control `json:"gdpr"`
	Summary     struct {
		Met, Partial, Gap int
	} `json:"summary"`
}

// Deployment is the configuration the report reads evidence from: what the operator
// runs with, as the server sees it.
type Deployment struct {
	Name              string
	TokenMaxTTL       time.Duration
	IdleTimeout       time.Duration
	AuditKey          ed25519.PublicKey
	TLSHere           string // sealroom serves TLS itself: its settings and certificate, as checked
	TLSNote           string // what the operator declares when a proxy terminates TLS
	MFARequired       bool   // admin actions require an MFA claim
	BreakGlassWebhook bool   // break-glass notifications go to a webhook
	RetentionMonths   map[string]int
	Controller        Controller
}

// Sources the report reads, kept apart so tests can seed them.
type Sources struct {
	Pool    *pgxpool.Pool
	DataMap *DataMap
	Now     func() time.Time
}

// BuildReport gathers live evidence for every control, then judges each control of
// hipaaControls and gdprControls from it. A failing evidence source makes the controls
// that need it gaps with the error as the reason; it never aborts the report.
func BuildReport(ctx context.Context, src Sources, d Deployment, period time.Duration) (*Report, error) {
	now := time.Now
	if src.Now != nil {
		now = src.Now
	}
	r := &Report{GeneratedAt: now().UTC(), PeriodFrom: now().Add(-period).UTC(), Deployment: d.Name}
	ev := gatherEvidence(ctx, src, d, r.PeriodFrom)
	r.HIPAA = r.judge(hipaaControls, ev)
	r.GDPR = r.judge(gdprControls, ev)
	return r, nil
}

// judge turns each row of a control table into a Control and counts it in the summary.
// A control without evidence is a gap whatever else it says, so a source that could
// not be read never shows as met.
func (r *Report) judge(table []controlDef, ev *liveEvidence) []Control {
	out := make([]Control, 0, len(table))
	for _, def := range table {
		c := Control{ID: def.id, Title: def.title, Requirement: def.requirement, Feature: def.feature}
		c.Evidence, c.Gaps = def.judge(ev)
		if c.Gaps == nil {
			c.Gaps = []string{}
		}
		switch {
		case len(c.Evidence) == 0:
			c.Status = StatusGap
			r.Summary.Gap++
		case len(c.Gaps) > 0:
			c.Status = StatusPartial
			r.Summary.Partial++
		default:
			c.Status = StatusMet
			r.Summary.Met++
		}
		out = append(out, c)
	}
	return out
}

// WriteJSON renders the report for machines.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteHTML renders the report as one self-contained page (no external assets).
func (r *Report) WriteHTML(w io.Writer) error {
	t, err := template.ParseFS(reportTemplates, "templates/report.html.tmpl")
	if err != nil {
		return fmt.Errorf("compliance: %w", err)
	}
	return t.Execute(w, r)
}
