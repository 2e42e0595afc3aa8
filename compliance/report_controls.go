package compliance

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/sealroom/sealroom/audit"
)

// controlDef is one row of the report: a control's fixed description and the function
// that judges it from the gathered evidence, returning the evidence to show and the
// gaps found. Adding a control is adding a row; its status follows from what judge
// returns (see Report.judge).
type controlDef struct {
	id, title, requirement, feature string
	judge                           func(ev *liveEvidence) (shown []Evidence, gaps []string)
}

// hipaaControls are the technical safeguards of HIPAA §164.312, in the rule's order.
var hipaaControls = []controlDef{
	{id: "164.312(a)(2)(i)", title: "Unique user identification", requirement: "required",
		feature: "Every token carries a stable user id (sub); tokens without one are refused; every subject seen is recorded in the identities table.",
		judge: func(ev *liveEvidence) ([]Evidence, []string) {
			if ev.identities.err != nil {
				return nil, []string{"identities unreadable: " + ev.identities.err.Error()}
			}
			return []Evidence{{"Distinct user ids seen", fmt.Sprint(ev.identities.v), "identities table"}}, nil
		}},

	{id: "164.312(a)(2)(ii)", title: "Emergency access procedure", requirement: "required",
		feature: "Break-glass access: mandatory reason, short-lived grant, high-severity audit event, notification hook.",
		judge: func(ev *liveEvidence) (shown []Evidence, gaps []string) {
			if ev.breakGlass.err != nil {
				gaps = append(gaps, "break-glass events unreadable: "+ev.breakGlass.err.Error())
			} else {
				shown = append(shown,
					Evidence{"Break-glass grants in the period", fmt.Sprint(ev.breakGlass.v), "audit_events, action breakglass.granted"},
					Evidence{"Grant lifetime", "at most 15 minutes, reason of 10+ characters required", "POST /v1/break-glass"})
			}
			if ev.d.BreakGlassWebhook {
				shown = append(shown, Evidence{"Notification", "webhook configured", "SEALROOM_BREAKGLASS_WEBHOOK"})
			} else {
				gaps = append(gaps, "no break-glass webhook configured (SEALROOM_BREAKGLASS_WEBHOOK): notifications reach the server log only")
			}
			return shown, gaps
		}},

	{id: "164.312(a)(2)(iii)", title: "Automatic logoff", requirement: "addressable",
		feature: "Signaling connections close at token expiry and after an idle timeout; token lifetime is capped.",
		judge: func(ev *liveEvidence) ([]Evidence, []string) {
			shown := []Evidence{
				{"Maximum token lifetime", ev.d.TokenMaxTTL.String(), "server/auth.MaxTTL"},
				{"Idle timeout", ev.d.IdleTimeout.String(), "serve --idle-timeout"},
			}
			if ev.d.IdleTimeout <= 0 || ev.d.IdleTimeout > time.Hour {
				return shown, []string{"idle timeout is unset or longer than an hour"}
			}
			return shown, nil
		}},

	{id: "164.312(a)(2)(iv)", title: "Encryption and decryption", requirement: "addressable",
		feature: "Media frames are SFrame-encrypted (RFC 9605) with keys from the room's MLS group (RFC 9420, suite 1); the server holds no media key and stores no content.",
		judge: func(ev *liveEvidence) ([]Evidence, []string) {
			shown := []Evidence{{"Audit personal data", "AES-256-GCM under per-subject keys", "audit package"}}
			if ev.mls.err != nil {
				return shown, []string{"MLS group state unreadable: " + ev.mls.err.Error()}
			}
			return append(shown,
				Evidence{"Rooms keyed by an MLS group (the server holds only public state)", fmt.Sprint(ev.mls.v.groups), "ks_rooms"},
				Evidence{"MLS commits accepted in the period (key changes)", fmt.Sprint(ev.mls.v.commits), "audit_events, action mls.commit_accepted"}), nil
		}},

	{id: "164.312(b)", title: "Audit controls", requirement: "required",
		feature: "Every security-relevant action is an audit event in a hash-chained, checkpoint-signed, append-only log; `sealroom audit verify` recomputes it.",
		judge:   auditChain},

	{id: "164.312(c)(1)", title: "Integrity", requirement: "required",
		feature: "The audit log cannot be altered unnoticed: hash chain, signed checkpoints, and database triggers refusing UPDATE, DELETE and TRUNCATE.",
		judge: func(ev *liveEvidence) (shown []Evidence, gaps []string) {
			if ev.triggers.err != nil {
				gaps = append(gaps, "triggers unreadable: "+ev.triggers.err.Error())
			} else {
				shown = append(shown, Evidence{"Append-only triggers on audit tables", fmt.Sprint(ev.triggers.v), "pg_trigger"})
				if ev.triggers.v == 0 {
					gaps = append(gaps, "no append-only trigger found")
				}
			}
			if ev.verify.err == nil && !ev.verify.v.OK {
				gaps = append(gaps, "the audit chain does not verify")
			}
			return shown, gaps
		}},

	{id: "164.312(d)", title: "Person or entity authentication", requirement: "required",
		feature: "Ed25519-signed tokens (EdDSA only), verified strictly: issuer, audience, expiry, key id from the server's own key set.",
		judge: func(ev *liveEvidence) ([]Evidence, []string) {
			shown := []Evidence{{"MFA required for admin actions", fmt.Sprint(ev.d.MFARequired), "serve configuration"}}
			if !ev.d.MFARequired {
				return shown, []string{"MFA is not required for administrative actions"}
			}
			return shown, nil
		}},

	{id: "164.312(e)(1)", title: "Transmission security", requirement: "required",
		feature: "Media is SFrame ciphertext inside DTLS-SRTP; the API and signaling need TLS, terminated here or by a reverse proxy.",
		judge: func(ev *liveEvidence) ([]Evidence, []string) {
			switch d := ev.d; {
			case strings.HasPrefix(d.TLSHere, "configured but unusable"):
				return nil, []string{"TLS " + d.TLSHere}
			case d.TLSHere != "":
				return []Evidence{{"TLS terminated by sealroom", d.TLSHere, "SEALROOM_TLS_CERT, checked now"}}, nil
			case d.TLSNote != "":
				return []Evidence{{"TLS", "terminated by a proxy: " + d.TLSNote, "operator declaration"}}, nil
			default:
				return nil, []string{"no TLS configured here and none declared for a proxy (SEALROOM_TLS_PROXY)"}
			}
		}},
}

// gdprControls are the GDPR articles the deployment implements.
var gdprControls = []controlDef{
	{id: "GDPR Art. 15/20", title: "Right of access and portability",
		feature: "Export of everything held about a subject as JSON, driven by the data map (GET /v1/admin/subjects/{id}/export, `sealroom compliance export`); every export is audited.",
		judge: func(ev *liveEvidence) ([]Evidence, []string) {
			if ev.exports.err != nil {
				return nil, []string{"export events unreadable: " + ev.exports.err.Error()}
			}
			return []Evidence{{"Subject exports in the period", fmt.Sprint(ev.exports.v), "audit_events, action gdpr.export"}}, nil
		}},

	{id: "GDPR Art. 17", title: "Right to erasure",
		feature: "Deletion of the subject's rows per the data map and crypto-shredding of its audit key; the chain still verifies; a legal hold refuses erasure.",
		judge: func(ev *liveEvidence) ([]Evidence, []string) {
			if ev.erasures.err != nil || ev.holds.err != nil {
				return nil, []string{"erasure evidence unreadable"}
			}
			return []Evidence{
				{"Erasures in the period", fmt.Sprint(ev.erasures.v), "audit_events, action gdpr.erasure"},
				{"Active legal holds on subjects", fmt.Sprint(ev.holds.v), "subject_legal_holds"},
			}, nil
		}},

	{id: "GDPR Art. 30", title: "Record of processing activities",
		feature: "`sealroom compliance record-of-processing`, rendered from the data map; a test keeps the map equal to the schema.",
		judge: func(ev *liveEvidence) (shown []Evidence, gaps []string) {
			if cov, err := ev.coverage.v, ev.coverage.err; err != nil {
				gaps = append(gaps, "coverage unreadable: "+err.Error())
			} else {
				shown = append(shown, Evidence{"Data map coverage",
					fmt.Sprintf("%d tables, %d columns, %d unmapped, %d stale", cov.Tables, cov.Columns, len(cov.Unmapped), len(cov.Stale)), "pg_catalog vs compliance/datamap.json"})
				if !cov.Complete() {
					gaps = append(gaps, fmt.Sprintf("columns not in the data map: %v; map entries not in the schema: %v", cov.Unmapped, cov.Stale))
				}
			}
			if ev.d.Controller.Name == "" {
				gaps = append(gaps, "controller identity not configured")
			}
			return shown, gaps
		}},

	{id: "GDPR Art. 5(1)(e)", title: "Storage limitation (retention)",
		feature: "Audit retention by whole monthly partitions, configurable, with legal holds; hourly purge of other categories per the data map.",
		judge: func(ev *liveEvidence) (shown []Evidence, gaps []string) {
			if ev.retention.err != nil {
				gaps = append(gaps, "retention unreadable: "+ev.retention.err.Error())
			} else {
				shown = append(shown, Evidence{"Audit retention", fmt.Sprintf("%d months", ev.retention.v), "audit_settings"})
			}
			for _, t := range ev.dataMap.Tables {
				if t.RetentionColumn == "" {
					continue
				}
				n := ev.dataMap.Retention[t.Retention].Months
				if m, ok := ev.d.RetentionMonths[t.Retention]; ok {
					n = m
				}
				shown = append(shown, Evidence{"Scheduled purge of " + t.Table,
					fmt.Sprintf("rows older than %d months by %s (hourly)", n, t.RetentionColumn), "compliance.Purge, SEALROOM_RETENTION"})
			}
			// The purge schedule above is already evidence; a missing count of
			// past runs only leaves a row out.
			if ev.purges.err == nil {
				shown = append(shown, Evidence{"Purge runs recorded in the period", fmt.Sprint(ev.purges.v), "audit_events, action retention.purged"})
			}
			return shown, gaps
		}},

	{id: "GDPR Art. 7(1)", title: "Conditions for consent (telehealth notice)",
		feature: "A room can require each participant to accept a notice version before joining; signaling holds them at the door until the acceptance is recorded and audited.",
		judge: func(ev *liveEvidence) ([]Evidence, []string) {
			if ev.consent.err != nil {
				return nil, []string{"consent records unreadable: " + ev.consent.err.Error()}
			}
			return []Evidence{
				{"Rooms requiring a notice", fmt.Sprint(ev.consent.v.rooms), "room_policies"},
				{"Acceptances recorded in the period", fmt.Sprint(ev.consent.v.accepted), "consents"},
			}, nil
		}},

	{id: "GDPR Art. 32", title: "Security of processing",
		feature: "End-to-end encryption, strict authentication, tamper-evident audit log.",
		judge:   auditChain},
}

// auditChain judges a control by the audit log's verification: the chain, the signed
// checkpoints and the key that signs them.
func auditChain(ev *liveEvidence) ([]Evidence, []string) {
	if ev.verify.err != nil {
		return nil, []string{"audit verification could not run: " + ev.verify.err.Error()}
	}
	v := ev.verify.v
	shown := []Evidence{
		{"Audit chain", chainStatus(v), "audit.Verify over audit_events and audit_checkpoints"},
		{"Rows verified", fmt.Sprint(v.Rows), "audit.Verify"},
		{"Checkpoint signatures verified", fmt.Sprint(v.Checkpoints), "audit.Verify"},
		{"Signed head", fmt.Sprintf("seq %d, %x", v.SignedHead.Seq, v.SignedHead.Hash), "audit_checkpoints"},
		{"Checkpoint key fingerprint (SHA-256 of the Ed25519 public key)", fingerprint(ev.d.AuditKey), "audit signing key"},
	}
	var gaps []string
	if !v.OK {
		gaps = append(gaps, fmt.Sprintf("the audit chain does not verify: first bad sequence number %d (%s)", v.FirstBad, v.Reason))
	}
	if v.Checkpoints == 0 {
		gaps = append(gaps, "no signed checkpoint yet")
	}
	return shown, gaps
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
