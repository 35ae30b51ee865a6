package care

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	runs     *prometheus.CounterVec
	lag      *prometheus.GaugeVec
	duration *prometheus.HistogramVec
	queued   *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_care_runs_total",
			Help: "Care runs by workflow and result (done, failed, existing: already done or running elsewhere, dry_run).",
		}, []string{"workflow", "result"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rapport_care_scheduler_lag_seconds",
			Help: "Delay between a workflow's scheduled time and the start of its last scheduled run.",
		}, []string{"workflow"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rapport_care_run_seconds", Help: "Care run duration by workflow.",
			Buckets: []float64{.01, .1, .5, 1, 5, 15, 60, 300},
		}, []string{"workflow"}),
		queued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_care_messages_queued_total", Help: "Care messages written to the outbox, by workflow.",
		}, []string{"workflow"}),
	}
	for _, c := range []prometheus.Collector{m.runs, m.lag, m.duration, m.queued} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
