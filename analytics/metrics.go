package analytics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rapport-crm/rapport/store"
)

type metrics struct {
	changes    *prometheus.CounterVec
	refresh    prometheus.Histogram
	runSeconds prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_analytics_changes_total", Help: "Stage and tier changes made by recomputes and sweeps (not those made inside an order's transaction), by field and new value; stage changes to active from at-risk or churned are also counted as won_back.",
		}, []string{"field", "to"}),
		refresh: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rapport_analytics_refresh_seconds", Help: "One touched customer's figures recomputed by the sweep.",
			Buckets: []float64{.001, .002, .005, .01, .025, .05, .1, .25},
		}),
		runSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rapport_analytics_run_seconds", Help: "How long the last recompute of every customer took.",
		}),
	}
	for _, c := range []prometheus.Collector{m.changes, m.refresh, m.runSeconds} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// count counts the changes made.
func (m *metrics) count(done []store.Change) {
	for _, c := range done {
		m.changes.WithLabelValues(c.Field, c.To).Inc()
		if c.WonBack {
			m.changes.WithLabelValues(c.Field, "won_back").Inc()
		}
	}
}
