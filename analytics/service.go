package analytics

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/rapport-crm/rapport/store"
)

// Options are what cmd wires into the service.
type Options struct {
	Store *store.Store
	// Location is the business time zone: the schedule and its dates.
	Location *time.Location
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Holder names this process in run claims (default host:pid).
	Holder string
	// BatchSize is how many customers a batch of the nightly job reads and
	// writes (5000); Writers how many batches are written at once (2).
	BatchSize int
	Writers   int
	// Lease is how long a run claim lasts without progress (2 min);
	// another process resumes the run after that.
	Lease time.Duration
	// AfterNightly, when set, runs after a nightly run is done, with the
	// time it was asked for (cmd wires the reports' daily figures). Its
	// error is logged; the run stays done.
	AfterNightly func(ctx context.Context, day time.Time) error
}

// Service computes the figures: the nightly job, the one-customer
// refresh, and the loop that runs both (Schedule).
type Service struct {
	cfg     Config
	o       Options
	store   *store.Store
	model   model
	sched   cron.Schedule
	metrics *metrics
	// cache is the last done run's thresholds, for refreshes.
	cache struct {
		sync.Mutex
		t      *Thresholds
		loaded time.Time
	}
	// afterBatch, when set (tests), is called after each pair of batches
	// is written and the run's progress saved.
	afterBatch func(run *store.AnalyticsRun, batches int)
}

// New builds the service.
func New(cfg Config, o Options) (*Service, error) {
	if o.Store == nil {
		return nil, fmt.Errorf("analytics: a store is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sched, _ := parseSchedule(cfg.Schedule)
	if o.Holder == "" {
		host, _ := os.Hostname()
		o.Holder = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	o.Location = cmp.Or(o.Location, time.UTC)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	o.Registry = cmp.Or(o.Registry, prometheus.NewRegistry())
	o.BatchSize = cmp.Or(o.BatchSize, 5000)
	o.Writers = cmp.Or(o.Writers, 2)
	o.Lease = cmp.Or(o.Lease, 2*time.Minute)
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, o: o, store: o.Store, model: model{cfg, o.Location}, sched: sched, metrics: m}, nil
}

// thresholds are the last done run's cut points (noThresholds before the
// first), cached for 30 seconds: a refresh should not read them each time.
func (s *Service) thresholds(ctx context.Context) (*Thresholds, error) {
	s.cache.Lock()
	defer s.cache.Unlock()
	if s.cache.t != nil && time.Since(s.cache.loaded) < 30*time.Second {
		return s.cache.t, nil
	}
	run, err := s.store.LastAnalyticsRun(ctx)
	if err != nil {
		return nil, err
	}
	t := noThresholds
	if run != nil && run.Thresholds != "" {
		if err := json.Unmarshal([]byte(run.Thresholds), &t); err != nil {
			return nil, fmt.Errorf("analytics run %d: thresholds: %w", run.ID, err)
		}
	}
	s.cache.t, s.cache.loaded = &t, time.Now()
	return &t, nil
}

// forgetThresholds makes the next refresh read the thresholds again.
func (s *Service) forgetThresholds() {
	s.cache.Lock()
	s.cache.t = nil
	s.cache.Unlock()
}

// Figures is the store's OnFigures: the computation of one customer's
// figures now, judged against the last nightly run's thresholds, that the
// store runs inside the transaction of an order, a survey answer or a
// complaint.
func (s *Service) Figures(ctx context.Context) (store.FigureCompute, error) {
	t, err := s.thresholds(ctx)
	if err != nil {
		s.o.Logger.Warn("analytics: no thresholds; the event waits for the sweep", "err", err)
		return nil, err
	}
	now := s.store.Now()
	w := s.cfg.windowAt(now)
	return func(r store.FigureRow, ps []store.OrderPoint) store.FigureWrite {
		f, _ := figuresOf(r.ID, ps, w, nil)
		st := s.model.evaluate(f, personOf(r), t, w.asOf, now)
		out := store.FigureWrite{Changes: s.model.changesOf(r, st, f, w.asOf), At: now}
		if !store.SameFigures(r.Stats, st) {
			out.Stats = []*store.CustomerStats{st}
		}
		return out
	}, nil
}

// Refresh recomputes one customer's figures now, in a transaction of its
// own (the sweep of touched customers).
func (s *Service) Refresh(ctx context.Context, customerID int64) error {
	start := time.Now()
	compute, err := s.Figures(ctx)
	if err != nil {
		return err
	}
	done, err := s.store.RefreshFigures(ctx, customerID, compute)
	if err != nil {
		return err
	}
	s.metrics.count(done)
	s.metrics.refresh.Observe(time.Since(start).Seconds())
	return nil
}
