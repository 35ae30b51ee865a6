package analytics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is a store on a fixed clock with an analytics service wired as the
// store's touch hook, as cmd wires it.
type env struct {
	t     *testing.T
	ctx   context.Context
	s     *store.Store
	clock *storetest.Clock
	svc   *Service
}

func newEnv(t *testing.T, dialect string, o ...func(*Options)) *env {
	t.Helper()
	cfg := storetest.Config(t, dialect)
	return envOn(t, cfg, storetest.NewClock(day("2027-01-01")), o...)
}

func envOn(t *testing.T, cfg store.Config, clock *storetest.Clock, o ...func(*Options)) *env {
	t.Helper()
	s := storetest.OpenConfig(t, cfg, store.WithClock(clock.Now))
	opts := Options{Store: s, Logger: quiet}
	for _, f := range o {
		f(&opts)
	}
	svc, err := New(DefaultConfig(), opts)
	if err != nil {
		t.Fatal(err)
	}
	s.OnFigures(svc.Figures)
	return &env{t: t, ctx: context.Background(), s: s, clock: clock, svc: svc}
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t.Add(10 * time.Hour)
}

func (e *env) customer(name string) int64 {
	e.t.Helper()
	c, err := e.s.CreateCustomer(e.ctx, store.CustomerInput{Name: &name})
	if err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

// order records an order of amount (yuan, as text) for customer id at t.
func (e *env) order(id int64, amount string, at time.Time) {
	e.t.Helper()
	m, err := store.ParseMoney("amount", amount)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.CreateOrder(e.ctx, store.OrderInput{CustomerID: id, Kind: store.OrderPurchase, Amount: m, OccurredAt: &at}, time.UTC); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) get(id int64) *store.Customer {
	e.t.Helper()
	c, err := e.s.CustomerByID(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) recompute() int {
	e.t.Helper()
	n, err := e.svc.Recompute(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// stages is a customer's stage history as "from>to" strings.
func (e *env) stages(id int64) []string {
	e.t.Helper()
	cs, _, err := e.s.ListStageChanges(e.ctx, id, store.Page{Limit: 500})
	if err != nil {
		e.t.Fatal(err)
	}
	out := []string{}
	for _, c := range cs {
		out = append(out, c.From+">"+c.To)
	}
	return out
}

// Tiers by the Pareto rule through the database: orders and refunds, a
// tie straddling the A/B boundary, zero spend, no orders.
func TestRecomputeTiers(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			e := newEnv(t, d)
			ids := make([]int64, 6)
			for i := range ids {
				ids[i] = e.customer(fmt.Sprintf("C%d", i+1))
			}
			at := day("2026-12-01")
			e.order(ids[0], "7000", at)
			e.order(ids[1], "1000", at)
			e.order(ids[2], "500", at)
			e.order(ids[2], "500", at.Add(time.Hour))
			e.order(ids[3], "1200", at)
			e.order(ids[3], "-200", at.Add(time.Hour)) // a refund
			e.order(ids[4], "100", at)
			e.order(ids[4], "-100", at.Add(time.Hour)) // all refunded: no spend
			if n := e.recompute(); n != 6 {
				t.Fatalf("recompute = %d customers, want 6", n)
			}
			want := []store.Tier{"A", "B", "B", "B", "C", "C"}
			for i, id := range ids {
				c := e.get(id)
				if c.Tier != want[i] {
					t.Errorf("C%d: tier %s, want %s (spend %s)", i+1, c.Tier, want[i], c.Stats.Spend)
				}
			}
			if c := e.get(ids[3]); c.Stats.Spend != store.Fen(100000) || c.Stats.LifetimeOrders != 1 || c.Stats.LifetimeSpend != store.Fen(100000) {
				t.Errorf("C4 with a refund: %+v", c.Stats)
			}
			if c := e.get(ids[4]); c.RFM == nil || c.Stats.Orders != 1 || c.Stats.Spend.Fen() != 0 {
				t.Errorf("C5, refunded: %+v %+v", c.Stats, c.RFM)
			}
			if c := e.get(ids[5]); c.RFM != nil || c.Stage != store.StagePotential || c.Stats.ComputedAt != nil {
				t.Errorf("C6, no orders: %+v %+v", c.Stats, c.RFM)
			}
		})
	}
}

// Stages over a simulated year and a half (fixed clock, a nightly run a
// week, orders as they come): a monthly buyer who stops, a one-time buyer,
// a customer who never buys, and one who churns and is won back.
func TestStagesOverTime(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			e := newEnv(t, d)
			start := day("2026-01-01")
			monthly, once, never, back := e.customer("monthly"), e.customer("once"), e.customer("never"), e.customer("back")
			orders := map[int][]int64{10: {once}, 0: {monthly, back}, 20: {back}, 500: {back}}
			for n := 30; n <= 180; n += 30 {
				orders[n] = append(orders[n], monthly)
			}
			for n := 0; n <= 600; n++ {
				e.clock.Set(start.AddDate(0, 0, n))
				for _, id := range orders[n] {
					e.order(id, "100", e.clock.Now())
				}
				if n%7 == 6 {
					if _, err := e.svc.Nightly(e.ctx, e.clock.Now()); err != nil {
						t.Fatal(err)
					}
				}
			}
			want := map[int64][]string{
				monthly: {"potential>new", "new>active", "active>at-risk", "at-risk>churned"},
				once:    {"potential>new", "new>active", "active>at-risk", "at-risk>churned"},
				never:   {},
				back:    {"potential>new", "new>active", "active>at-risk", "at-risk>churned", "churned>active"},
			}
			for id, w := range want {
				if diff := cmp.Diff(w, e.stages(id)); diff != "" {
					t.Errorf("customer %d (-want +got):\n%s", id, diff)
				}
			}
			// When: the one-time buyer (order on day 10) is new until day
			// 40, at risk after day 101, churned from day 375, each seen
			// at the first weekly run after (days 41, 104, 377).
			cs, _, _ := e.s.ListStageChanges(e.ctx, once, store.Page{})
			var got []string
			for _, c := range cs {
				got = append(got, c.At.Format(time.DateOnly)+" "+c.Reason)
			}
			wantOnce := []string{"2026-01-11 first order", "2026-02-11 first order 31 days ago",
				"2026-04-15 one-time buyer, no order for 94 days", "2027-01-13 no order for 367 days"}
			if diff := cmp.Diff(wantOnce, got); diff != "" {
				t.Errorf("one-time buyer's changes (-want +got):\n%s", diff)
			}
			b := e.get(back)
			last, _, _ := e.s.ListStageChanges(e.ctx, back, store.Page{Limit: 500})
			if b.Stage != store.StageActive || b.Stats.WonBack != 1 || last[len(last)-1].Reason != "won back" {
				t.Errorf("won back: stage %s, stats %+v, last change %+v", b.Stage, b.Stats, last[len(last)-1])
			}
		})
	}
}

// A pinned tier and stage survive recomputes and orders, and show who
// pinned them; unpinning returns to the computed values at once.
func TestPins(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			e := newEnv(t, d)
			staff, err := e.s.CreateStaff(e.ctx, store.StaffInput{Name: "经理", Role: store.RoleManager})
			if err != nil {
				t.Fatal(err)
			}
			by := store.Actor{StaffID: &staff.ID, Role: store.RoleManager}
			big, small := e.customer("big"), e.customer("small")
			e.order(big, "250000", day("2026-12-20"))
			e.order(small, "10", day("2026-12-20"))
			c, err := e.s.UpdateCustomer(e.ctx, big, store.CustomerInput{Tier: store.PinTo(store.TierC), Stage: store.PinTo(store.StageChurned), By: &by})
			if err != nil {
				t.Fatal(err)
			}
			if !c.TierPinned || !c.StagePinned || c.TierPinnedBy == nil || *c.TierPinnedBy != staff.ID || c.TierPinnedAt == nil {
				t.Fatalf("pinned: %+v", c)
			}
			e.recompute()
			e.order(big, "1", e.clock.Now())
			e.recompute()
			c = e.get(big)
			if c.Tier != store.TierC || c.Stage != store.StageChurned || !c.TierPinned {
				t.Fatalf("after recomputes: tier %s stage %s", c.Tier, c.Stage)
			}
			if e.get(small).Tier != store.TierC { // 10 of 250,011: past the first 90 %
				t.Errorf("small = %s", e.get(small).Tier)
			}
			c, err = e.s.UpdateCustomer(e.ctx, big, store.CustomerInput{Tier: store.Unpin[store.Tier](), Stage: store.Unpin[store.Stage](), By: &by})
			if err != nil {
				t.Fatal(err)
			}
			if c.Tier != store.TierA || c.Stage != store.StageActive || c.TierPinned || c.StagePinned || c.TierPinnedBy != nil {
				t.Fatalf("unpinned: tier %s stage %s pinned %v/%v", c.Tier, c.Stage, c.TierPinned, c.StagePinned)
			}
			cs, _, _ := e.s.ListStageChanges(e.ctx, big, store.Page{})
			var got []string
			for _, ch := range cs {
				got = append(got, ch.From+">"+ch.To+" "+ch.Reason)
			}
			want := []string{"potential>new first order", fmt.Sprintf("new>churned pinned by staff %d", staff.ID), "churned>active unpinned"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
		})
	}
}

// seedYear gives n customers a spread of orders over the year before the
// env's clock: some monthly, some once, some refunded, some none. The
// orders are not refreshed as they come (no touch hook meanwhile), so a
// run has everything to do.
func seedYear(t *testing.T, e *env, n int) []int64 {
	t.Helper()
	e.s.OnFigures(nil)
	defer e.s.OnFigures(e.svc.Figures)
	now := e.clock.Now()
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = e.customer(fmt.Sprintf("K%02d", i))
		for k := 0; k < i%6; k++ {
			e.order(ids[i], fmt.Sprintf("%d.%02d", 10+i*7+k, i), now.AddDate(0, 0, -((i*37+k*41)%400)-1))
		}
		if i%5 == 0 && i%6 != 0 {
			e.order(ids[i], "-3.50", now.AddDate(0, 0, -2))
		}
	}
	return ids
}

// snapshot is what a recompute leaves: each customer's tier and stage,
// figures (their freshness aside) and history (when and why, not ids).
func (e *env) snapshot(ids []int64) []string {
	e.t.Helper()
	var out []string
	for _, id := range ids {
		c := e.get(id)
		st := *c.Stats
		st.ComputedAt = nil
		days := "-"
		if st.TypicalIntervalDays != nil {
			days = fmt.Sprint(*st.TypicalIntervalDays)
		}
		st.TypicalIntervalDays = nil
		out = append(out, fmt.Sprintf("%s %s %s %+v interval=%s %+v clv=%s risk=%d %q", c.Name, c.Tier, c.Stage, st, days, c.RFM, c.CLV, c.ChurnRisk, c.ChurnReasons))
		cs, _, _ := e.s.ListStageChanges(e.ctx, id, store.Page{Limit: 500})
		for _, ch := range cs {
			out = append(out, fmt.Sprintf("  %s>%s %s %s", ch.From, ch.To, ch.At.UTC().Format(time.RFC3339Nano), ch.Reason))
		}
	}
	var tiers []string // by customer: batches written side by side number them in any order
	for _, tier := range []string{"A", "B", "C"} {
		cs, err := e.s.ChangesTo(e.ctx, store.FieldTier, tier, time.Time{}, e.clock.Now().Add(time.Hour), 0, 1000)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, ch := range cs {
			tiers = append(tiers, fmt.Sprintf("customer %02d tier %s>%s %s %s", ch.CustomerID-ids[0], ch.From, ch.To, ch.At.UTC().Format(time.RFC3339Nano), ch.Reason))
		}
	}
	slices.Sort(tiers)
	return append(out, tiers...)
}

// A nightly run killed midway (its context cancelled after a few
// batches) stays claimed; once its lease lapses another process resumes
// it from its cursor, with the thresholds and time it started with, and
// the end is the same as an uninterrupted run's: no history row twice.
func TestRunKilledAndResumed(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			small := func(o *Options) { o.BatchSize, o.Writers, o.Holder = 4, 2, "first" }
			whole := newEnv(t, d, small)
			killed := newEnv(t, d, small)
			ids := seedYear(t, whole, 30)
			seedYear(t, killed, 30)
			if _, err := whole.svc.Nightly(whole.ctx, whole.clock.Now()); err != nil {
				t.Fatal(err)
			}
			want := whole.snapshot(ids)
			if len(want) < 30+20+15 {
				t.Fatalf("the run changed too little to tell (%d lines)", len(want))
			}
			ctx, cancel := context.WithCancel(killed.ctx)
			killed.svc.afterBatch = func(run *store.AnalyticsRun, batches int) {
				if batches >= 4 {
					cancel()
				}
			}
			_, err := killed.svc.Nightly(ctx, killed.clock.Now())
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("killed run: %v", err)
			}
			run, err := killed.s.AnalyticsRunByKey(killed.ctx, "nightly:2027-01-01")
			if err != nil || run.Status != store.RunRunning || run.Cursor == 0 || run.Customers >= 30 || run.Thresholds == "" {
				t.Fatalf("after the kill: %+v, %v", run, err)
			}
			// Another process, after the lease: it resumes the run.
			killed.clock.Advance(3 * time.Minute)
			other, err := New(DefaultConfig(), Options{Store: killed.s, Logger: quiet, BatchSize: 4, Holder: "second"})
			if err != nil {
				t.Fatal(err)
			}
			again, err := other.Nightly(killed.ctx, killed.clock.Now())
			if err != nil || again.ID != run.ID || again.Attempts != 2 || again.Status != store.RunDone || again.Customers != 30 {
				t.Fatalf("resumed: %+v, %v", again, err)
			}
			if diff := cmp.Diff(want, killed.snapshot(ids)); diff != "" {
				t.Errorf("resumed run differs from an uninterrupted one (-want +got):\n%s", diff)
			}
		})
	}
}

// Two replicas start the nightly run of one date at once: one does it,
// the other answers its run or that it is busy; each change is in the
// history once. Two recomputes asked for at once: one runs, the other is
// a conflict or finds nothing to change.
func TestReplicasRunOnce(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			cfg := storetest.Config(t, d)
			clock := storetest.NewClock(day("2027-01-01"))
			a := envOn(t, cfg, clock, func(o *Options) { o.Holder, o.BatchSize = "replica-a", 5 })
			b := envOn(t, cfg, clock, func(o *Options) { o.Holder, o.BatchSize = "replica-b", 5 })
			ids := seedYear(t, a, 40)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			runs := make([]*store.AnalyticsRun, 2)
			for i, e := range []*env{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					runs[i], errs[i] = e.svc.Nightly(e.ctx, clock.Now())
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil && !store.IsCode(err, store.ECONFLICT) {
					t.Fatalf("replica %d: %v", i, err)
				}
			}
			if errs[0] != nil && errs[1] != nil {
				t.Fatal("neither replica ran")
			}
			for range 2 {
				wg.Add(1)
				go func() { defer wg.Done(); a.svc.Recompute(a.ctx) }()
			}
			wg.Wait()
			run, _ := a.s.AnalyticsRunByKey(a.ctx, "nightly:2027-01-01")
			if run.Status != store.RunDone || run.Attempts != 1 {
				t.Errorf("nightly run: %+v", run)
			}
			// Each customer with orders moved from potential once, whoever
			// ran.
			moved := 0
			for i, id := range ids {
				cs, _, _ := a.s.ListStageChanges(a.ctx, id, store.Page{Limit: 500})
				if i%6 == 0 && len(cs) != 0 || i%6 != 0 && len(cs) != 1 {
					t.Errorf("customer %d: history %+v", id, cs)
				}
				moved += len(cs)
			}
			if moved == 0 {
				t.Error("no stage changed")
			}
		})
	}
}

// An order, a survey answer, a complaint and a staff reply update that
// one customer's figures at once (the touch hook); without the hook the
// touches wait, durable, for RefreshTouched.
func TestRefreshAfterEvents(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			e := newEnv(t, d)
			other := e.customer("other")
			e.order(other, "100", day("2026-12-01"))
			e.recompute()
			id := e.customer("王芳")
			e.order(id, "1280.5", e.clock.Now())
			c := e.get(id)
			if c.Stats.Orders != 1 || c.Stats.Spend != store.Fen(128050) || c.Tier != store.TierA || c.Stage != store.StageNew || c.RFM == nil {
				t.Fatalf("after an order: tier %s stage %s %+v %+v", c.Tier, c.Stage, c.Stats, c.RFM)
			}
			sv, err := e.s.CreateSurveys(e.ctx, []store.Survey{{CustomerID: id, Key: "s1", Channel: "telegram", ExpiresAt: e.clock.Now().Add(time.Hour)}})
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := e.s.AnswerSurvey(e.ctx, sv["s1"], 2, ""); !ok || err != nil {
				t.Fatalf("answer: %v %v", ok, err)
			}
			task, _, err := e.s.CreateTask(e.ctx, store.TaskInput{CustomerID: id, Kind: store.TaskComplaint, Title: "投诉"})
			if err != nil {
				t.Fatal(err)
			}
			cid := id
			if _, err := e.s.Enqueue(e.ctx, []store.Outbound{{CustomerID: &cid, Channel: "telegram", ChatID: "1", Text: "您好", IdempotencyKey: "agent:1"}}); err != nil {
				t.Fatal(err)
			}
			c = e.get(id)
			if *c.Stats.LastScore != 2 || c.Stats.OpenComplaints != 1 || c.Stats.LastStaffContactAt == nil ||
				!cmp.Equal(c.ChurnReasons, []string{"last survey score 2/5", "open complaint"}) || c.ChurnRisk != 35 {
				t.Fatalf("after a score, a complaint and a reply: %+v risk %d %q", c.Stats, c.ChurnRisk, c.ChurnReasons)
			}
			done := store.TaskDone
			if _, err := e.s.UpdateTask(e.ctx, task.ID, store.TaskUpdate{Status: &done}, store.SystemActor()); err != nil {
				t.Fatal(err)
			}
			if c = e.get(id); c.Stats.OpenComplaints != 0 || c.ChurnRisk != 20 {
				t.Fatalf("after the complaint closed: %+v risk %d", c.Stats, c.ChurnRisk)
			}
			if n, _ := e.s.TouchBacklog(e.ctx, 10); n != 0 {
				t.Errorf("%d touches left after refreshes", n)
			}
			// No hook: the order waits, touched, for the sweep.
			e.s.OnFigures(nil)
			e.order(other, "5", e.clock.Now())
			if c := e.get(other); c.Stats.Orders != 1 {
				t.Fatalf("refreshed without a hook: %+v", c.Stats)
			}
			// (One touched of two buyers moves the cut points: everyone.)
			if n, err := e.svc.RefreshTouched(e.ctx); n != 2 || err != nil {
				t.Fatalf("refresh touched = %d, %v", n, err)
			}
			if c := e.get(other); c.Stats.Orders != 2 {
				t.Fatalf("after the sweep: %+v", c.Stats)
			}
		})
	}
}

// A merge moves the history, keeps the latest score, drops the merged
// figures, and the kept customer's figures are recomputed with both
// customers' orders.
func TestMergeRecomputes(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			e := newEnv(t, d)
			phone := "13800138000"
			kept, err := e.s.CreateCustomer(e.ctx, store.CustomerInput{Name: ptr("Old"), Phone: &phone})
			if err != nil {
				t.Fatal(err)
			}
			gone := e.customer("New")
			e.order(kept.ID, "100", day("2026-12-01"))
			e.order(gone, "300", day("2026-12-20"))
			// The merged customer's pinned tier comes along.
			if _, err := e.s.UpdateCustomer(e.ctx, gone, store.CustomerInput{Tier: store.PinTo(store.TierB)}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.s.ProvePhone(e.ctx, store.PhoneProof{CustomerID: gone, Phone: phone, Method: store.MergeStaff}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.RefreshTouched(e.ctx); err != nil {
				t.Fatal(err)
			}
			c := e.get(kept.ID)
			if c.Stats.LifetimeOrders != 2 || c.Stats.Spend != store.Fen(40000) || c.Stage != store.StageActive || c.Tier != store.TierB || !c.TierPinned {
				t.Fatalf("kept after merge: %s %s pinned %v %+v", c.Tier, c.Stage, c.TierPinned, c.Stats)
			}
			tiers, _ := e.s.ChangesTo(e.ctx, store.FieldTier, "B", time.Time{}, e.clock.Now().Add(time.Hour), 0, 10)
			if len(tiers) != 2 || tiers[1].CustomerID != kept.ID || tiers[1].Reason != fmt.Sprintf("pinned on merged customer %d", gone) {
				t.Errorf("tier changes to B: %+v", tiers)
			}
			// The merged customer's history came along.
			if got := e.stages(kept.ID); !cmp.Equal(got, []string{"potential>active", "potential>new"}) {
				t.Errorf("history after merge: %v", got)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// The sweep refreshes a few touched customers one by one (not everyone),
// and the serve loop's sweep does it under a lease.
func TestSweepOneByOne(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			e := newEnv(t, d)
			ids := seedYear(t, e, 24) // touched, not refreshed
			e.recompute()
			before, _ := e.s.LastAnalyticsRun(e.ctx)
			e.s.OnFigures(nil)
			e.order(ids[1], "1", e.clock.Now())
			e.s.OnFigures(e.svc.Figures)
			e.clock.Advance(time.Minute)
			e.svc.sweep(e.ctx)
			if c := e.get(ids[1]); c.Stats.LifetimeOrders != 2 {
				t.Fatalf("after the sweep: %+v", c.Stats)
			}
			after, _ := e.s.LastAnalyticsRun(e.ctx)
			if n, _ := e.s.TouchBacklog(e.ctx, 10); n != 0 || after.ID != before.ID {
				t.Errorf("touches left %d; runs %d then %d (one touched of ~20 buyers is refreshed alone)", n, before.ID, after.ID)
			}
		})
	}
}
