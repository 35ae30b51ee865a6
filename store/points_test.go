package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/points"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

// pointsStore opens a store with the default rules (1 point a yuan; A
// earns 1.5×) plus a first-order bonus, on a clock.
func pointsStore(t *testing.T, dialect string, clock *storetest.Clock) *store.Store {
	t.Helper()
	s := storetest.Open(t, dialect, store.WithClock(clock.Now))
	setRules(s)
	return s
}

func setRules(s *store.Store) {
	c := points.DefaultConfig()
	c.FirstOrderBonus = 50
	s.OnPoints(points.Rules(c, shanghai))
}

func balance(t *testing.T, s *store.Store, id int64) int64 {
	t.Helper()
	c, err := s.CustomerByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.PointsSum(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if sum != c.Points {
		t.Fatalf("customer %d: balance %d, ledger sum %d", id, c.Points, sum)
	}
	return c.Points
}

func TestPointsEarnOnceUnderReimport(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			s := pointsStore(t, d, storetest.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)))
			ids := orderCustomers(t, s)
			if _, err := s.UpdateCustomer(ctx, ids[2], store.CustomerInput{Tier: store.PinTo(store.TierA)}); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
			rows := func() []store.OrderRow {
				var rs []store.OrderRow
				for i, in := range []store.OrderInput{
					{CustomerID: ids[1], Kind: store.OrderPurchase, Amount: store.Fen(12345), OccurredAt: &at},                 // 123
					{CustomerID: ids[1], Kind: store.OrderService, Amount: store.Fen(10099), OccurredAt: &at, OrderRef: "S-1"}, // 100
					{CustomerID: ids[2], Kind: store.OrderPurchase, Amount: store.Fen(10000), OccurredAt: &at},                 // 150 (A)
				} {
					o, err := s.CheckOrder(in)
					if err != nil {
						t.Fatal(err)
					}
					if o.DedupKey == nil {
						k := store.RowKey(o, 0)
						o.DedupKey = &k
					}
					rs = append(rs, store.OrderRow{Line: i + 2, Order: o})
				}
				return rs
			}
			for range 2 {
				err := s.ImportOrders(ctx, time.UTC, func(w *store.OrderImport) error { _, _, err := w.Insert(rows()); return err })
				if err != nil {
					t.Fatal(err)
				}
			}
			// The API retry of an imported order earns nothing more.
			if _, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: ids[1], Kind: store.OrderService, Amount: store.Fen(10099), OccurredAt: &at, OrderRef: "S-1"}, time.UTC); err != nil {
				t.Fatal(err)
			}
			for id, want := range map[int64]int64{ids[1]: 123 + 100 + 50, ids[2]: 150 + 50, ids[3]: 0} {
				if got := balance(t, s, id); got != want {
					t.Errorf("customer %d: %d points, want %d", id, got, want)
				}
			}
		})
	}
}

func TestPointsRefundReverses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		setRules(s)
		ids := orderCustomers(t, s)
		at := time.Now().Add(-time.Hour)
		order := func(in store.OrderInput) {
			t.Helper()
			in.OccurredAt = &at
			if _, err := s.CreateOrder(ctx, in, time.UTC); err != nil {
				t.Fatal(err)
			}
		}
		order(store.OrderInput{CustomerID: ids[1], Kind: store.OrderPurchase, Amount: store.Fen(100000), OrderRef: "P-1"}) // 1000 + 50
		// A partial refund takes back its share, twice; then no more than is left.
		order(store.OrderInput{CustomerID: ids[1], Kind: store.OrderPurchase, Amount: store.Fen(-25000), OrderRef: "R-1", RefundOf: "P-1"})
		if got := balance(t, s, ids[1]); got != 800 {
			t.Fatalf("after a quarter refund: %d, want 800", got)
		}
		order(store.OrderInput{CustomerID: ids[1], Kind: store.OrderPurchase, Amount: store.Fen(-25000), OrderRef: "R-1", RefundOf: "P-1"}) // retry
		order(store.OrderInput{CustomerID: ids[1], Kind: store.OrderPurchase, Amount: store.Fen(-100000), OrderRef: "R-2", RefundOf: "P-1"})
		if got := balance(t, s, ids[1]); got != 50 {
			t.Fatalf("after refunding the rest: %d, want 50 (the first-order bonus stays)", got)
		}
		// Without refund_of: what the amount earns now. Spent points may
		// leave the balance below zero.
		order(store.OrderInput{CustomerID: ids[1], Kind: store.OrderService, Amount: store.Fen(-10000)})
		if got := balance(t, s, ids[1]); got != -50 {
			t.Fatalf("after an unlinked refund: %d, want -50", got)
		}
		for _, bad := range []store.OrderInput{
			{CustomerID: ids[1], Kind: store.OrderPurchase, Amount: store.Fen(100), RefundOf: "P-1"},
			{CustomerID: ids[2], Kind: store.OrderPurchase, Amount: store.Fen(-100), RefundOf: "P-1"},
		} {
			bad.OccurredAt = &at
			if _, err := s.CreateOrder(ctx, bad, time.UTC); !store.IsCode(err, store.EINVALID) {
				t.Errorf("%+v: %v, want invalid", bad, err)
			}
		}
	})
}

func reward(t *testing.T, s *store.Store, pts int64, stock *int64) *store.Reward {
	t.Helper()
	r, err := s.CreateReward(context.Background(), store.RewardInput{Name: ptr("维修券"), Points: &pts, Value: ptr(store.Fen(5000)), Kind: ptr("repair"), ValidDays: ptr(30), Stock: stock})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Two store instances (replicas) redeem at once for points that pay for
// one: exactly one voucher, and the balance is right.
func TestPointsConcurrentRedemption(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			cfg := storetest.Config(t, d)
			a := storetest.OpenConfig(t, cfg)
			b := storetest.OpenConfig(t, cfg)
			orderCustomers(t, a)
			r := reward(t, a, 100, nil)
			for round := range 5 {
				top := int64(100) // to 150: one redemption's worth
				if round == 0 {
					top = 150
				}
				if _, err := a.AdjustPoints(ctx, store.SystemActor(), 1, store.PointsAdjustment{Points: top, Reason: "top up"}); err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				errs := make([]error, 8)
				for i := range errs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						s := a
						if i%2 == 1 {
							s = b
						}
						_, errs[i] = s.Redeem(ctx, store.SystemActor(), 1, store.Redemption{RewardID: r.ID})
					}()
				}
				wg.Wait()
				ok := 0
				for _, err := range errs {
					if err == nil {
						ok++
					} else if !store.IsCode(err, store.ECONFLICT) {
						t.Fatal(err)
					}
				}
				if ok != 1 {
					t.Fatalf("round %d: %d redemptions succeeded, want 1", round, ok)
				}
				if got, want := balance(t, a, 1), int64(50); got != want {
					t.Fatalf("round %d: balance %d, want %d", round, got, want)
				}
			}
			vs, err := a.CustomerVouchers(ctx, store.SystemActor(), 1, false)
			if err != nil || len(vs) != 5 {
				t.Fatalf("%d vouchers, %v; want 5", len(vs), err)
			}
		})
	}
}

// Many redemptions at once on two replicas, mixed: vouchers paid for,
// double taps, a stock, short balances. Each ends as it would alone.
func TestPointsConcurrentRedemptionMix(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			cfg := storetest.Config(t, d)
			a := storetest.OpenConfig(t, cfg)
			b := storetest.OpenConfig(t, cfg)
			ids := orderCustomers(t, a)
			for id, pts := range map[int64]int64{ids[1]: 1000, ids[2]: 250} {
				if _, err := a.AdjustPoints(ctx, store.SystemActor(), id, store.PointsAdjustment{Points: pts, Reason: "gift"}); err != nil {
					t.Fatal(err)
				}
			}
			unlimited, stocked := reward(t, a, 100, nil), reward(t, a, 10, ptr(int64(3)))
			type call struct {
				customer, reward int64
				key              string
			}
			var calls []call
			for range 5 {
				calls = append(calls, call{1, unlimited.ID, ""}, call{1, stocked.ID, ""}, call{2, unlimited.ID, ""})
			}
			for range 4 {
				calls = append(calls, call{1, unlimited.ID, "tap"})
			}
			calls = append(calls, call{3, unlimited.ID, ""}, call{3, unlimited.ID, ""})
			vs := make([]*store.Voucher, len(calls))
			errs := make([]error, len(calls))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, c := range calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := a
					if i%2 == 1 {
						s = b
					}
					<-start
					vs[i], errs[i] = s.Redeem(ctx, store.SystemActor(), ids[c.customer], store.Redemption{RewardID: c.reward, Key: c.key})
				}()
			}
			close(start)
			wg.Wait()
			type outcome struct{ Vouchers, Refused int }
			got := map[string]outcome{}
			tapIDs := map[int64]bool{}
			for i, c := range calls {
				k := fmt.Sprintf("customer %d, %d points", c.customer, map[int64]int64{unlimited.ID: 100, stocked.ID: 10}[c.reward])
				o := got[k]
				switch {
				case errs[i] == nil:
					o.Vouchers++
					if c.key != "" {
						tapIDs[vs[i].ID] = true
					}
				case store.IsCode(errs[i], store.ECONFLICT):
					o.Refused++
				default:
					t.Fatalf("call %d: %v", i, errs[i])
				}
				got[k] = o
			}
			want := map[string]outcome{
				"customer 1, 100 points": {Vouchers: 9}, // the four taps: one voucher
				"customer 1, 10 points":  {Vouchers: 3, Refused: 2},
				"customer 2, 100 points": {Vouchers: 2, Refused: 3},
				"customer 3, 100 points": {Refused: 2},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			if len(tapIDs) != 1 {
				t.Errorf("a double tap issued %d vouchers", len(tapIDs))
			}
			for id, want := range map[int64]int64{ids[1]: 1000 - 6*100 - 3*10, ids[2]: 50, ids[3]: 0} {
				if got := balance(t, a, id); got != want {
					t.Errorf("customer %d: balance %d, want %d", id, got, want)
				}
			}
			if r, err := a.Reward(ctx, stocked.ID); err != nil || *r.Stock != 0 {
				t.Errorf("stock %v (%v), want 0", *r.Stock, err)
			}
			for id, want := range map[int64]int{ids[1]: 9, ids[2]: 2, ids[3]: 0} {
				if vs, err := a.CustomerVouchers(ctx, store.SystemActor(), id, false); err != nil || len(vs) != want {
					t.Errorf("customer %d: %d vouchers (%v), want %d", id, len(vs), err, want)
				}
			}
		})
	}
}

func TestPointsRedeemDoubleTapAndStock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := orderCustomers(t, s)
		r := reward(t, s, 100, ptr(int64(1)))
		if _, err := s.Redeem(ctx, store.SystemActor(), ids[1], store.Redemption{RewardID: r.ID}); !store.IsCode(err, store.ECONFLICT) {
			t.Fatalf("no points: %v, want conflict", err)
		}
		for _, id := range []int64{ids[1], ids[2]} {
			if _, err := s.AdjustPoints(ctx, store.SystemActor(), id, store.PointsAdjustment{Points: 300, Reason: "gift"}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		vs := make([]*store.Voucher, 4)
		for i := range vs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := s.Redeem(ctx, store.SystemActor(), ids[1], store.Redemption{RewardID: r.ID, Key: "tap-1"})
				if err != nil {
					t.Error(err)
				}
				vs[i] = v
			}()
		}
		wg.Wait()
		for _, v := range vs[1:] {
			if v == nil || vs[0] == nil || v.ID != vs[0].ID {
				t.Fatalf("double tap issued several vouchers: %+v", vs)
			}
		}
		if got := balance(t, s, ids[1]); got != 200 {
			t.Fatalf("balance %d, want 200", got)
		}
		if _, err := s.Redeem(ctx, store.SystemActor(), ids[2], store.Redemption{RewardID: r.ID}); !store.IsCode(err, store.ECONFLICT) {
			t.Fatalf("out of stock: %v, want conflict", err)
		}
		if got := balance(t, s, ids[2]); got != 300 {
			t.Fatalf("a refused redemption moved the balance: %d", got)
		}
		if _, err := s.AdjustPoints(ctx, store.SystemActor(), ids[2], store.PointsAdjustment{Points: -301, Reason: "x"}); !store.IsCode(err, store.ECONFLICT) {
			t.Fatalf("adjust below zero: %v, want conflict", err)
		}
	})
}

func TestPointsVoucherUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		clock := storetest.NewClock(time.Now())
		cfg := storetest.Config(t, s.Dialect())
		s = storetest.OpenConfig(t, cfg, store.WithClock(clock.Now))
		orderCustomers(t, s)
		r := reward(t, s, 100, nil)
		if _, err := s.AdjustPoints(ctx, store.SystemActor(), 1, store.PointsAdjustment{Points: 200, Reason: "gift"}); err != nil {
			t.Fatal(err)
		}
		v1, err := s.Redeem(ctx, store.SystemActor(), 1, store.Redemption{RewardID: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		v2, err := s.Redeem(ctx, store.SystemActor(), 1, store.Redemption{RewardID: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(v1.Code) != 10 || v1.Code == v2.Code || v1.Status != store.VoucherUnused {
			t.Fatalf("vouchers %+v %+v", v1, v2)
		}
		at := time.Now().Add(-time.Minute)
		o, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: 1, Kind: store.OrderService, Amount: store.Fen(30000), OccurredAt: &at}, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		used, err := s.UseVoucher(ctx, store.SystemActor(), " "+v1.Code[:5]+" "+v1.Code[5:], &o.ID)
		if err != nil || used.Status != store.VoucherUsed || *used.OrderID != o.ID {
			t.Fatalf("use: %+v, %v", used, err)
		}
		if _, err := s.UseVoucher(ctx, store.SystemActor(), v1.Code, nil); !store.IsCode(err, store.ECONFLICT) {
			t.Fatalf("used twice: %v, want conflict", err)
		}
		clock.Advance(31 * 24 * time.Hour)
		if _, err := s.UseVoucher(ctx, store.SystemActor(), v2.Code, nil); !store.IsCode(err, store.ECONFLICT) {
			t.Fatalf("expired: %v, want conflict", err)
		}
		if _, err := s.UseVoucher(ctx, store.SystemActor(), "NOPE", nil); !store.IsCode(err, store.ENOTFOUND) {
			t.Fatalf("unknown code: %v", err)
		}
		vs, err := s.CustomerVouchers(ctx, store.SystemActor(), 1, false)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, v := range vs {
			got[v.Code] = v.Status
		}
		if diff := cmp.Diff(map[string]string{v1.Code: "used", v2.Code: "expired"}, got); diff != "" {
			t.Fatal(diff)
		}
	})
}

// Points earned in 2025 (Shanghai) expire at 2027-01-01 00:00 Shanghai,
// not an instant before; those earned a second into 2026 there stay.
func TestPointsExpiryBoundary(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			clock := storetest.NewClock(time.Date(2025, 12, 31, 15, 59, 59, 0, time.UTC)) // 23:59:59 Shanghai
			s := pointsStore(t, d, clock)
			ids := orderCustomers(t, s)
			earn := func(id, pts int64) {
				t.Helper()
				if _, err := s.AdjustPoints(ctx, store.SystemActor(), id, store.PointsAdjustment{Points: pts, Reason: "earned"}); err != nil {
					t.Fatal(err)
				}
			}
			earn(ids[1], 100)
			earn(ids[2], 70)
			clock.Advance(2 * time.Second) // 2026-01-01 00:00:01 Shanghai
			earn(ids[1], 40)
			earn(ids[3], 10)
			clock.Advance(time.Hour)
			// Customer 2 spends 30 of the 70 that are to expire: 40 expire.
			if _, err := s.AdjustPoints(ctx, store.SystemActor(), ids[2], store.PointsAdjustment{Points: -30, Reason: "spent"}); err != nil {
				t.Fatal(err)
			}
			v, err := s.CustomerPoints(ctx, store.SystemActor(), ids[1], 10)
			if err != nil {
				t.Fatal(err)
			}
			b27 := time.Date(2027, 1, 1, 0, 0, 0, 0, shanghai).UTC()
			b28 := time.Date(2028, 1, 1, 0, 0, 0, 0, shanghai).UTC()
			if diff := cmp.Diff([]store.Expiring{{Points: 100, On: b27}, {Points: 40, On: b28}}, v.Expiring); diff != "" {
				t.Fatalf("expiring: %s", diff)
			}
			res, err := s.ExpirePoints(ctx, b27.Add(-time.Millisecond))
			if err != nil || res.Customers != 0 {
				t.Fatalf("an instant early: %+v, %v", res, err)
			}
			clock.Set(b27)
			res, err = s.ExpirePoints(ctx, points.Boundary(clock.Now(), shanghai))
			if err != nil || res.Customers != 2 || res.Points != 140 {
				t.Fatalf("at the boundary: %+v, %v", res, err)
			}
			// Again, and from another replica: nothing more.
			again, err := s.ExpirePoints(ctx, b27)
			if err != nil || again.Customers != 0 || again.Skipped == 0 {
				t.Fatalf("again: %+v, %v", again, err)
			}
			for id, want := range map[int64]int64{ids[1]: 40, ids[2]: 0, ids[3]: 10} {
				if got := balance(t, s, id); got != want {
					t.Errorf("customer %d: %d, want %d", id, got, want)
				}
			}
			res, err = s.ExpirePoints(ctx, b28)
			if err != nil || res.Points != 50 {
				t.Fatalf("next year: %+v, %v", res, err)
			}
		})
	}
}

// Whatever happens in whatever order, the balance is the ledger's sum and
// never below zero but through a refund.
func TestPointsLedgerSumRandomized(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		setRules(s)
		ids := orderCustomers(t, s)
		rnd := rand.New(rand.NewPCG(1, 2))
		r := reward(t, s, 120, ptr(int64(10)))
		at := time.Now().Add(-time.Hour)
		var refs []string
		for i := range 120 {
			id := ids[1+rnd.IntN(3)]
			switch rnd.IntN(6) {
			case 0, 1:
				ref := fmt.Sprintf("O-%d", i)
				refs = append(refs, ref)
				_, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: id, Kind: store.OrderPurchase, Amount: store.Fen(int64(rnd.IntN(50000))), OrderRef: ref, OccurredAt: &at}, time.UTC)
				if err != nil {
					t.Fatal(err)
				}
			case 2:
				if len(refs) > 0 {
					ref := refs[rnd.IntN(len(refs))]
					_, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: id, Kind: store.OrderPurchase, Amount: store.Fen(-int64(1 + rnd.IntN(30000))), RefundOf: ref, OccurredAt: &at}, time.UTC)
					if err != nil && !store.IsCode(err, store.EINVALID) {
						t.Fatal(err)
					}
				}
			case 3:
				_, err := s.Redeem(ctx, store.SystemActor(), id, store.Redemption{RewardID: r.ID, Key: fmt.Sprint(rnd.IntN(40))})
				if err != nil && !store.IsCode(err, store.ECONFLICT) {
					t.Fatal(err)
				}
			case 4:
				_, err := s.AdjustPoints(ctx, store.SystemActor(), id, store.PointsAdjustment{Points: int64(rnd.IntN(400) - 200), Reason: "r"})
				if err != nil && !store.IsCode(err, store.ECONFLICT) && !store.IsCode(err, store.EINVALID) {
					t.Fatal(err)
				}
			case 5:
				if _, err := s.ExpirePoints(ctx, time.Now().AddDate(3, 0, i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, id := range ids[1:] {
			balance(t, s, id)
		}
	})
}

// A merge moves the ledger and the vouchers; the balances add up.
func TestPointsMerge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := orderCustomers(t, s)
		r := reward(t, s, 10, nil)
		for _, id := range []int64{ids[1], ids[2]} {
			if _, err := s.AdjustPoints(ctx, store.SystemActor(), id, store.PointsAdjustment{Points: 100, Reason: "gift"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Redeem(ctx, store.SystemActor(), ids[2], store.Redemption{RewardID: r.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ProvePhone(ctx, store.PhoneProof{CustomerID: ids[1], Phone: "+8613800000002", Method: store.MergeTelegramContact}); err != nil {
			t.Fatal(err)
		}
		if got := balance(t, s, ids[1]); got != 190 {
			t.Fatalf("merged balance %d, want 190", got)
		}
		vs, err := s.CustomerVouchers(ctx, store.SystemActor(), ids[1], true)
		if err != nil || len(vs) != 1 {
			t.Fatalf("vouchers after merge: %d, %v", len(vs), err)
		}
	})
}
