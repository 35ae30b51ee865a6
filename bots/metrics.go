package bots

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rapport-crm/rapport/store"
)

// Metrics are the chat counters; a nil *Metrics records nothing.
type Metrics struct {
	inboundTotal *prometheus.CounterVec
	depth        *prometheus.GaugeVec
	sends        *prometheus.CounterVec
	latency      *prometheus.HistogramVec
}

// NewMetrics registers the chat metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		inboundTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_inbound_messages_total", Help: "Inbound chat messages and events received, by channel.",
		}, []string{"channel"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rapport_outbox_depth", Help: "Outbound messages not yet delivered, by channel and status.",
		}, []string{"channel", "status"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_outbox_sends_total", Help: "Send attempts by channel and result (sent, retry, rate_limited, deferred, failed, skipped, unreachable).",
		}, []string{"channel", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rapport_outbox_dispatch_seconds", Help: "Time from enqueue to sent, by channel.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
		}, []string{"channel"}),
	}
	reg.MustRegister(m.inboundTotal, m.depth, m.sends, m.latency)
	return m
}

func (m *Metrics) inbound(channel string) {
	if m != nil {
		m.inboundTotal.WithLabelValues(channel).Inc()
	}
}

func (m *Metrics) send(channel, result string) {
	if m != nil {
		m.sends.WithLabelValues(channel, result).Inc()
	}
}

func (m *Metrics) sent(channel string, d time.Duration) {
	if m != nil {
		m.latency.WithLabelValues(channel).Observe(d.Seconds())
	}
}

func (m *Metrics) setDepth(counts []store.OutboxCount, channels []string) {
	if m == nil {
		return
	}
	m.depth.Reset()
	for _, ch := range channels { // report zeros too, so an empty queue shows
		m.depth.WithLabelValues(ch, store.StatusQueued).Set(0)
		m.depth.WithLabelValues(ch, store.StatusSending).Set(0)
	}
	for _, c := range counts {
		m.depth.WithLabelValues(c.Channel, c.Status).Set(float64(c.N))
	}
}
