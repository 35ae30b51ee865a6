package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/points"
	"github.com/rapport-crm/rapport/report"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/templates"
	"github.com/rapport-crm/rapport/web"
)

// Main is the running service. Run starts everything; Close stops intake,
// drains the background loops, then closes the database.
type Main struct {
	Config   *Config
	Logger   *slog.Logger
	Store    *store.Store
	Registry *prometheus.Registry
	Web      *web.Server
	// Templates renders every text.
	Templates *templates.Service
	// Reports computes the daily figures and answers the reports.
	Reports *report.Service
	// Health is each chat channel's state, shown by /readyz.
	Health *bots.Health

	httpServer *http.Server
	listener   net.Listener
	// onShutdown runs when HTTP shutdown begins (ending event streams,
	// which Shutdown would otherwise wait for).
	onShutdown []func()
	// loopCtx is the background loops' context; Close cancels it.
	loopCtx  context.Context
	cancel   context.CancelFunc
	loops    sync.WaitGroup
	loopErrs chan error

	mu      sync.Mutex
	running map[string]int // loops still running, by name
}

// Shutdown budget: in-flight requests get httpGrace, then the loops get
// their own loopGrace; the store closes after both, well inside the 10 s
// a process manager usually allows before SIGKILL.
const (
	httpGrace = 5 * time.Second
	loopGrace = 4 * time.Second
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve")
	cfgPath := configFlag(fs)
	if rest, err := parseFlags(fs, args, stdout); err != nil {
		return err
	} else if len(rest) > 0 {
		return usageError{"serve", fmt.Sprintf("unexpected argument %q", rest[0])}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	m := &Main{Config: cfg, Logger: newLogger(stderr)}
	if path := os.Getenv("RAPPORT_CPU_PROFILE"); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	select {
	case <-ctx.Done():
		m.Logger.Info("shutting down")
	case err = <-m.loopErrs:
		m.Logger.Error("background loop failed", "err", err)
	}
	if cerr := m.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// startCPUProfile writes a CPU profile of the process to path until stop
// is called: RAPPORT_CPU_PROFILE, for profiling a running server under
// load (BenchmarkWebhookHTTP) without exposing pprof on any listener, or
// an import (BenchmarkImportCLI).
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("RAPPORT_CPU_PROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("RAPPORT_CPU_PROFILE: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// warnPhoneDuplicates logs, at every start until staff have decided them,
// the customers the conversion to canonical phones left sharing a number.
func (m *Main) warnPhoneDuplicates(ctx context.Context) {
	rep, err := m.Store.PhoneKeyReport(ctx)
	if err != nil || rep == nil || rep.Duplicates == 0 {
		return
	}
	pending, _, err := m.Store.ListPhoneClaims(ctx, store.PhoneClaimFilter{Status: store.ClaimPending, Page: store.Page{Limit: 1}})
	if err != nil || len(pending) == 0 {
		return
	}
	m.Logger.Warn("customers share a phone number and were not merged; decide them at GET /api/v1/phone-claims?status=pending",
		"duplicates_found", rep.Duplicates, "unreadable_numbers", rep.Invalid)
}

// openStore opens and migrates the configured database.
func openStore(ctx context.Context, cfg *Config) (*store.Store, error) {
	s, err := store.Open(ctx, cfg.Database, store.WithAgentsSeeAll(cfg.Admin.AgentsSeeAll), store.WithPhoneRegion(cfg.PhoneRegion))
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	// Every path that records an order (API, import) earns by these.
	s.OnPoints(points.Rules(cfg.Points, cfg.Location()))
	return s, nil
}

// Run opens the store, wires every component and starts serving; it
// returns once everything has started. This is the whole wiring, in order.
func (m *Main) Run(ctx context.Context) error {
	var err error
	if m.Store, err = openStore(ctx, m.Config); err != nil {
		return err
	}
	m.warnPhoneDuplicates(ctx)
	m.warnNoAdmin(ctx)
	if tok := m.Config.Admin.BootstrapToken; tok != "" {
		if err := m.Store.EnsureToken(ctx, "bootstrap", tok, store.RoleAdmin); err != nil {
			return err
		}
	}
	m.Registry = prometheus.NewRegistry()
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.loopCtx, m.cancel = context.WithCancel(context.Background())
	m.loopErrs = make(chan error, 8)
	m.Health = bots.NewHealth(m.Registry, m.Logger)

	// The texts first: everything else renders through them.
	if err := m.newTemplates(); err != nil {
		return err
	}
	if err := m.newReports(); err != nil {
		return err
	}
	cs, err := m.newCare()
	if err != nil {
		return err
	}
	// An order, a survey answer or a complaint updates its customer's
	// figures in the transaction that records it.
	an, err := m.newAnalytics()
	if err != nil {
		return err
	}
	m.Store.OnFigures(an.Figures)
	camps, err := m.newCampaigns(cs)
	if err != nil {
		return err
	}
	fu, err := m.newFollowup(camps)
	if err != nil {
		return err
	}
	ps, err := m.newPoints()
	if err != nil {
		return err
	}
	proxies, err := m.Config.HTTP.Proxies()
	if err != nil {
		return err
	}
	m.Web = web.New(web.Deps{Store: m.Store, Templates: m.Templates, Care: cs, Location: m.Config.Location(),
		Registry: m.Registry, Logger: m.Logger, Channels: m.Health,
		Console: m.Config.Console, Proxies: proxies, Timezone: m.Config.Timezone, BusinessName: m.Config.BusinessName,
		StaffLocale: m.Config.Followup.StaffLocale, Schedule: careSchedule{cs}, Imports: m.newImports(), Analytics: an,
		Reports: m.Reports, ReportCSV: report.WriteCSV, Campaigns: camps})
	m.onShutdown = append(m.onShutdown, m.Web.EndStreams)
	// Inbound chat meets the hooks in this order, and the first that
	// handles a message stops the rest: /template edits (before anything
	// takes a manager's text for another command), staff commands, relays
	// and complaints (followup), survey answers (care).
	if err := m.startBots([]bots.Hook{m.Templates, fu, cs}); err != nil {
		return err
	}
	m.goLoop("followup", fu.Run)
	m.goLoop("care scheduler", cs.Schedule)
	m.goLoop("analytics", an.Schedule)
	m.goLoop("reports", m.Reports.Schedule)
	m.goLoop("campaigns", camps.Run)
	m.goLoop("points", ps.Schedule)
	return m.serveHTTP()
}

// serveHTTP listens on http.addr and serves m.Web in the background.
func (m *Main) serveHTTP() error {
	var err error
	if m.listener, err = net.Listen("tcp", m.Config.HTTP.Addr); err != nil {
		return fmt.Errorf("http.addr: %w", err)
	}
	m.httpServer = &http.Server{
		Handler:           m.Web,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	for _, f := range m.onShutdown {
		m.httpServer.RegisterOnShutdown(f)
	}
	go func() {
		if err := m.httpServer.Serve(m.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.loopErrs <- fmt.Errorf("http: %w", err)
		}
	}()
	m.Logger.Info("rapport serving", "addr", m.listener.Addr().String(), "database", m.Config.Database.Driver, "version", versionString())
	return nil
}

// goLoop runs a background loop until Close; a loop that fails stops the
// process.
func (m *Main) goLoop(name string, fn func(context.Context) error) {
	ctx := m.loopCtx
	m.mu.Lock()
	if m.running == nil {
		m.running = map[string]int{}
	}
	m.running[name]++
	m.mu.Unlock()
	m.loops.Add(1)
	go func() {
		defer m.loops.Done()
		defer func() {
			m.mu.Lock()
			if m.running[name]--; m.running[name] == 0 {
				delete(m.running, name)
			}
			m.mu.Unlock()
		}()
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			select {
			case m.loopErrs <- fmt.Errorf("%s: %w", name, err):
			default: // a shutdown is already under way; its cause is queued
				m.Logger.Error("loop failed", "loop", name, "err", err)
			}
		}
	}()
}

// Close shuts down in order: stop accepting HTTP and end event streams,
// let in-flight requests finish (httpGrace), stop the background loops
// (loopGrace, a deadline of their own), and close the database last, once
// nothing uses it. A loop that does not stop in time is named in the
// error and the database is left for the process exit to close.
func (m *Main) Close() error {
	var errs []error
	if m.httpServer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), httpGrace)
		if err := m.httpServer.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
			m.httpServer.Close()
		}
		cancel()
	} else if m.listener != nil {
		m.listener.Close()
	}
	if m.cancel != nil {
		m.cancel()
	}
	done := make(chan struct{})
	go func() { m.loops.Wait(); close(done) }()
	stopped := true
	select {
	case <-done:
	case <-time.After(loopGrace):
		stopped = false
		errs = append(errs, fmt.Errorf("background loops did not stop within %v: %s", loopGrace, strings.Join(m.runningLoops(), ", ")))
	}
	if m.Store != nil && stopped {
		if err := m.Store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runningLoops names the loops still running, sorted.
func (m *Main) runningLoops() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.running))
}
