package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/server/auth"
)

func newTokenCmd(e *env) *cobra.Command {
	var (
		c         common
		g         auth.Grant
		role      string
		ttl       time.Duration
		publish   string
		subscribe bool
	)
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Mint an access token (JWT, EdDSA) with a room grant",
		Long: "Prints a token signed with the server's token key (SEALROOM_TOKEN_KEY_FILE, SEALROOM_TOKEN_KEY,\n" +
			"or the development key under the data folder). Roles: host, clinician, participant, observer.",
		Example: "  sealroom token --room demo --identity alice --name Alice --role clinician --ttl 1h",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.Identity == "" {
				return errors.New("--identity is required")
			}
			g.Role = auth.Role(role)
			if g.Room == "" {
				g.Role = ""
			}
			switch publish {
			case "auto":
				g.CanPublish = g.Room != "" && g.Role != auth.RoleObserver
			case "true":
				g.CanPublish = true
			case "false":
				g.CanPublish = false
			default:
				return fmt.Errorf("--publish: want auto, true or false")
			}
			g.CanSubscribe = subscribe && g.Room != ""
			key, err := c.signingKey(e, e.logger())
			if err != nil {
				return err
			}
			token, jti, err := auth.NewSigner(key, c.issuer, c.audience).Mint(g, ttl)
			if err != nil {
				return err
			}
			if err := c.auditMint(cmd.Context(), e, g, jti, ttl); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, token)
			return nil
		},
	}
	fs := cmd.Flags()
	c.flags(fs, e)
	fs.StringVar(&g.Room, "room", "", "room the token grants access to")
	fs.StringVar(&g.Identity, "identity", "", "stable user id (becomes sub)")
	fs.StringVar(&g.Name, "name", "", "display name")
	fs.StringVar(&role, "role", string(auth.RoleParticipant), "host, clinician, participant or observer")
	fs.DurationVar(&ttl, "ttl", time.Hour, fmt.Sprintf("lifetime, at most %s", auth.MaxTTL))
	fs.StringVar(&publish, "publish", "auto", "may publish media: auto (all roles but observer), true or false")
	fs.BoolVar(&subscribe, "subscribe", true, "may receive media")
	fs.BoolVar(&g.Admin, "admin", false, "grant administrative API access")
	fs.BoolVar(&g.Auditor, "auditor", false, "grant read access to the audit log")
	fs.StringSliceVar(&g.AMR, "amr", nil, "authentication methods to assert (RFC 8176), e.g. pwd,otp; only when you verified them")
	return cmd
}

// auditMint records the mint before the token is shown (fail closed). Without a database
// (no DATABASE_URL and no --dev) there is no audit log to write to; the mint goes ahead
// with a warning, because whoever holds the signing key can mint tokens without this
// command anyway.
func (c *common) auditMint(ctx context.Context, e *env, g auth.Grant, jti string, ttl time.Duration) error {
	log := e.logger()
	if e.getenv("DATABASE_URL") == "" && !c.dev {
		fmt.Fprintln(e.stderr, "warning: no database configured (DATABASE_URL or --dev): this mint is not audited")
		return nil
	}
	pool, err := c.connect(ctx, e, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	l, err := c.openAudit(ctx, e, log, pool, "audit-spool-cli")
	if err != nil {
		return err
	}
	defer l.Close()
	return l.Record(ctx, audit.Event{
		Actor: "service:cli", Action: audit.ActionTokenMinted, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: audit.TargetToken, ID: jti}, Room: g.Room, Subject: g.Identity,
		Details: map[string]string{
			"identity": g.Identity, "role": string(g.Role), "ttl": ttl.String(),
			"can_publish": fmt.Sprint(g.CanPublish), "can_subscribe": fmt.Sprint(g.CanSubscribe),
			"admin": fmt.Sprint(g.Admin), "auditor": fmt.Sprint(g.Auditor),
		},
		Personal: audit.Personal{Name: g.Name},
	})
}
