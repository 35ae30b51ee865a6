package care

import (
	"slices"
	"time"
)

// NextRun is when an enabled workflow's schedule fires next.
type NextRun struct {
	Workflow string
	Schedule string    // the cron spec
	At       time.Time // in the business zone
}

// NextRuns lists each enabled workflow's next scheduled run after the
// given time, soonest first (the console's "next runs"). A spec that does
// not parse is left out: the scheduler refuses to start with one anyway.
func (s *Service) NextRuns(after time.Time) []NextRun {
	var out []NextRun
	for _, w := range s.cfg.Schedules() {
		if !w.On() {
			continue
		}
		sched, err := ParseSchedule(w.Schedule)
		if err != nil {
			continue
		}
		at := sched.Next(after.In(s.o.Location))
		if at.IsZero() {
			continue // a spec that never fires (Feb 30)
		}
		out = append(out, NextRun{Workflow: w.Name, Schedule: w.Schedule, At: at})
	}
	slices.SortStableFunc(out, func(a, b NextRun) int { return a.At.Compare(b.At) })
	return out
}
