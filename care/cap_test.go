package care

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
)

const capReason = "cap: 2 messages in 7 days"

// priorCare records one care message sent to c two days before now.
func (e *env) priorCare(c *store.Customer) {
	e.t.Helper()
	now := e.clock.Now()
	e.clock.Set(now.Add(-48 * time.Hour))
	defer e.clock.Set(now)
	cid := c.ID
	_, err := e.s.Enqueue(e.ctx, []store.Outbound{{CustomerID: &cid, Channel: "telegram", ChatID: c.Identities[0].ExternalID, Text: "hi",
		Workflow: "winback", IdempotencyKey: fmt.Sprintf("winback:%d:earlier", c.ID)}})
	if err != nil {
		e.t.Fatal(err)
	}
}

// TestCapCountsWhatTheRunPlans is the reproduction: under a cap of 2 per 7
// days, a customer with one care message already sent and two assets due
// gets one more message, not two — whether both assets come in one batch
// or in two.
func TestCapCountsWhatTheRunPlans(t *testing.T) {
	for _, batch := range []int{7, 1} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			each(t, at("2027-03-01 10:00"), func(t *testing.T, e *env) {
				e.cfg.Cap.Messages, e.cfg.Cap.Days = 2, 7
				e.opts.BatchSize = batch
				e.rebuild()
				c := e.customer("Two cars")
				other := e.customer("One car")
				e.priorCare(c)
				for _, cust := range []*store.Customer{c, c, other} {
					if _, err := e.s.CreateAsset(e.ctx, cust.ID, store.AssetInput{Name: "car", NextServiceDue: "2027-03-04"}, shanghai); err != nil {
						t.Fatal(err)
					}
				}
				r := e.run("maintenance", "2027-03-01", false)
				if r.Queued != 2 || r.Skipped != 1 || r.SkipReasons[capReason] != 1 {
					t.Errorf("run = queued %d skipped %d %v, want 2 queued and 1 skipped by the cap", r.Queued, r.Skipped, r.SkipReasons)
				}
				e.wantMessages(c, 2) // the earlier one and one reminder
				e.wantMessages(other, 1)
			})
		})
	}
}

// TestCapAcrossWorkflowsOneDay: birthday and maintenance on the same day
// for one customer share the cap.
func TestCapAcrossWorkflowsOneDay(t *testing.T) {
	each(t, at("2027-03-01 10:00"), func(t *testing.T, e *env) {
		e.cfg.Cap.Messages, e.cfg.Cap.Days = 2, 7
		e.rebuild()
		c := e.customer("Busy", birthday("1990-03-01"))
		for range 2 {
			if _, err := e.s.CreateAsset(e.ctx, c.ID, store.AssetInput{Name: "boiler", NextServiceDue: "2027-03-03"}, shanghai); err != nil {
				t.Fatal(err)
			}
		}
		if r := e.run("birthday", "2027-03-01", false); r.Queued != 1 {
			t.Fatalf("birthday = %+v", r)
		}
		r := e.run("maintenance", "2027-03-01", false)
		if r.Queued != 1 || r.SkipReasons[capReason] != 1 {
			t.Errorf("maintenance = queued %d %v, want 1 queued and 1 skipped by the cap", r.Queued, r.SkipReasons)
		}
		var wfs []string
		for _, m := range e.wantMessages(c, 2) {
			wfs = append(wfs, m.Workflow)
		}
		if got := strings.Join(wfs, ","); got != "birthday,maintenance" {
			t.Errorf("workflows = %s", got)
		}
		// A third workflow the same day finds the cap full.
		e.cfg.Holiday.Dates = map[string]string{"2027-03-01": "womens_day"}
		e.rebuild()
		if r := e.run("holiday", "2027-03-01", false); r.Queued != 0 || r.SkipReasons[capReason] != 1 {
			t.Errorf("holiday = %+v", r)
		}
		e.wantMessages(c, 2)
	})
}

// TestFutureDateNeedsForce: a real run for a date after today is refused
// (nothing claimed, nothing queued) unless forced; a dry run is fine.
func TestFutureDateNeedsForce(t *testing.T) {
	each(t, at("2027-02-28 23:30"), func(t *testing.T, e *env) {
		c := e.customer("Tomorrow", birthday("03-01"))
		d, _ := e.svc.ParseDate("2027-03-01")
		_, err := e.svc.Run(e.ctx, "birthday", d, false, false)
		want := "date 2027-03-01 is in the future: this would send real messages now; use -dry-run to preview or -force to send anyway"
		var se *store.Error
		if !store.IsCode(err, store.EINVALID) || store.ErrorMessage(err) != want || !errors.As(err, &se) || se.Field != "date" {
			t.Fatalf("err = %v, want EINVALID on date: %s", err, want)
		}
		if runs, _, _ := e.s.ListCareRuns(e.ctx, store.CareRunFilter{}); len(runs) != 0 {
			t.Errorf("a refused run left %d run rows", len(runs))
		}
		e.wantMessages(c, 0)
		if r, err := e.svc.Run(e.ctx, "birthday", d, true, false); err != nil || r.WouldQueue != 1 {
			t.Errorf("dry run = %+v, %v", r, err)
		}
		// Today (the business date, though UTC is a day behind) is not the future.
		e.clock.Set(at("2027-03-01 00:30"))
		if r, err := e.svc.Run(e.ctx, "birthday", d, false, false); err != nil || r.Queued != 1 {
			t.Errorf("today = %+v, %v", r, err)
		}
		e.clock.Set(at("2027-02-28 23:30"))
		d2, _ := e.svc.ParseDate("2027-03-02")
		if _, err := e.svc.Run(e.ctx, "birthday", d2, false, true); err != nil {
			t.Errorf("forced: %v", err)
		}
	})
}
