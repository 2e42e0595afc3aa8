package loadtest

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Config is one load scenario: Publishers each send a camera and a
// microphone (see traffic.go), Subscribers each receive every publisher.
type Config struct {
	Publishers  int           // N, each sending one video and one audio track
	Subscribers int           // M, each receiving every publisher
	Duration    time.Duration // measured window (default 3 s, at most 60 s)
	Warmup      time.Duration // traffic before the window (default 1 s, at most 30 s)
	// VideoBitrate is each publisher's (top) video layer in bits/s,
	// default 2 Mbit/s (720p-like), 0.3..8 Mbit/s.
	VideoBitrate int
	// Simulcast sends three video layers (full, 1/4 and 1/16 of
	// VideoBitrate); subscribers are expected to receive the top one.
	Simulcast bool
	// Command starts the child; default: this executable. The child must
	// call ChildMain when IsChild is true.
	Command []string
	// SkipBare skips the bare forwarder baseline; SkipSFU skips the SFU
	// (to find the largest scenario the bare forwarder carries).
	SkipBare, SkipSFU bool
}

func (c Config) withDefaults() (Config, error) {
	if c.Publishers <= 0 || c.Subscribers <= 0 || c.Publishers > 100 || c.Subscribers > 500 {
		return c, fmt.Errorf("%w: publishers 1..100, subscribers 1..500", ErrConfig)
	}
	if c.SkipBare && c.SkipSFU {
		return c, fmt.Errorf("%w: nothing to measure", ErrConfig)
	}
	if c.Duration <= 0 {
		c.Duration = 3 * time.Second
	}
	if c.Warmup <= 0 {
		c.Warmup = time.Second
	}
	if c.Duration > time.Minute || c.Warmup > 30*time.Second {
		return c, fmt.Errorf("%w: duration at most 60 s, warmup at most 30 s", ErrConfig)
	}
	if c.VideoBitrate == 0 {
		c.VideoBitrate = defaultBitrate
	}
	if c.VideoBitrate < minVideoBitrate || c.VideoBitrate > maxVideoBitrate {
		return c, fmt.Errorf("%w: video bitrate %d..%d bits/s", ErrConfig, minVideoBitrate, maxVideoBitrate)
	}
	if len(c.Command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		c.Command = []string{exe}
	}
	return c, nil
}

// timeout bounds a whole Run: two servers, each with setup, warmup,
// window and drain.
func (c Config) timeout() time.Duration {
	return 2 * (setupTimeout + c.Warmup + c.Duration + drain + slack)
}

// Traffic is what each publisher sent inside the window, on average.
type Traffic struct {
	PacketsPerSec        float64 `json:"packets_per_sec"`         // all streams
	Bitrate              float64 `json:"bitrate"`                 // RTP payload bits/s, all streams
	Packets              uint64  `json:"packets"`                 // all publishers, all streams
	VideoPackets         uint64  `json:"video_packets"`           // all publishers, all layers
	VideoPacketsPerFrame float64 `json:"video_packets_per_frame"` // summed over layers
}

// Result is what one server (SFU or bare forwarder) did in the window.
type Result struct {
	Server      string        `json:"server"`     // "sfu" or "bare"
	Sent        uint64        `json:"sent"`       // packets sent on the streams subscribers receive
	Expected    uint64        `json:"expected"`   // Sent × subscribers
	Received    uint64        `json:"received"`   // distinct packets received
	Loss        float64       `json:"loss"`       // 1 - Received/Expected
	Forwarded   uint64        `json:"forwarded"`  // as counted by the server
	ServerCPU   time.Duration `json:"server_cpu"` // user+system of the child
	CPUPerPktUs float64       `json:"cpu_per_packet_us"`
	DelayP50    time.Duration `json:"delay_p50"`
	DelayP99    time.Duration `json:"delay_p99"`
	MaxRSS      uint64        `json:"max_rss_bytes"` // the child's peak resident set

	traffic      Traffic
	unattributed uint64
}

// Report compares the SFU with the bare forwarder for one Config.
type Report struct {
	Publishers  int     `json:"publishers"`
	Subscribers int     `json:"subscribers"`
	Simulcast   bool    `json:"simulcast,omitempty"`
	Traffic     Traffic `json:"traffic"`
	SFU         Result  `json:"sfu"`
	Bare        *Result `json:"bare,omitempty"`
	// CPURatio is SFU CPU per packet over bare CPU per packet.
	CPURatio float64 `json:"cpu_ratio,omitempty"`
	// DelayP50Ratio and DelayP99Ratio compare forwarding delays.
	DelayP50Ratio float64 `json:"delay_p50_ratio,omitempty"`
	DelayP99Ratio float64 `json:"delay_p99_ratio,omitempty"`
}

// Scenario names the report's shape, "NxM".
func (r Report) Scenario() string {
	s := fmt.Sprintf("%dx%d", r.Publishers, r.Subscribers)
	if r.Simulcast {
		s += " simulcast"
	}
	return s
}

func (r Result) line() string {
	return fmt.Sprintf("%-4s sent %6d  recv %8d/%-8d loss %6.3f%%  fwd %8d  cpu %7.1fms  %5.2f us/pkt  delay p50 %7s p99 %7s  rss %4d MB",
		r.Server, r.Sent, r.Received, r.Expected, 100*r.Loss, r.Forwarded,
		float64(r.ServerCPU)/1e6, r.CPUPerPktUs, r.DelayP50.Round(time.Microsecond), r.DelayP99.Round(time.Microsecond),
		r.MaxRSS>>20)
}

// String renders the report as a few aligned lines.
func (r Report) String() string {
	var b strings.Builder
	simulcast := ""
	if r.Simulcast {
		simulcast = " (simulcast)"
	}
	fmt.Fprintf(&b, "%d publishers x %d subscribers%s: each publisher %.0f pkt/s, %.2f Mbit/s, %.1f video pkt/frame\n",
		r.Publishers, r.Subscribers, simulcast, r.Traffic.PacketsPerSec, r.Traffic.Bitrate/1e6, r.Traffic.VideoPacketsPerFrame)
	if r.SFU.Server != "" {
		fmt.Fprintf(&b, "  %s\n", r.SFU.line())
	}
	if r.Bare != nil {
		fmt.Fprintf(&b, "  %s\n", r.Bare.line())
	}
	if r.CPURatio > 0 {
		fmt.Fprintf(&b, "  ratio sfu/bare: cpu/pkt %.2fx  delay p50 %.2fx  p99 %.2fx\n", r.CPURatio, r.DelayP50Ratio, r.DelayP99Ratio)
	}
	return b.String()
}

// Summary is the median of several runs of one scenario.
type Summary struct {
	Scenario string `json:"scenario"`
	Runs     int    `json:"runs"`
	// Median over the runs of each figure (each figure on its own, so
	// the medians need not come from one run).
	SFUCPUPerPktUs  float64       `json:"sfu_cpu_per_packet_us"`
	BareCPUPerPktUs float64       `json:"bare_cpu_per_packet_us"`
	CPURatio        float64       `json:"cpu_ratio"`
	SFULoss         float64       `json:"sfu_loss"` // the worst run's, not the median
	BareLoss        float64       `json:"bare_loss"`
	SFUDelayP50     time.Duration `json:"sfu_delay_p50"`
	SFUDelayP99     time.Duration `json:"sfu_delay_p99"`
	BareDelayP50    time.Duration `json:"bare_delay_p50"`
	BareDelayP99    time.Duration `json:"bare_delay_p99"`
	SFUMaxRSS       uint64        `json:"sfu_max_rss_bytes"`
	BareMaxRSS      uint64        `json:"bare_max_rss_bytes"`
	Ratios          []float64     `json:"cpu_ratios"` // every run's, in run order
}

func median[T int64 | float64 | uint64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Summarize takes the median of each figure over runs of one scenario;
// loss is the worst run's, so that "0 loss" means no run lost a packet.
func Summarize(runs []Report) Summary {
	if len(runs) == 0 {
		return Summary{}
	}
	s := Summary{Scenario: runs[0].Scenario(), Runs: len(runs)}
	var sc, bc, rt []float64
	var sp50, sp99, bp50, bp99 []time.Duration
	var srss, brss []uint64
	for _, r := range runs {
		if r.SFU.Server != "" {
			sc = append(sc, r.SFU.CPUPerPktUs)
			sp50, sp99 = append(sp50, r.SFU.DelayP50), append(sp99, r.SFU.DelayP99)
			srss = append(srss, r.SFU.MaxRSS)
			s.SFULoss = max(s.SFULoss, r.SFU.Loss)
		}
		if r.Bare != nil {
			bc = append(bc, r.Bare.CPUPerPktUs)
			bp50, bp99 = append(bp50, r.Bare.DelayP50), append(bp99, r.Bare.DelayP99)
			brss = append(brss, r.Bare.MaxRSS)
			s.BareLoss = max(s.BareLoss, r.Bare.Loss)
		}
		if r.CPURatio > 0 {
			rt = append(rt, r.CPURatio)
		}
	}
	s.SFUCPUPerPktUs, s.BareCPUPerPktUs, s.CPURatio = median(sc), median(bc), median(rt)
	s.SFUDelayP50, s.SFUDelayP99 = median(sp50), median(sp99)
	s.BareDelayP50, s.BareDelayP99 = median(bp50), median(bp99)
	s.SFUMaxRSS, s.BareMaxRSS = median(srss), median(brss)
	s.Ratios = rt
	return s
}

// SummaryTable renders summaries as a Markdown table.
func SummaryTable(ss []Summary) string {
	var b strings.Builder
	b.WriteString("| scenario | runs | SFU µs/pkt | bare µs/pkt | ratio (median) | ratios | loss SFU / bare (worst) | SFU p50 / p99 | bare p50 / p99 | RSS SFU / bare |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range ss {
		rs := make([]string, len(s.Ratios))
		for i, r := range s.Ratios {
			rs[i] = fmt.Sprintf("%.2f", r)
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.2fx | %s | %.3f%% / %.3f%% | %s / %s | %s / %s | %d / %d MB |\n",
			s.Scenario, s.Runs, s.SFUCPUPerPktUs, s.BareCPUPerPktUs, s.CPURatio, strings.Join(rs, " "),
			100*s.SFULoss, 100*s.BareLoss,
			s.SFUDelayP50.Round(time.Microsecond), s.SFUDelayP99.Round(time.Microsecond),
			s.BareDelayP50.Round(time.Microsecond), s.BareDelayP99.Round(time.Microsecond),
			s.SFUMaxRSS>>20, s.BareMaxRSS>>20)
	}
	return b.String()
}
