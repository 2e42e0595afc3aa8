package server

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics live in a registry of the server's own, not the global default one, so two
// servers in one test process don't collide.
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	idsDropped   prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealroom_http_requests_total", Help: "HTTP requests by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sealroom_http_request_duration_seconds", Help: "HTTP request latency by route template.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealroom_auth_failures_total", Help: "Rejected bearer tokens by reason.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealroom_rate_limited_total", Help: "Requests refused with 429, by limiter scope.",
		}, []string{"scope"}),
		idsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealroom_identity_records_dropped_total", Help: "Identity sightings not recorded because the queue was full.",
		}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.authFailures, m.rateLimited, m.idsDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// collected is a part of the process that exports its own metrics (the Delivery
// Service does; a test double of Rooms need not).
type collected interface{ Collector() prometheus.Collector }

// registerParts adds the collectors of the parts in deps (SFU, TURN, audit log,
// Delivery Service). They read their figures when scraped, so nothing is counted
// twice and the parts need no registry of their own.
func (m *metrics) registerParts(deps Deps) error {
	var cs []prometheus.Collector
	if deps.Media != nil {
		cs = append(cs, deps.Media.Collector())
	}
	if deps.TURN != nil {
		cs = append(cs, deps.TURN.Collector())
	}
	if deps.Audit != nil {
		cs = append(cs, deps.Audit.Collector())
	}
	if r, ok := deps.Rooms.(collected); ok {
		cs = append(cs, r.Collector())
	}
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("server: metrics: %w", err)
		}
	}
	return nil
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched" // keeps label cardinality bounded under path scans
		}
		m.requests.WithLabelValues(route, c.Request().Method, strconv.Itoa(c.Response().Status)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		return nil
	}
}
