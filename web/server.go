// Package web is Rapport's HTTP surface: health, metrics, the admin API
// under /api/v1, and the mount points for webhooks, web chat and console.
package web

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/templates"
)

// Config is the `http:` block of config.yaml.
type Config struct {
	Addr      string `yaml:"addr"`
	PublicURL string `yaml:"public_url"`
	// TrustedProxies are the CIDRs of reverse proxies whose
	// X-Forwarded-For names the client; empty trusts none.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Validate checks the block; errors name the key.
func (c Config) Validate() error {
	if c.Addr == "" {
		return fmt.Errorf("http.addr: empty")
	}
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		return fmt.Errorf("http.public_url: %q is not an http(s) URL", c.PublicURL)
	}
	_, err := c.Proxies()
	return err
}

// Proxies parses TrustedProxies, naming the bad entry. A bare address
// means that one address.
func (c Config) Proxies() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for i, v := range c.TrustedProxies {
		v = strings.TrimSpace(v)
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("http.trusted_proxies[%d]: %q is not a CIDR (like 10.0.0.0/8) or an address", i, v)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ChannelStates names each chat channel's state (ok, degraded, disabled)
// for /readyz; implemented by the bots health registry.
type ChannelStates interface {
	ChannelStates() map[string]string
}

// CareRunner runs a care workflow for a date; cmd wires a *care.Service. A
// real run for a date after today is refused (422 naming date) unless
// force.
type CareRunner interface {
	Run(ctx context.Context, workflow string, date time.Time, dryRun, force bool) (*store.CareRun, error)
}

// Deps are the services the API calls. A nil Templates or Care answers
// 503 on its endpoints.
type Deps struct {
	Store     *store.Store
	Templates *templates.Service
	Care      CareRunner
	// Location is the business time zone the API's dates are in
	// (default UTC).
	Location *time.Location
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// Channels, when set, adds each chat channel's state to /readyz.
	Channels ChannelStates
	// Analytics recomputes the figures (POST /analytics/recompute; nil:
	// 503).
	Analytics Recomputer
	// Console is the console's sessions and language.
	Console ConsoleConfig
	// Proxies are http.trusted_proxies: their X-Forwarded-For and
	// X-Forwarded-Proto are believed.
	Proxies []netip.Prefix
	// Timezone is the business time zone's name (the console shows dates
	// in it); BusinessName is the top-level business_name.
	Timezone     string
	BusinessName string
	// StaffLocale is the language of texts sent to staff in chat.
	StaffLocale string
	// EventPoll is how often an inbox event stream looks for changes
	// (default 1 s).
	EventPoll time.Duration
	// Schedule tells when care workflows run next (GET /care/schedule).
	Schedule CareSchedule
	// Imports runs CSV imports started with POST /imports; ImportLimit
	// bounds an uploaded file (default 100 MiB).
	Imports     ImportJobs
	ImportLimit int64
	// Reports answers GET /reports/...; ReportCSV writes one as CSV. Nil:
	// no report routes.
	Reports   Reports
	ReportCSV ReportCSV
	// Campaigns creates and sends campaigns (nil: 503).
	Campaigns Campaigns
}

// Server routes every HTTP request.
type Server struct {
	Deps
	mux      *routeMux
	requests *prometheus.CounterVec
	// streams counts open inbox event streams per caller (inbox.go).
	streamsMu sync.Mutex
	streams   map[string]int
	ending    chan struct{} // closed by EndStreams
	endOnce   sync.Once
	latency   *prometheus.HistogramVec
	// apiRoutes are the /api/v1 routes with their descriptions, and
	// openapi the OpenAPI document made of them (openapi.go).
	apiRoutes []*route
	openapi   openAPIDoc
}

// New builds the server and its routes.
func New(d Deps) *Server {
	d.Logger = cmp.Or(d.Logger, slog.Default())
	d.Location = cmp.Or(d.Location, time.UTC)
	d.Registry = cmp.Or(d.Registry, prometheus.NewRegistry())
	if d.Console == (ConsoleConfig{}) {
		d.Console = DefaultConsoleConfig()
	}
	d.EventPoll = cmp.Or(d.EventPoll, time.Second)
	d.ImportLimit = cmp.Or(d.ImportLimit, maxImportBytes)
	s := &Server{Deps: d, mux: newRouteMux(), streams: map[string]int{}, ending: make(chan struct{})}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rapport_http_requests_total", Help: "HTTP requests by route and status.",
	}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "rapport_http_request_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	d.Registry.MustRegister(s.requests, s.latency)
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	s.customerRoutes()
	s.tokenRoutes()
	s.messageRoutes()
	s.templateRoutes()
	s.careRoutes()
	s.campaignRoutes()
	s.followupRoutes()
	s.outboxRoutes()
	s.phoneClaimRoutes()
	s.sessionRoutes()
	s.inboxRoutes()
	s.quickReplyRoutes()
	s.auditRoutes()
	s.importRoutes()
	s.consoleRoutes()
	s.intelRoutes()
	s.reportRoutes()
	s.pointsRoutes()
	s.openAPIRoutes()
	s.mux.HandleFunc(apiFallbackPattern, s.apiFallback)
	s.mux.HandleFunc(apiRootPattern, s.apiFallback)
}

// Handle mounts an extra handler (webhooks, web chat, console).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP recovers panics and records metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		if p := recover(); p != nil {
			s.Logger.Error("panic in handler", "path", r.URL.Path, "panic", p)
			if !sw.wrote {
				writeError(sw, store.Errorf(store.EINTERNAL, "internal error"))
			}
		}
		route := cmp.Or(r.Pattern, "unmatched")
		s.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		s.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	}()
	s.mux.ServeHTTP(sw, r)
}

// handleReady answers 200 while the database answers and its schema is
// current, and names each chat channel's state: a channel that can't
// reach its platform is reported, but does not make the process unready
// (restarting it would not bring Telegram back).
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := map[string]any{"status": "ok"}
	if s.Channels != nil {
		body["channels"] = s.Channels.ChannelStates()
	}
	code := http.StatusOK
	if err := s.Store.Ping(ctx); err != nil {
		body["status"], code = "database unreachable", http.StatusServiceUnavailable
	} else if ok, err := s.Store.SchemaCurrent(ctx); err != nil || !ok {
		body["status"], code = "schema not current", http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush lets server-sent events through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
