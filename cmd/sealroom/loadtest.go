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
		warmup    time.Duration
		runs      int
		bitrate   int
		simulcast bool
		servers   string
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "loadtest",
		Short: "Measure the SFU against a bare UDP forwarder on loopback",
		Long: "For each scenario of N publishers x M subscribers, runs the SFU and then a bare UDP forwarder\n" +
			"(receive, copy to each subscriber, send) in a child process and reports server CPU time per\n" +
			"forwarded packet, loss, p50/p99 forwarding delay and peak RSS for both, and their ratios.\n" +
			"Each publisher sends what a camera and a microphone send: 720p-like VP8 (30 frames/s, several\n" +
			"packets per frame, a keyframe every 2 s) and Opus (50 packets/s), SFrame-encrypted like the\n" +
			"clients; --simulcast adds two lower layers. With --runs > 1 it ends with the median of each\n" +
			"figure per scenario. Loopback only; every run is bounded in time. See docs/loadtest.md.",
		Example: "  sealroom loadtest --scenarios 2x20,10x10 --runs 3\n" +
			"  sealroom loadtest --scenarios 1x50,25x25 --duration 5s --json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runs < 1 || runs > 20 {
				return fmt.Errorf("--runs: 1..20")
			}
			skipSFU, skipBare := !strings.Contains(servers, "sfu"), !strings.Contains(servers, "bare")
			var sums []loadtest.Summary
			for _, sc := range strings.Split(scenarios, ",") {
				var n, m int
				if _, err := fmt.Sscanf(sc, "%dx%d", &n, &m); err != nil {
					return fmt.Errorf("scenario %q: want PUBLISHERSxSUBSCRIBERS", sc)
				}
				var reps []loadtest.Report
				for range runs {
					rep, err := loadtest.Run(cmd.Context(), loadtest.Config{Publishers: n, Subscribers: m,
						Duration: duration, Warmup: warmup, VideoBitrate: bitrate, Simulcast: simulcast,
						SkipSFU: skipSFU, SkipBare: skipBare})
					if err != nil {
						return err
					}
					reps = append(reps, rep)
					if asJSON {
						if err := json.NewEncoder(e.stdout).Encode(rep); err != nil {
							return err
						}
						continue
					}
					fmt.Fprint(e.stdout, rep.String())
				}
				sums = append(sums, loadtest.Summarize(reps))
			}
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(sums)
			}
			fmt.Fprintf(e.stdout, "\nmedian of %d run(s) per scenario; loss is the worst run's:\n\n%s", runs, loadtest.SummaryTable(sums))
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&scenarios, "scenarios", "2x20,10x10", "comma-separated PUBLISHERSxSUBSCRIBERS")
	fs.DurationVar(&duration, "duration", 3*time.Second, "measured window per server (at most 60s)")
	fs.DurationVar(&warmup, "warmup", time.Second, "traffic before the window (at most 30s)")
	fs.IntVar(&runs, "runs", 1, "runs per scenario; the summary is their median")
	fs.IntVar(&bitrate, "bitrate", 2_000_000, "video bits/s per publisher (top layer)")
	fs.BoolVar(&simulcast, "simulcast", false, "three video layers per publisher")
	fs.StringVar(&servers, "servers", "sfu,bare", "which servers to measure: sfu, bare or both (the ratio needs both)")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
