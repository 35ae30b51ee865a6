package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rapport-crm/rapport/bots"
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
	// Templates renders every text; set by wireTemplates.
	Templates *templates.Service
	// Hooks receive inbound chat in order (templates, followup, care);
	// the wire* functions append to it before wireBots builds the router.
	Hooks []bots.Hook

	httpServer *http.Server
	listener   net.Listener
	cancel     context.CancelFunc
	loops      sync.WaitGroup
	loopErrs   chan error
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	m := &Main{Config: cfg, Logger: newLogger(stderr)}
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
	s, err := store.Open(ctx, cfg.Database, store.WithPhoneRegion(cfg.PhoneRegion))
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Run opens the store, wires every component, and starts serving. It
// returns once everything has started.
func (m *Main) Run(ctx context.Context) error {
	var err error
	if m.Store, err = openStore(ctx, m.Config); err != nil {
		return err
	}
	m.warnPhoneDuplicates(ctx)
	if tok := m.Config.Admin.BootstrapToken; tok != "" {
		if err := m.Store.EnsureToken(ctx, "bootstrap", tok, store.RoleAdmin); err != nil {
			return err
		}
	}
	m.Registry = prometheus.NewRegistry()
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bg, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.loopErrs = make(chan error, 8)

	deps := web.Deps{Store: m.Store, Registry: m.Registry, Logger: m.Logger}
	if err := m.wireTemplates(&deps); err != nil {
		return err
	}
	if err := m.wireFollowup(bg, &deps); err != nil {
		return err
	}
	if err := m.wireCare(bg, &deps); err != nil {
		return err
	}
	m.Web = web.New(deps)
	if err := m.wireBots(bg); err != nil {
		return err
	}

	m.listener, err = net.Listen("tcp", m.Config.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http.addr: %w", err)
	}
	m.httpServer = &http.Server{
		Handler:           m.Web,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	go func() {
		if err := m.httpServer.Serve(m.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.loopErrs <- fmt.Errorf("http: %w", err)
		}
	}()
	m.Logger.Info("rapport serving", "addr", m.listener.Addr().String(), "database", m.Config.Database.Driver, "version", version)
	return nil
}

// goLoop runs a background loop; a loop that fails stops the process.
func (m *Main) goLoop(name string, ctx context.Context, fn func(context.Context) error) {
	m.loops.Add(1)
	go func() {
		defer m.loops.Done()
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			m.loopErrs <- fmt.Errorf("%s: %w", name, err)
		}
	}()
}

// Close shuts down within 10 s: stop accepting HTTP, finish in-flight
// requests, stop the background loops, close the database.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	if m.httpServer != nil {
		if err := m.httpServer.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	} else if m.listener != nil {
		m.listener.Close()
	}
	if m.cancel != nil {
		m.cancel()
	}
	done := make(chan struct{})
	go func() { m.loops.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, errors.New("background loops did not stop in time"))
	}
	if m.Store != nil {
		if err := m.Store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Addr is the listening address (tests use ":0").
func (m *Main) Addr() string { return m.listener.Addr().String() }
