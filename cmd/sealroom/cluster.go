package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealroom/sealroom/cluster"
)

func newClusterCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "The nodes sharing this database, their leases, and where each room lives",
	}
	cmd.AddCommand(newClusterStatusCmd(e))
	return cmd
}

func newClusterStatusCmd(e *env) *cobra.Command {
	var (
		c      common
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the nodes (lease, load, draining) and the rooms' placements",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, err := c.connect(ctx, e, e.logger())
			if err != nil {
				return err
			}
			defer pool.Close()
			st, err := cluster.ReadStatus(ctx, pool)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NODE\tSTATE\tLEASE\tPARTICIPANTS\tROOMS\tAPI\tMEDIA")
			now := time.Now()
			for _, n := range st.Nodes {
				state := "live"
				switch {
				case !n.Live && n.Draining:
					state = "left" // drained and exited
				case !n.Live:
					state = "dead"
				case n.Draining:
					state = "draining"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", n.ID, state, leaseText(n.LeaseUntil.Sub(now)),
					n.Load, n.Rooms, n.APIURL, n.MediaAddr)
			}
			fmt.Fprintln(w, "\nROOM\tNODE\tPLACED\tMOVES\tSESSIONS")
			for _, r := range st.Rooms {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\n", r.Room, r.Node, r.PlacedAt.UTC().Format(time.RFC3339), r.Generation-1, r.Sessions)
			}
			return w.Flush()
		},
	}
	c.flags(cmd.Flags(), e)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func leaseText(d time.Duration) string {
	if d < 0 {
		return "lapsed " + (-d).Round(time.Second).String() + " ago"
	}
	return d.Round(100*time.Millisecond).String() + " left"
}
