package care

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
)

func TestCatchUp(t *testing.T) {
	each(t, at("2027-02-08 10:00"), func(t *testing.T, e *env) { // a Monday
		dates := func(wf string) string {
			runs, _, err := e.s.ListCareRuns(e.ctx, store.CareRunFilter{Workflow: wf})
			if err != nil {
				t.Fatal(err)
			}
			var ds []string
			for _, r := range runs {
				ds = append(ds, r.Date)
			}
			return strings.Join(ds, ",")
		}
		for _, wf := range []struct{ name, spec string }{
			{"birthday", "0 9 * * *"}, {"survey", "0 11 * * *"}, {"winback", "0 12 * * 1"}, {"revisit", "0 8 * * 6"},
		} {
			sched, err := ParseSchedule(wf.spec)
			if err != nil {
				t.Fatal(err)
			}
			e.svc.catchUp(e.ctx, wf.name, sched)
		}
		// Newest first: the two past days and today (09:00 has passed).
		if got := dates("birthday"); got != "2027-02-08,2027-02-07,2027-02-06" {
			t.Errorf("birthday catch-up = %s", got)
		}
		// Today's 11:00 has not come yet.
		if got := dates("survey"); got != "2027-02-07,2027-02-06" {
			t.Errorf("survey catch-up = %s", got)
		}
		// Mondays at 12:00: today's is still ahead, last Monday is too old.
		if got := dates("winback"); got != "" {
			t.Errorf("winback catch-up = %s", got)
		}
		// Saturdays: Feb 6 is in the window.
		if got := dates("revisit"); got != "2027-02-06" {
			t.Errorf("revisit catch-up = %s", got)
		}
		// A second start (another replica, a restart) reruns nothing.
		before := dates("birthday")
		sched, _ := ParseSchedule("0 9 * * *")
		e.svc.catchUp(e.ctx, "birthday", sched)
		if got := dates("birthday"); got != before {
			t.Errorf("second catch-up = %s", got)
		}
	})
}

func TestScheduleStops(t *testing.T) {
	each(t, at("2027-02-08 10:00"), func(t *testing.T, e *env) {
		e.cfg.CatchUpDays = 0
		e.rebuild()
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		go func() { done <- e.svc.Schedule(ctx) }()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Schedule did not stop")
		}
	})
}

func TestParseSchedule(t *testing.T) {
	for _, bad := range []string{"CRON_TZ=UTC", "61 * * * *", "", "0 9 31 2 *"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}
