package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sealroom/sealroom/migrations"
)

func newMigrateCmd(e *env) *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "migrate [up|down|status]",
		Short: "Apply, roll back or show the database migrations",
		Long: "up applies every pending migration (the default), down rolls back the latest one\n" +
			"(or everything above --to), status prints the current and newest version.",
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"up", "down", "status"},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			log := e.logger()
			pool, err := c.connect(ctx, e, log)
			if err != nil {
				return err
			}
			defer pool.Close()
			m, err := migrations.New(pool, nil)
			if err != nil {
				return err
			}
			defer m.Close()
			action := "up"
			if len(args) == 1 {
				action = args[0]
			}
			switch action {
			case "up":
				applied, err := m.Up(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "applied %d migration(s): %v\n", len(applied), applied)
			case "down":
				to, _ := cmd.Flags().GetInt64("to")
				if to >= 0 {
					undone, err := m.DownTo(ctx, to)
					if err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "rolled back %d migration(s): %v\n", len(undone), undone)
					return nil
				}
				v, err := m.Down(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "rolled back migration %d\n", v)
			case "status":
				cur, target, err := m.Versions(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "current version %d, newest %d\n", cur, target)
			default:
				return fmt.Errorf("unknown action %q: want up, down or status", action)
			}
			return nil
		},
	}
	c.flags(cmd.Flags(), e)
	cmd.Flags().Int64("to", -1, "with down: roll back every migration above this version (0 = all)")
	return cmd
}
