package analytics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
	s.OnTouch(svc.Touched)
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

func TestRecomputeSmoke(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			e := newEnv(t, d)
			a, b, c := e.customer("A"), e.customer("B"), e.customer("C")
			e.order(a, "1000", day("2026-12-01"))
			e.order(a, "1000", day("2026-12-15"))
			e.order(b, "250.50", day("2026-11-01"))
			if n := e.recompute(); n != 3 {
				t.Fatalf("recompute = %d customers", n)
			}
			ca := e.get(a)
			if ca.Tier != store.TierA || ca.Stage != store.StageActive || ca.Stats.Orders != 2 || ca.Stats.Spend != store.Fen(200000) {
				t.Fatalf("A = tier %s stage %s stats %+v", ca.Tier, ca.Stage, ca.Stats)
			}
			if cb := e.get(b); cb.Tier != store.TierB || cb.Stage != store.StageActive {
				t.Fatalf("B = %s %s %+v", cb.Tier, cb.Stage, cb.Stats)
			}
			if cc := e.get(c); cc.Tier != store.TierC || cc.Stage != store.StagePotential || cc.RFM != nil {
				t.Fatalf("C = %s %s %+v", cc.Tier, cc.Stage, cc.RFM)
			}
			if diff := cmp.Diff([]string{"potential>active"}, e.stages(a)); diff != "" {
				t.Errorf("A stages (-want +got):\n%s", diff)
			}
			// Incremental: C's first order makes C new at once.
			e.order(c, "10", e.clock.Now())
			if cc := e.get(c); cc.Stage != store.StageNew || cc.Stats.Orders != 1 || cc.RFM == nil {
				t.Fatalf("C after an order = %s %+v %+v", cc.Stage, cc.Stats, cc.RFM)
			}
			fmt.Println(e.get(a).ChurnReasons, e.get(b).RFM, e.get(a).CLV)
		})
	}
}
