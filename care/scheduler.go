package care

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule runs the enabled workflows on their cron schedules in the
// business zone until ctx ends. It first catches up: robfig/cron does not
// replay runs missed while the process was down, so for each of the last
// catch_up_days days (and today, once its time has passed) whose scheduled
// run is due it calls Run; runs already done are answered from their row.
// Every replica runs a scheduler; the run claim makes each (workflow, date)
// happen once.
func (s *Service) Schedule(ctx context.Context) error {
	log := cronLogger{s.o.Logger}
	c := cron.New(
		cron.WithLocation(s.o.Location),
		cron.WithLogger(log),
		cron.WithChain(cron.Recover(log), cron.SkipIfStillRunning(log)),
	)
	type entry struct {
		name  string
		sched cron.Schedule
	}
	var entries []entry
	for _, w := range s.cfg.Schedules() {
		if !w.On() {
			continue
		}
		sched, err := ParseSchedule(w.Schedule)
		if err != nil {
			return fmt.Errorf("care.%s.schedule: %w", w.Name, err)
		}
		entries = append(entries, entry{w.Name, sched})
	}
	for _, e := range entries {
		s.catchUp(ctx, e.name, e.sched)
		if ctx.Err() != nil {
			return nil
		}
	}
	for _, e := range entries {
		name, sched := e.name, e.sched
		var id cron.EntryID
		id = c.Schedule(sched, cron.FuncJob(func() {
			now := time.Now().In(s.o.Location)
			at := c.Entry(id).Prev
			if at.IsZero() {
				at = now
			}
			s.metrics.lag.WithLabelValues(name).Set(now.Sub(at).Seconds())
			// The date is the scheduled tick's, not the moment the job got
			// to run (a tick at 23:59:59 that starts late stays that day).
			if _, err := s.scheduled(ctx, name, at.In(s.o.Location), name == "lifecycle"); err != nil {
				s.o.Logger.Error("scheduled care run failed", "workflow", name, "err", err)
			}
		}))
	}
	c.Start()
	<-ctx.Done()
	<-c.Stop().Done()
	return nil
}

// catchUp runs the scheduled runs of the last CatchUpDays days and today
// that are due by now. Runs that are done cost one claim query each.
func (s *Service) catchUp(ctx context.Context, name string, sched cron.Schedule) {
	loc := s.o.Location
	now := s.store.Now().In(loc)
	today := dayOf(now)
	for i := s.cfg.CatchUpDays; i >= 0; i-- {
		d := today.add(-i)
		fire := sched.Next(d.start(loc).Add(-time.Second))
		if fire.IsZero() || dayOf(fire.In(loc)) != d || fire.After(now) {
			continue
		}
		if _, err := s.scheduled(ctx, name, d.start(loc), false); err != nil {
			s.o.Logger.Error("care catch-up run failed", "workflow", name, "date", d.String(), "err", err)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// ParseSchedule parses a 5-field cron spec (a workflow's schedule). A
// bare "CRON_TZ=X" panics inside robfig/cron, so it is recovered into an
// error; a spec that never fires ("0 9 31 2 *") is an error too.
func ParseSchedule(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%q is not a cron spec", spec)
		}
	}()
	if sched, err = cron.ParseStandard(spec); err != nil {
		return nil, fmt.Errorf("%q: %v", spec, err)
	}
	if sched.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("%q never fires", spec)
	}
	return sched, nil
}

// cronLogger adapts slog to cron.Logger (never nil: Recover needs it).
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
