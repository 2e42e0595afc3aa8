package media

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealroom/sealroom/server/servertest/poll"
)

// sample is the value of the series name{label="value"} (label "" for a series
// without labels) in what reg gathers, and whether it was there.
func sample(t *testing.T, reg *prometheus.Registry, name, value string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if (value == "") != (len(m.GetLabel()) == 0) || (value != "" && m.GetLabel()[0].GetValue() != value) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// The collector reports the SFU's load and its drops by reason as they happen:
// a joined participant shows in the gauges, and RTP from an address bound to
// no transport is counted under unbound_transport.
func TestCollectorMoves(t *testing.T) {
	s := newTestSFU(t, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collector())
	for _, name := range []string{"sealroom_sfu_participants", "sealroom_sfu_rooms", "sealroom_sfu_tracks"} {
		if v, ok := sample(t, reg, name, ""); !ok || v != 0 {
			t.Fatalf("%s before any join: %v %v", name, v, ok)
		}
	}
	if v, ok := sample(t, reg, "sealroom_sfu_dropped_packets_total", "unbound_transport"); !ok || v != 0 {
		t.Fatalf("unbound drops before any packet: %v %v", v, ok)
	}

	joinClient(t, s, "r", "a", Grants{CanSubscribe: true})
	joinClient(t, s, "r", "b", Grants{CanSubscribe: true})
	if v, _ := sample(t, reg, "sealroom_sfu_participants", ""); v != 2 {
		t.Fatalf("participants: %v, want 2", v)
	}
	if v, _ := sample(t, reg, "sealroom_sfu_rooms", ""); v != 1 {
		t.Fatalf("rooms: %v, want 1", v)
	}

	stray, err := net.DialUDP("udp4", nil, s.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	// UDP may lose a datagram even on loopback: send until one is counted.
	poll.Until(t, 5*time.Second, "an unbound RTP packet counted", func() bool {
		_, _ = stray.Write(rawRTP(1, 1, []byte{1}))
		v, _ := sample(t, reg, "sealroom_sfu_dropped_packets_total", "unbound_transport")
		return v >= 1
	})
	for _, reason := range []string{"unannounced_ssrc", "rate_limited", "malformed"} {
		if _, ok := sample(t, reg, "sealroom_sfu_dropped_packets_total", reason); !ok {
			t.Errorf("no series for drop reason %s", reason)
		}
	}
}
