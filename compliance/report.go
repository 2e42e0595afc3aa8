package compliance

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealroom/sealroom/audit"
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

// BuildReport gathers live evidence for every control. A failing evidence source makes
// its control a gap with the error as the reason; it never aborts the report.
func BuildReport(ctx context.Context, src Sources, d Deployment, period time.Duration) (*Report, error) {
	now := time.Now
	if src.Now != nil {
		now = src.Now
	}
	r := &Report{GeneratedAt: now().UTC(), PeriodFrom: now().Add(-period).UTC(), Deployment: d.Name}

	verify, verr := audit.Verify(ctx, src.Pool, d.AuditKey)
	cov, cerr := CheckCoverage(ctx, src.Pool, src.DataMap)
	identities, ierr := countIdentities(ctx, src.Pool)
	breakGlass, berr := countAction(ctx, src.Pool, audit.ActionBreakGlassGranted, r.PeriodFrom)
	exports, xerr := countAction(ctx, src.Pool, audit.ActionGDPRExport, r.PeriodFrom)
	erasures, eerr := countAction(ctx, src.Pool, audit.ActionGDPRErasure, r.PeriodFrom)
	holds, herr := countActiveHolds(ctx, src.Pool)
	retention, rerr := audit.Retention(ctx, src.Pool)
	triggers, terr := appendOnlyTriggers(ctx, src.Pool)

	auditEvidence := func() ([]Evidence, []string) {
		if verr != nil {
			return nil, []string{"audit verification could not run: " + verr.Error()}
		}
		ev := []Evidence{
			{"Audit chain", chainStatus(verify), "audit.Verify over audit_events and audit_checkpoints"},
			{"Rows verified", fmt.Sprint(verify.Rows), "audit.Verify"},
			{"Checkpoint signatures verified", fmt.Sprint(verify.Checkpoints), "audit.Verify"},
			{"Signed head", fmt.Sprintf("seq %d, %x", verify.SignedHead.Seq, verify.SignedHead.Hash), "audit_checkpoints"},
			{"Checkpoint key fingerprint (SHA-256 of the Ed25519 public key)", fingerprint(d.AuditKey), "audit signing key"},
		}
		var gaps []string
		if !verify.OK {
			gaps = append(gaps, fmt.Sprintf("the audit chain does not verify: first bad sequence number %d (%s)", verify.FirstBad, verify.Reason))
		}
		if verify.Checkpoints == 0 {
			gaps = append(gaps, "no signed checkpoint yet")
		}
		return ev, gaps
	}

	// §164.312(a)(2)(i) unique user identification.
	uid := Control{ID: "164.312(a)(2)(i)", Title: "Unique user identification", Requirement: "required",
		Feature: "Every token carries a stable user id (sub); tokens without one are refused; every subject seen is recorded in the identities table."}
	if ierr != nil {
		uid.Gaps = append(uid.Gaps, "identities unreadable: "+ierr.Error())
	} else {
		uid.Evidence = append(uid.Evidence, Evidence{"Distinct user ids seen", fmt.Sprint(identities), "identities table"})
	}

	// §164.312(a)(2)(ii) emergency access procedure.
	emergency := Control{ID: "164.312(a)(2)(ii)", Title: "Emergency access procedure", Requirement: "required",
		Feature: "Break-glass access: mandatory reason, short-lived grant, high-severity audit event, notification hook."}
	if berr != nil {
		emergency.Gaps = append(emergency.Gaps, "break-glass events unreadable: "+berr.Error())
	} else {
		emergency.Evidence = append(emergency.Evidence,
			Evidence{"Break-glass grants in the period", fmt.Sprint(breakGlass), "audit_events, action breakglass.granted"},
			Evidence{"Grant lifetime", "at most 15 minutes, reason of 10+ characters required", "POST /v1/break-glass"})
	}
	if d.BreakGlassWebhook {
		emergency.Evidence = append(emergency.Evidence, Evidence{"Notification", "webhook configured", "SEALROOM_BREAKGLASS_WEBHOOK"})
	} else {
		emergency.Gaps = append(emergency.Gaps, "no break-glass webhook configured (SEALROOM_BREAKGLASS_WEBHOOK): notifications reach the server log only")
	}

	// §164.312(a)(2)(iii) automatic logoff.
	logoff := Control{ID: "164.312(a)(2)(iii)", Title: "Automatic logoff", Requirement: "addressable",
		Feature: "Signaling connections close at token expiry and after an idle timeout; token lifetime is capped."}
	logoff.Evidence = append(logoff.Evidence,
		Evidence{"Maximum token lifetime", d.TokenMaxTTL.String(), "server/auth.MaxTTL"},
		Evidence{"Idle timeout", d.IdleTimeout.String(), "serve --idle-timeout"})
	if d.IdleTimeout <= 0 || d.IdleTimeout > time.Hour {
		logoff.Gaps = append(logoff.Gaps, "idle timeout is unset or longer than an hour")
	}

	// §164.312(a)(2)(iv) encryption and decryption.
	enc := Control{ID: "164.312(a)(2)(iv)", Title: "Encryption and decryption", Requirement: "addressable",
		Feature: "Media frames are SFrame-encrypted (RFC 9605) with keys from the room's MLS group (RFC 9420, suite 1); the server holds no media key and stores no content."}
	enc.Evidence = append(enc.Evidence, Evidence{"Audit personal data", "AES-256-GCM under per-subject keys", "audit package"})
	var groups, commits int64
	if err := src.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM ks_rooms),
		(SELECT count(*) FROM audit_events WHERE action = $1 AND occurred_at >= $2)`,
		string(audit.ActionCommitAccepted), r.PeriodFrom).Scan(&groups, &commits); err != nil {
		enc.Gaps = append(enc.Gaps, "MLS group state unreadable: "+err.Error())
	} else {
		enc.Evidence = append(enc.Evidence,
			Evidence{"Rooms keyed by an MLS group (the server holds only public state)", fmt.Sprint(groups), "ks_rooms"},
			Evidence{"MLS commits accepted in the period (key changes)", fmt.Sprint(commits), "audit_events, action mls.commit_accepted"})
	}

	auditCtl := Control{ID: "164.312(b)", Title: "Audit controls", Requirement: "required",
		Feature: "Every security-relevant action is an audit event in a hash-chained, checkpoint-signed, append-only log; `sealroom audit verify` recomputes it."}
	auditCtl.Evidence, auditCtl.Gaps = auditEvidence()

	integrity := Control{ID: "164.312(c)(1)", Title: "Integrity", Requirement: "required",
		Feature: "The audit log cannot be altered unnoticed: hash chain, signed checkpoints, and database triggers refusing UPDATE, DELETE and TRUNCATE."}
	if terr != nil {
		integrity.Gaps = append(integrity.Gaps, "triggers unreadable: "+terr.Error())
	} else {
		integrity.Evidence = append(integrity.Evidence, Evidence{"Append-only triggers on audit tables", fmt.Sprint(triggers), "pg_trigger"})
		if triggers == 0 {
			integrity.Gaps = append(integrity.Gaps, "no append-only trigger found")
		}
	}
	if verr == nil && !verify.OK {
		integrity.Gaps = append(integrity.Gaps, "the audit chain does not verify")
	}

	authn := Control{ID: "164.312(d)", Title: "Person or entity authentication", Requirement: "required",
		Feature: "Ed25519-signed tokens (EdDSA only), verified strictly: issuer, audience, expiry, key id from the server's own key set."}
	authn.Evidence = append(authn.Evidence, Evidence{"MFA required for admin actions", fmt.Sprint(d.MFARequired), "serve configuration"})
	if !d.MFARequired {
		authn.Gaps = append(authn.Gaps, "MFA is not required for administrative actions")
	}

	tx := Control{ID: "164.312(e)(1)", Title: "Transmission security", Requirement: "required",
		Feature: "Media is SFrame ciphertext inside DTLS-SRTP; the API and signaling need TLS, terminated here or by a reverse proxy."}
	switch {
	case strings.HasPrefix(d.TLSHere, "configured but unusable"):
		tx.Gaps = append(tx.Gaps, "TLS "+d.TLSHere)
	case d.TLSHere != "":
		tx.Evidence = append(tx.Evidence, Evidence{"TLS terminated by sealroom", d.TLSHere, "SEALROOM_TLS_CERT, checked now"})
	case d.TLSNote != "":
		tx.Evidence = append(tx.Evidence, Evidence{"TLS", "terminated by a proxy: " + d.TLSNote, "operator declaration"})
	default:
		tx.Gaps = append(tx.Gaps, "no TLS configured here and none declared for a proxy (SEALROOM_TLS_PROXY)")
	}

	r.HIPAA = []Control{uid, emergency, logoff, enc, auditCtl, integrity, authn, tx}

	ropa := Control{ID: "GDPR Art. 30", Title: "Record of processing activities",
		Feature: "`sealroom compliance record-of-processing`, rendered from the data map; a test keeps the map equal to the schema."}
	if cerr != nil {
		ropa.Gaps = append(ropa.Gaps, "coverage unreadable: "+cerr.Error())
	} else {
		ropa.Evidence = append(ropa.Evidence, Evidence{"Data map coverage",
			fmt.Sprintf("%d tables, %d columns, %d unmapped, %d stale", cov.Tables, cov.Columns, len(cov.Unmapped), len(cov.Stale)), "pg_catalog vs compliance/datamap.json"})
		if !cov.Complete() {
			ropa.Gaps = append(ropa.Gaps, fmt.Sprintf("columns not in the data map: %v; map entries not in the schema: %v", cov.Unmapped, cov.Stale))
		}
	}
	if d.Controller.Name == "" {
		ropa.Gaps = append(ropa.Gaps, "controller identity not configured")
	}
	retentionCtl := Control{ID: "GDPR Art. 5(1)(e)", Title: "Storage limitation (retention)",
		Feature: "Audit retention by whole monthly partitions, configurable, with legal holds; hourly purge of other categories per the data map."}
	if rerr != nil {
		retentionCtl.Gaps = append(retentionCtl.Gaps, "retention unreadable: "+rerr.Error())
	} else {
		retentionCtl.Evidence = append(retentionCtl.Evidence, Evidence{"Audit retention", fmt.Sprintf("%d months", retention), "audit_settings"})
	}
	for _, t := range src.DataMap.Tables {
		if t.RetentionColumn == "" {
			continue
		}
		n := src.DataMap.Retention[t.Retention].Months
		if m, ok := d.RetentionMonths[t.Retention]; ok {
			n = m
		}
		retentionCtl.Evidence = append(retentionCtl.Evidence, Evidence{"Scheduled purge of " + t.Table,
			fmt.Sprintf("rows older than %d months by %s (hourly)", n, t.RetentionColumn), "compliance.Purge, SEALROOM_RETENTION"})
	}
	if purges, err := countAction(ctx, src.Pool, audit.ActionRetentionPurged, r.PeriodFrom); err == nil {
		retentionCtl.Evidence = append(retentionCtl.Evidence, Evidence{"Purge runs recorded in the period", fmt.Sprint(purges), "audit_events, action retention.purged"})
	}
	access := Control{ID: "GDPR Art. 15/20", Title: "Right of access and portability",
		Feature: "Export of everything held about a subject as JSON, driven by the data map (GET /v1/admin/subjects/{id}/export, `sealroom compliance export`); every export is audited."}
	if xerr != nil {
		access.Gaps = append(access.Gaps, "export events unreadable: "+xerr.Error())
	} else {
		access.Evidence = append(access.Evidence, Evidence{"Subject exports in the period", fmt.Sprint(exports), "audit_events, action gdpr.export"})
	}
	erasure := Control{ID: "GDPR Art. 17", Title: "Right to erasure",
		Feature: "Deletion of the subject's rows per the data map and crypto-shredding of its audit key; the chain still verifies; a legal hold refuses erasure."}
	if eerr != nil || herr != nil {
		erasure.Gaps = append(erasure.Gaps, "erasure evidence unreadable")
	} else {
		erasure.Evidence = append(erasure.Evidence,
			Evidence{"Erasures in the period", fmt.Sprint(erasures), "audit_events, action gdpr.erasure"},
			Evidence{"Active legal holds on subjects", fmt.Sprint(holds), "subject_legal_holds"})
	}
	security := Control{ID: "GDPR Art. 32", Title: "Security of processing",
		Feature: "End-to-end encryption, strict authentication, tamper-evident audit log."}
	security.Evidence, security.Gaps = auditEvidence()

	consent := Control{ID: "GDPR Art. 7(1)", Title: "Conditions for consent (telehealth notice)",
		Feature: "A room can require each participant to accept a notice version before joining; signaling holds them at the door until the acceptance is recorded and audited."}
	var rooms, accepted int64
	if err := src.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM room_policies),
		(SELECT count(*) FROM consents WHERE accepted_at >= $1)`, r.PeriodFrom).Scan(&rooms, &accepted); err != nil {
		consent.Gaps = append(consent.Gaps, "consent records unreadable: "+err.Error())
	} else {
		consent.Evidence = append(consent.Evidence,
			Evidence{"Rooms requiring a notice", fmt.Sprint(rooms), "room_policies"},
			Evidence{"Acceptances recorded in the period", fmt.Sprint(accepted), "consents"})
	}

	r.GDPR = []Control{access, erasure, ropa, retentionCtl, consent, security}
	for _, list := range [][]Control{r.HIPAA, r.GDPR} {
		for i := range list {
			c := &list[i]
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
		}
	}
	return r, nil
}

func chainStatus(v audit.VerifyReport) string {
	if v.OK {
		return fmt.Sprintf("verified up to sequence %d (%d after the last checkpoint)", v.Head.Seq, v.Unsigned)
	}
	return fmt.Sprintf("BROKEN at sequence %d: %s", v.FirstBad, v.Reason)
}

func fingerprint(pub ed25519.PublicKey) string {
	if len(pub) == 0 {
		return "none"
	}
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])
}

func countIdentities(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT count(*) FROM identities`).Scan(&n)
	return n, err
}

func countAction(ctx context.Context, pool *pgxpool.Pool, a audit.Action, since time.Time) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = $1 AND occurred_at >= $2`, string(a), since).Scan(&n)
	return n, err
}

func countActiveHolds(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT count(*) FROM subject_legal_holds WHERE released_at IS NULL`).Scan(&n)
	return n, err
}

func appendOnlyTriggers(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `
		SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		WHERE NOT t.tgisinternal AND c.relname LIKE 'audit%' AND c.relkind IN ('r', 'p')`).Scan(&n)
	return n, err
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
