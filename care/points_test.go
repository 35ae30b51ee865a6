package care

import (
	"testing"

	"github.com/rapport-crm/rapport/points"
	"github.com/rapport-crm/rapport/store"
)

// On the notice day the customers whose points expire at the next year
// end get one reminder each (opted-out ones none); another day, nothing.
func TestPointsExpiryReminder(t *testing.T) {
	each(t, at("2025-06-01 10:00"), func(t *testing.T, e *env) {
		e.s.OnPoints(points.Rules(points.DefaultConfig(), shanghai))
		ps, err := points.New(points.DefaultConfig(), points.Options{Location: shanghai})
		if err != nil {
			t.Fatal(err)
		}
		e.opts.PointsExpiry = ps.NoticeFor
		e.rebuild()
		due := e.customer("Due")
		spent := e.customer("Spent")
		out := e.customer("Out", optOut())
		for _, c := range []*store.Customer{due, spent, out} {
			if _, err := e.s.AdjustPoints(e.ctx, store.SystemActor(), c.ID, store.PointsAdjustment{Points: 100, Reason: "earned"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.s.AdjustPoints(e.ctx, store.SystemActor(), spent.ID, store.PointsAdjustment{Points: -100, Reason: "spent"}); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(at("2026-12-01 10:00"))
		if r := e.run("points_expiry", "2026-12-01", false); r.Planned != 0 {
			t.Fatalf("not the notice day: %+v", r)
		}
		e.clock.Set(at("2026-12-02 10:00"))
		r := e.run("points_expiry", "2026-12-02", false)
		if r.Queued != 1 || r.Skipped != 1 {
			t.Fatalf("run = %+v, want queued 1 (Due), skipped 1 (Out)", r)
		}
		if m := e.wantMessages(due, 1)[0]; m.TemplateKey != "points_expiry" {
			t.Errorf("message %+v", m)
		}
		e.wantMessages(spent, 0)
		e.wantMessages(out, 0)
	})
}
