package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

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
			token, _, err := auth.NewSigner(key, c.issuer, c.audience).Mint(g, ttl)
			if err != nil {
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
	return cmd
}
