package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/compliance"
	"github.com/sealroom/sealroom/server"
	"github.com/sealroom/sealroom/server/auth"
)

func newComplianceCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "compliance",
		Short: "GDPR and HIPAA records and reports",
	}
	cmd.AddCommand(newRecordOfProcessingCmd(e), newReportCmd(e), newSubjectCmd(e, "export"), newSubjectCmd(e, "erase"))
	return cmd
}

func newReportCmd(e *env) *cobra.Command {
	var (
		c       common
		format  string
		out     string
		period  time.Duration
		idle    time.Duration
		pubFile string
	)
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Render the HIPAA §164.312 / GDPR controls report with live evidence",
		Long: "Maps each HIPAA §164.312 control and GDPR article to the feature that implements it and\n" +
			"evidence read from this deployment now (audit chain verification, checkpoint key, token\n" +
			"lifetime, idle timeout, break-glass uses, retention, data map coverage). A control without\n" +
			"evidence is shown as a gap.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := e.logger()
			pub, err := c.auditPublicKey(e, log, pubFile)
			if err != nil {
				return err
			}
			pool, err := c.connect(ctx, e, log)
			if err != nil {
				return err
			}
			defer pool.Close()
			m, err := compliance.LoadDataMap()
			if err != nil {
				return err
			}
			months, err := retentionMonths(e)
			if err != nil {
				return err
			}
			var tlsHere string
			if cert := e.getenv("SEALROOM_TLS_CERT"); cert != "" {
				_, info, err := server.LoadTLS(cert, e.getenv("SEALROOM_TLS_KEY"), time.Now())
				if err != nil {
					tlsHere = "configured but unusable: " + err.Error()
				} else {
					tlsHere = fmt.Sprintf("%s or newer, certificate %s valid until %s", info.MinVersion, info.Subject, info.NotAfter.Format(time.RFC3339))
				}
			}
			rep, err := compliance.BuildReport(ctx, compliance.Sources{Pool: pool, DataMap: m}, compliance.Deployment{
				Name:              e.getenv("SEALROOM_DEPLOYMENT_NAME"),
				TokenMaxTTL:       auth.MaxTTL,
				IdleTimeout:       idle,
				AuditKey:          pub,
				TLSNote:           e.getenv("SEALROOM_TLS_PROXY"),
				TLSHere:           tlsHere,
				MFARequired:       e.getenv("SEALROOM_REQUIRE_MFA") == "1",
				BreakGlassWebhook: e.getenv("SEALROOM_BREAKGLASS_WEBHOOK") != "",
				RetentionMonths:   months,
				Controller: compliance.Controller{
					Name: e.getenv("SEALROOM_CONTROLLER_NAME"), Contact: e.getenv("SEALROOM_CONTROLLER_CONTACT"),
				},
			}, period)
			if err != nil {
				return err
			}
			w := e.stdout
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			switch format {
			case "html":
				return rep.WriteHTML(w)
			case "json":
				return rep.WriteJSON(w)
			}
			return fmt.Errorf("--format: want html or json, not %q", format)
		},
	}
	fs := cmd.Flags()
	c.flags(fs, e)
	fs.StringVar(&format, "format", "html", "html or json")
	fs.StringVar(&out, "out", "", "write to this file instead of standard output")
	fs.DurationVar(&period, "period", 30*24*time.Hour, "how far back event counts (break-glass uses) reach")
	fs.DurationVar(&idle, "idle-timeout", envDuration(e, "SEALROOM_IDLE_TIMEOUT", 15*time.Minute), "the idle timeout the servers run with (env SEALROOM_IDLE_TIMEOUT)")
	fs.StringVar(&pubFile, "public-key", "", "PEM file with the audit public key (default: the configured signing key's)")
	return cmd
}

func newRecordOfProcessingCmd(e *env) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "record-of-processing",
		Short: "Print the GDPR Art. 30 record of processing activities",
		Long: "Renders the record from the data map compiled into this binary. The controller comes from\n" +
			"SEALROOM_CONTROLLER_NAME, SEALROOM_CONTROLLER_CONTACT and SEALROOM_DPO_CONTACT; what is missing\n" +
			"is listed under Gaps.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			m, err := compliance.LoadDataMap()
			if err != nil {
				return err
			}
			r := compliance.RecordOfProcessing(m, compliance.Controller{
				Name:    e.getenv("SEALROOM_CONTROLLER_NAME"),
				Contact: e.getenv("SEALROOM_CONTROLLER_CONTACT"),
				DPO:     e.getenv("SEALROOM_DPO_CONTACT"),
			})
			switch format {
			case "markdown", "md":
				return r.WriteMarkdown(e.stdout)
			case "json":
				return r.WriteJSON(e.stdout)
			}
			return fmt.Errorf("--format: want markdown or json, not %q", format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "markdown", "markdown or json")
	return cmd
}

// newSubjectCmd is `compliance export` (GDPR Art. 15/20) or `compliance erase` (Art. 17)
// for one subject, run by an identified operator.
func newSubjectCmd(e *env, action string) *cobra.Command {
	var (
		c       common
		subject string
		as      string
	)
	short := "Export everything held about a subject as JSON (GDPR Art. 15/20)"
	if action == "erase" {
		short = "Erase a subject: delete its data, crypto-shred its audit key (GDPR Art. 17)"
	}
	cmd := &cobra.Command{
		Use:   action,
		Short: short,
		Long: short + ".\nThe operator named by --as is recorded as the actor in the audit log; a legal hold on the\n" +
			"subject refuses erasure.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if subject == "" || as == "" {
				return fmt.Errorf("--subject and --as are required")
			}
			ctx := cmd.Context()
			log := e.logger()
			pool, err := c.connect(ctx, e, log)
			if err != nil {
				return err
			}
			defer pool.Close()
			al, err := c.openAudit(ctx, e, log, pool, "audit-spool-cli")
			if err != nil {
				return err
			}
			defer al.Close()
			m, err := compliance.LoadDataMap()
			if err != nil {
				return err
			}
			subs := compliance.NewSubjects(pool, al, m)
			by := audit.Caller{Actor: as, Role: audit.RoleAdmin, RequestID: "cli"}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if action == "erase" {
				res, err := subs.Erase(ctx, by, subject)
				if err != nil {
					return err
				}
				return enc.Encode(res)
			}
			exp, err := subs.Export(ctx, by, subject)
			if err != nil {
				return err
			}
			return enc.Encode(exp)
		},
	}
	fs := cmd.Flags()
	c.flags(fs, e)
	fs.StringVar(&subject, "subject", "", "the data subject's user id")
	fs.StringVar(&as, "as", "", "your own user id, recorded as the actor")
	return cmd
}
