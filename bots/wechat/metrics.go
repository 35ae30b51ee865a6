package wechat

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the WeChat-specific counters; a nil *metrics records
// nothing. Inbound counts are the router's.
type metrics struct {
	tokenFetches    *prometheus.CounterVec
	sendErrors      *prometheus.CounterVec
	templateReports *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		tokenFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_wechat_token_fetches_total", Help: "WeChat access-token fetches from the API, by result (ok, error).",
		}, []string{"result"}),
		sendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_wechat_send_errors_total", Help: "WeChat send calls that failed, by errcode (\"http\" for network and HTTP errors).",
		}, []string{"errcode"}),
		templateReports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_wechat_template_reports_total", Help: "WeChat template message delivery reports (TEMPLATESENDJOBFINISH), by result (success, failed, blocked, repeated, unknown_message, unknown_status, invalid, error).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.tokenFetches, m.sendErrors, m.templateReports)
	return m
}

func (m *metrics) tokenFetch(result string) {
	if m != nil {
		m.tokenFetches.WithLabelValues(result).Inc()
	}
}

func (m *metrics) sendError(code int64, api bool) {
	if m == nil {
		return
	}
	label := "http"
	if api {
		label = strconv.FormatInt(code, 10)
	}
	m.sendErrors.WithLabelValues(label).Inc()
}

func (m *metrics) templateReport(result string) {
	if m != nil {
		m.templateReports.WithLabelValues(result).Inc()
	}
}
