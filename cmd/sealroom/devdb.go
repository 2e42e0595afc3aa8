package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sealroom/sealroom/migrations/localpg"
)

func newDevDBCmd(e *env) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "devdb [start|stop|url]",
		Short: "Manage the throwaway local Postgres used by make run and make test",
		Long: "start creates and starts the cluster and prints the sealroom database's URL, stop stops it,\n" +
			"url prints the URL without starting anything. Never use this cluster for real data.",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"start", "stop", "url"},
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := localpg.Open(dataDir)
			if err != nil {
				return err
			}
			switch args[0] {
			case "start":
				u, err := cl.Ensure(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, u)
			case "stop":
				return cl.Stop(cmd.Context())
			case "url":
				fmt.Fprintln(e.stdout, cl.URL(localpg.Database))
			default:
				return fmt.Errorf("unknown action %q: want start, stop or url", args[0])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", e.getenvOr("SEALROOM_DATA", ".data"), "data folder (env SEALROOM_DATA)")
	return cmd
}
