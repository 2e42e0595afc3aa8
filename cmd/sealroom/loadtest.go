package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealroom/sealroom/media/loadtest"
)

func newLoadtestCmd(e *env) *cobra.Command {
	var (
		scenarios string
		duration  time.Duration
		rate      int
		size      int
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "loadtest",
		Short: "Measure the SFU against a bare UDP forwarder on loopback",
		Long: "For each scenario of N publishers x M subscribers, runs the SFU and then a bare UDP forwarder\n" +
			"(receive, copy to each subscriber, send) in a child process and reports server CPU time per\n" +
			"forwarded packet, loss and p50/p99 forwarding delay for both, and their ratios. Loopback only.",
		Example: "  sealroom loadtest --scenarios 2x20,10x10 --duration 3s",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, sc := range strings.Split(scenarios, ",") {
				var n, m int
				if _, err := fmt.Sscanf(sc, "%dx%d", &n, &m); err != nil {
					return fmt.Errorf("scenario %q: want PUBLISHERSxSUBSCRIBERS", sc)
				}
				rep, err := loadtest.Run(cmd.Context(), loadtest.Config{Publishers: n, Subscribers: m,
					Duration: duration, PacketRate: rate, PayloadSize: size})
				if err != nil {
					return err
				}
				if asJSON {
					if err := json.NewEncoder(e.stdout).Encode(rep); err != nil {
						return err
					}
					continue
				}
				fmt.Fprint(e.stdout, rep.String())
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&scenarios, "scenarios", "2x20,10x10", "comma-separated PUBLISHERSxSUBSCRIBERS")
	fs.DurationVar(&duration, "duration", 3*time.Second, "measured window per server")
	fs.IntVar(&rate, "rate", 100, "packets/s per publisher")
	fs.IntVar(&size, "size", 1000, "payload bytes")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
