package turn

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealroom/sealroom/server/servertest/poll"
)

// counted is the value of the unlabelled series name in what reg gathers.
func counted(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s", name)
	return 0
}

// An allocation and a permission the relay policy refuses both show in the
// collector; closing the relay takes it off the live gauge, not the total.
func TestCollectorCountsAllocationsAndRefusals(t *testing.T) {
	s, addr := newTestServer(t, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collector())
	want := func(name string, v float64) {
		t.Helper()
		if got := counted(t, reg, name); got != v {
			t.Fatalf("%s = %v, want %v", name, got, v)
		}
	}
	want("sealroom_turn_allocations_total", 0)
	want("sealroom_turn_permissions_refused_total", 0)

	cl := turnClient(t, addr, mustCredentials(t, s, testGrant))
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	want("sealroom_turn_allocations_total", 1)
	want("sealroom_turn_allocations", 1)

	if err := cl.CreatePermission(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9}); err == nil {
		t.Fatal("permission to a private peer granted")
	}
	// The client resends a request not answered within its 100 ms RTO, and the server
	// refuses (and counts) each copy it reads: on a loaded machine, more than one.
	if got := counted(t, reg, "sealroom_turn_permissions_refused_total"); got < 1 {
		t.Fatalf("sealroom_turn_permissions_refused_total = %v, want at least 1", got)
	}

	// Closing the client's relay sends a zero-lifetime Refresh; the server deletes
	// the allocation, and its socket, after answering it.
	if err := relay.Close(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "the allocation gone from the gauge", func() bool {
		return counted(t, reg, "sealroom_turn_allocations") == 0
	})
	want("sealroom_turn_allocations_total", 1)
}
