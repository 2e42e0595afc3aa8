package loadtest

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is one load scenario.
type Config struct {
	Publishers  int           // N, each sending one video track
	Subscribers int           // M, each receiving every publisher
	Duration    time.Duration // measured window (default 3 s)
	Warmup      time.Duration // traffic before the window (default 1 s)
	PacketRate  int           // packets/s per publisher (default 100)
	PayloadSize int           // RTP payload bytes (default 1000)
	// Command starts the child; default: this executable. The child must
	// call ChildMain when IsChild is true.
	Command []string
	// SkipBare skips the bare forwarder baseline.
	SkipBare bool
}

func (c Config) withDefaults() (Config, error) {
	if c.Publishers <= 0 || c.Subscribers <= 0 || c.Publishers > 100 || c.Subscribers > 500 {
		return c, fmt.Errorf("%w: publishers 1..100, subscribers 1..500", ErrConfig)
	}
	if c.Duration <= 0 {
		c.Duration = 3 * time.Second
	}
	if c.Warmup <= 0 {
		c.Warmup = time.Second
	}
	if c.PacketRate <= 0 {
		c.PacketRate = 100
	}
	if c.PayloadSize <= 0 {
		c.PayloadSize = 1000
	}
	if c.PayloadSize < payloadHeaderLen || c.PayloadSize > 1200 {
		return c, fmt.Errorf("%w: payload size %d..1200", ErrConfig, payloadHeaderLen)
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

// Result is what one server (SFU or bare forwarder) did in the window.
type Result struct {
	Server      string        `json:"server"`     // "sfu" or "bare"
	Sent        uint64        `json:"sent"`       // packets sent by publishers
	Expected    uint64        `json:"expected"`   // Sent × subscribers
	Received    uint64        `json:"received"`   // distinct packets received
	Loss        float64       `json:"loss"`       // 1 - Received/Expected
	Forwarded   uint64        `json:"forwarded"`  // as counted by the server
	ServerCPU   time.Duration `json:"server_cpu"` // user+system of the child
	CPUPerPktUs float64       `json:"cpu_per_packet_us"`
	DelayP50    time.Duration `json:"delay_p50"`
	DelayP99    time.Duration `json:"delay_p99"`
}

// Report compares the SFU with the bare forwarder for one Config.
type Report struct {
	Publishers  int     `json:"publishers"`
	Subscribers int     `json:"subscribers"`
	SFU         Result  `json:"sfu"`
	Bare        *Result `json:"bare,omitempty"`
	// CPURatio is SFU CPU per packet over bare CPU per packet.
	CPURatio float64 `json:"cpu_ratio,omitempty"`
	// DelayP50Ratio and DelayP99Ratio compare forwarding delays.
	DelayP50Ratio float64 `json:"delay_p50_ratio,omitempty"`
	DelayP99Ratio float64 `json:"delay_p99_ratio,omitempty"`
}

func (r Result) line() string {
	return fmt.Sprintf("%-4s sent %6d  recv %7d/%-7d loss %6.3f%%  fwd %7d  cpu %7.1fms  %5.2f us/pkt  delay p50 %7s p99 %7s",
		r.Server, r.Sent, r.Received, r.Expected, 100*r.Loss, r.Forwarded,
		float64(r.ServerCPU)/1e6, r.CPUPerPktUs, r.DelayP50.Round(time.Microsecond), r.DelayP99.Round(time.Microsecond))
}

// String renders the report as a few aligned lines.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d publishers x %d subscribers\n  %s\n", r.Publishers, r.Subscribers, r.SFU.line())
	if r.Bare != nil {
		fmt.Fprintf(&b, "  %s\n  ratio sfu/bare: cpu/pkt %.2fx  delay p50 %.2fx  p99 %.2fx\n",
			r.Bare.line(), r.CPURatio, r.DelayP50Ratio, r.DelayP99Ratio)
	}
	return b.String()
}
