package keyservice

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Delivery Service's commit counters. They are the service's own;
// the server registers them through Collector, so the package needs no registry.
type metrics struct {
	accepted prometheus.Counter
	rejected *prometheus.CounterVec
	latency  prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealroom_ds_commits_accepted_total", Help: "MLS commits accepted (each moved a room to its next epoch).",
		}),
		// Codes are the signaling package's constants: a bounded label set.
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealroom_ds_commits_rejected_total", Help: "MLS commits refused, by signaling error code (stale_epoch is a lost race, not a fault).",
		}, []string{"code"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sealroom_ds_epoch_commit_latency_seconds",
			Help: "From the Delivery Service asking the designated member for a commit (commit_needed; after a fallback, " +
				"the latest designation) to the commit accepted. Commits nobody was asked for are not observed.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12), // 5 ms .. 10 s: past CommitTimeout's fallbacks
		}),
	}
}

// Collector exposes the commit counters and the epoch commit latency to Prometheus.
func (s *Service) Collector() prometheus.Collector { return s.metrics }

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.accepted.Describe(ch)
	m.rejected.Describe(ch)
	m.latency.Describe(ch)
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.accepted.Collect(ch)
	m.rejected.Collect(ch)
	m.latency.Collect(ch)
}

// committed counts an accepted commit; asked is when its committer was designated,
// zero if nobody was asked.
func (m *metrics) committed(asked, now time.Time) {
	m.accepted.Inc()
	if !asked.IsZero() {
		m.latency.Observe(max(0, now.Sub(asked).Seconds()))
	}
}
