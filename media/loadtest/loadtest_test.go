package loadtest

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if IsChild() {
		os.Exit(ChildMain())
	}
	os.Exit(m.Run())
}

// TestRunSmall runs a tiny scenario end to end: real pion peers through
// the SFU child, then the bare forwarder, and checks the report is whole.
// It asserts no timing: the figures depend on the machine.
func TestRunSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Publishers: 1, Subscribers: 2, Duration: 500 * time.Millisecond,
		Warmup: 300 * time.Millisecond, VideoBitrate: 500_000})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
	for _, r := range []Result{rep.SFU, *rep.Bare} {
		if r.Sent == 0 || r.Received == 0 || r.Forwarded == 0 || r.ServerCPU <= 0 || r.DelayP50 <= 0 {
			t.Fatalf("%s: incomplete result %+v", r.Server, r)
		}
		if r.Received > r.Expected {
			t.Fatalf("%s: received %d of %d expected", r.Server, r.Received, r.Expected)
		}
	}
	if rep.CPURatio <= 0 {
		t.Fatalf("no CPU ratio: %+v", rep)
	}
	// Both tracks flowed: video packets, and audio packets beside them.
	if tr := rep.Traffic; tr.VideoPackets == 0 || tr.Packets <= tr.VideoPackets || tr.Bitrate <= 0 {
		t.Fatalf("traffic %+v", tr)
	}
	if rep.SFU.MaxRSS == 0 || rep.Bare.MaxRSS == 0 {
		t.Fatalf("no RSS: %+v", rep)
	}
}

func TestConfigRejected(t *testing.T) {
	for _, c := range []Config{{}, {Publishers: 1}, {Publishers: 1, Subscribers: 1, VideoBitrate: 5},
		{Publishers: 1, Subscribers: 1, Duration: time.Hour}, {Publishers: 101, Subscribers: 1}} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Fatalf("config %+v accepted", c)
		}
	}
}
