package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"shopwatch/db"
)

// SpoolState reports the local spool in front of MinIO: objects and
// bytes not yet uploaded.
type SpoolState func() (objects int, bytes int64, err error)

// metrics are the server's Prometheus metrics (GET /metrics).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shopwatch_api_requests_total",
		Help: "API requests answered, by route and status code."}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "shopwatch_api_request_seconds",
		Help: "Time to answer an API request, by route.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}, []string{"route"})
	m.reg.MustRegister(m.requests, m.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &stateCollector{s: s})
	return m
}

// observe counts one answered request.
func (m *metrics) observe(route string, code int, took time.Duration) {
	if route == "" {
		route = "none"
	}
	m.requests.WithLabelValues(route, http.StatusText(code)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
}

// stateCollector reads the database's state at each scrape: rows, the
// visit queue and the sweeps, and the spool.
type stateCollector struct{ s *Server }

var (
	descRows   = prometheus.NewDesc("shopwatch_rows", "Rows of the database's main tables.", []string{"table"}, nil)
	descVisits = prometheus.NewDesc("shopwatch_visits", "Visits of every sweep, by state (pending and leased: the queue).", []string{"state"}, nil)
	descFound  = prometheus.NewDesc("shopwatch_sweep_findings", "Findings the sweeps recorded (sightings, summed over sweeps).", nil, nil)
	descSweeps = prometheus.NewDesc("shopwatch_sweeps", "Sweeps by state.", []string{"state"}, nil)
	descSpool  = prometheus.NewDesc("shopwatch_spool", "The local spool in front of MinIO: objects and bytes not yet uploaded.", []string{"unit"}, nil)
	descUp     = prometheus.NewDesc("shopwatch_state_up", "1 when the database's state could be read at this scrape.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRows, descVisits, descFound, descSweeps, descSpool, descUp} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	up := 1.0
	defer func() { ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up) }()
	s := c.s
	n, err := s.db.Count(ctx)
	if err != nil {
		up = 0
		return
	}
	for table, v := range map[string]int{"targets": n.Targets, "findings": n.Findings, "evidence": n.Evidence, "audit": n.Audit, "users": n.Users} {
		ch <- prometheus.MustNewConstMetric(descRows, prometheus.GaugeValue, float64(v), table)
	}
	sweeps, err := s.db.ListSweeps(ctx)
	if err != nil {
		up = 0
		return
	}
	var total db.Stats
	states := map[string]int{SweepQueued: 0, SweepRunning: 0, SweepFinished: 0, SweepFailed: 0, SweepInterrupted: 0}
	for _, sw := range sweeps {
		st, err := s.status(ctx, sw)
		if err != nil {
			up = 0
			return
		}
		states[st.State]++
		total.Pending += st.Stats.Pending
		total.Leased += st.Stats.Leased
		total.Done += st.Stats.Done
		total.Failed += st.Stats.Failed
		total.Findings += st.Stats.Findings
	}
	for state, v := range map[string]int{"pending": total.Pending, "leased": total.Leased, "done": total.Done, "failed": total.Failed} {
		ch <- prometheus.MustNewConstMetric(descVisits, prometheus.GaugeValue, float64(v), state)
	}
	ch <- prometheus.MustNewConstMetric(descFound, prometheus.GaugeValue, float64(total.Findings))
	for state, v := range states {
		ch <- prometheus.MustNewConstMetric(descSweeps, prometheus.GaugeValue, float64(v), state)
	}
	if s.opts.Spool != nil {
		if objects, bytes, err := s.opts.Spool(); err == nil {
			ch <- prometheus.MustNewConstMetric(descSpool, prometheus.GaugeValue, float64(objects), "objects")
			ch <- prometheus.MustNewConstMetric(descSpool, prometheus.GaugeValue, float64(bytes), "bytes")
		} else {
			up = 0
		}
	}
}
