package turn

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes the relay's allocations and refused permissions to
// Prometheus, read when scraped.
func (s *Server) Collector() prometheus.Collector { return collector{s} }

var (
	descAllocationsTotal = prometheus.NewDesc("sealroom_turn_allocations_total", "UDP relays allocated.", nil, nil)
	descAllocations      = prometheus.NewDesc("sealroom_turn_allocations", "UDP relays currently allocated.", nil, nil)
	descRefused          = prometheus.NewDesc("sealroom_turn_permissions_refused_total",
		"Permissions (CreatePermission, ChannelBind) refused because the relay policy does not let relays reach the peer.", nil, nil)
)

type collector struct{ s *Server }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descAllocationsTotal
	ch <- descAllocations
	ch <- descRefused
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descAllocationsTotal, prometheus.CounterValue, float64(c.s.gen.allocated.Load()))
	ch <- prometheus.MustNewConstMetric(descAllocations, prometheus.GaugeValue, float64(c.s.gen.count()))
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(c.s.refused.Load()))
}
