// Package web is Rapport's HTTP surface: health, metrics, the admin API
// under /api/v1, and the mount points for webhooks, web chat and console.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
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
}

// CareRunner runs a care workflow for a date; implemented by care.
type CareRunner interface {
	Run(ctx context.Context, workflow string, date time.Time, dryRun bool) (*store.CareRun, error)
}

// Deps are the services the API calls. Nil ones answer 503.
type Deps struct {
	Store     *store.Store
	Templates *templates.Service
	Care      CareRunner
	Registry  *prometheus.Registry
	Logger    *slog.Logger
}

// Server routes every HTTP request.
type Server struct {
	Deps
	mux      *http.ServeMux
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New builds the server and its routes.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	s := &Server{Deps: d, mux: http.NewServeMux()}
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
	s.followupRoutes()
	s.phoneClaimRoutes()
	s.consoleRoutes()
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
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		s.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		s.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	}()
	s.mux.ServeHTTP(sw, r)
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unreachable"})
		return
	}
	ok, err := s.Store.SchemaCurrent(ctx)
	if err != nil || !ok {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "schema not current"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
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
