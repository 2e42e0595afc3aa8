package audit

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes the spool and checkpoint figures of Stats to Prometheus,
// read when scraped.
func (l *Log) Collector() prometheus.Collector { return collector{l} }

var (
	descSpoolDepth = prometheus.NewDesc("sealroom_audit_spool_events",
		"Audit events in this process's local spool, waiting for Postgres.", nil, nil)
	descCheckpointAge = prometheus.NewDesc("sealroom_audit_checkpoint_age_seconds",
		"Seconds since the audit chain's newest signed checkpoint, as of this process's last audit transaction. "+
			"An idle chain signs nothing new, so read it with sealroom_audit_unsigned_events.", nil, nil)
	descUnsigned = prometheus.NewDesc("sealroom_audit_unsigned_events",
		"Audit events chained after the newest checkpoint, as of this process's last audit transaction.", nil, nil)
)

type collector struct{ l *Log }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSpoolDepth
	ch <- descCheckpointAge
	ch <- descUnsigned
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.l.Stats()
	ch <- prometheus.MustNewConstMetric(descSpoolDepth, prometheus.GaugeValue, float64(s.SpoolDepth))
	if s.CheckpointAt.IsZero() {
		return // no transaction yet: no age to tell, rather than a made-up one
	}
	ch <- prometheus.MustNewConstMetric(descCheckpointAge, prometheus.GaugeValue, max(0, c.l.now().Sub(s.CheckpointAt).Seconds()))
	ch <- prometheus.MustNewConstMetric(descUnsigned, prometheus.GaugeValue, float64(s.Unsigned))
}
