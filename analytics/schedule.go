package analytics

import (
	"context"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/rapport-crm/rapport/store"
)

// Intervals of the loop Schedule runs.
const (
	// sweepEvery: touched customers no refresh has read yet (a process
	// died, a refresh failed, an import, a merge) are looked for this often.
	sweepEvery = 2 * time.Second
	// checkEvery: a nightly run that is due and not done (the process was
	// down at its time, it failed, its process died) is looked for this
	// often.
	checkEvery = time.Minute
	// backlog: at least this many touched customers waiting are recomputed
	// with everyone rather than one by one.
	backlog = 10_000
)

// Schedule runs until ctx ends: the nightly recompute on its cron
// schedule in the business zone, a check every minute for a nightly run
// that is due and not done (at start too: a process down at 03:00 runs it
// when it comes up; a run whose process died is resumed), and a sweep of
// touched customers every two seconds. Every replica runs it; the run
// claim makes each night's run happen once, and one replica at a time
// sweeps (a lease).
func (s *Service) Schedule(ctx context.Context) error {
	log := cronLogger{s}
	c := cron.New(cron.WithLocation(s.o.Location), cron.WithLogger(log),
		cron.WithChain(cron.Recover(log), cron.SkipIfStillRunning(log)))
	var id cron.EntryID
	id = c.Schedule(s.sched, cron.FuncJob(func() {
		at := c.Entry(id).Prev
		if at.IsZero() {
			at = time.Now()
		}
		// The date is the tick's, not the moment the job got to run.
		if _, err := s.Nightly(ctx, at.In(s.o.Location)); err != nil && ctx.Err() == nil && !store.IsCode(err, store.ECONFLICT) {
			s.o.Logger.Error("analytics: nightly run failed", "err", err)
		}
	}))
	s.check(ctx)
	c.Start()
	defer func() { <-c.Stop().Done() }()
	sweep, check := time.NewTicker(sweepEvery), time.NewTicker(checkEvery)
	defer sweep.Stop()
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			s.sweep(ctx)
		case <-check.C:
			s.check(ctx)
		}
	}
}

// check runs today's nightly recompute if its time has passed and it is
// not done, and resumes a run whose process died. A nightly run that
// failed three times waits for the next day (or a person).
func (s *Service) check(ctx context.Context) {
	if r, err := s.store.AbandonedAnalyticsRun(ctx); err != nil {
		s.o.Logger.Error("analytics: looking for an interrupted run", "err", err)
	} else if r != nil {
		if _, err := s.run(ctx, r.RunKey, r.AsOf); err != nil && ctx.Err() == nil && !store.IsCode(err, store.ECONFLICT) {
			s.o.Logger.Error("analytics: resuming an interrupted run failed", "run", r.ID, "err", err)
		}
	}
	now := s.store.Now().In(s.o.Location)
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, s.o.Location)
	fire := s.sched.Next(today.Add(-time.Second))
	if fire.IsZero() || fire.After(now) || fire.Day() != d {
		return
	}
	r, err := s.store.AnalyticsRunByKey(ctx, "nightly:"+today.Format(time.DateOnly))
	if err != nil || (r != nil && (r.Status == store.RunDone || r.Status == store.RunRunning || r.Attempts >= 3)) {
		return
	}
	if _, err := s.Nightly(ctx, today); err != nil && ctx.Err() == nil && !store.IsCode(err, store.ECONFLICT) {
		s.o.Logger.Error("analytics: catching up the nightly run failed", "err", err)
	}
}

// sweep refreshes touched customers nobody has refreshed, while this
// process holds the sweep lease.
func (s *Service) sweep(ctx context.Context) {
	ok, err := s.store.AcquireLease(ctx, "analytics:sweep", s.o.Holder, 30*time.Second)
	if err != nil || !ok {
		return
	}
	// Touches younger than the sweep interval are most likely being
	// refreshed by the process that recorded them.
	if _, err := s.refreshTouched(ctx, s.store.Now().Add(-sweepEvery), 200); err != nil && ctx.Err() == nil && !store.IsCode(err, store.ECONFLICT) {
		s.o.Logger.Warn("analytics: sweeping touched customers", "err", err)
	}
}

// RefreshTouched brings the touched customers' figures up to date (after
// an import: `rapport import orders` calls it) and returns how many
// customers it went through: one by one while they are few; by
// recomputing everyone when they are many (10,000) or more than a tenth
// of the buyers the last run knew (they move everyone's cut points), or
// before any run.
func (s *Service) RefreshTouched(ctx context.Context) (int, error) {
	return s.refreshTouched(ctx, s.store.Now().Add(time.Second), 0)
}

// refreshTouched refreshes customers touched before `before`, at most
// limit (0: all) unless they are a backlog.
func (s *Service) refreshTouched(ctx context.Context, before time.Time, limit int) (int, error) {
	n, err := s.store.TouchBacklog(ctx, backlog)
	if err != nil || n == 0 {
		return 0, err
	}
	last, err := s.store.LastAnalyticsRun(ctx)
	if err != nil {
		return 0, err
	}
	t, err := s.thresholds(ctx)
	if err != nil {
		return 0, err
	}
	if n >= backlog || last == nil || n*10 > t.Buyers {
		return s.Recompute(ctx)
	}
	done, seen := 0, map[int64]bool{}
	for limit == 0 || done < limit {
		ids, err := s.store.TouchedCustomers(ctx, before, 200)
		if err != nil || len(ids) == 0 {
			return done, err
		}
		fresh := 0
		for _, id := range ids {
			if seen[id] {
				continue // touched again meanwhile (or ahead of this clock): next time
			}
			seen[id] = true
			fresh++
			if err := s.Refresh(ctx, id); store.IsCode(err, store.ENOTFOUND) {
				// Gone (merged away): its touch goes with it.
				err = s.store.ClearTouch(ctx, id)
			} else if err != nil {
				return done, err
			}
			done++
		}
		if fresh == 0 {
			return done, nil
		}
	}
	return done, nil
}

// cronLogger adapts slog to cron.Logger (never nil: Recover needs it).
type cronLogger struct{ s *Service }

func (c cronLogger) Info(msg string, kv ...any) { c.s.o.Logger.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.s.o.Logger.Error("cron: "+msg, append(kv, "err", err)...)
}
