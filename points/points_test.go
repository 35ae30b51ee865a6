package points_test

import (
	"context"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/points"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func shanghai(t *testing.T) *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// floor(yuan × earn × multiplier), exact where floats are not: 100 yuan at
// 1.2 is 120, not 119.
func TestOrderPoints(t *testing.T) {
	r := points.Rules(points.DefaultConfig(), time.UTC)
	tests := []struct {
		fen  int64
		tier store.Tier
		want int64
	}{
		{10000, store.TierB, 120}, {10000, store.TierA, 150}, {10000, store.TierC, 100}, {12345, store.TierA, 185},
		{99, store.TierC, 0}, {100, store.TierC, 1}, {-5000, store.TierC, 0}, {10000, "", 100},
		{99999999999999, store.TierA, 1499999999999},
	}
	for _, tt := range tests {
		if got := r.Order(store.OrderPurchase, store.Fen(tt.fen), tt.tier); got != tt.want {
			t.Errorf("%d fen, tier %q: %d points, want %d", tt.fen, tt.tier, got, tt.want)
		}
	}
}

func TestExpiryDates(t *testing.T) {
	sh := shanghai(t)
	tests := []struct {
		at   time.Time
		want time.Time
	}{
		{time.Date(2025, 12, 31, 15, 59, 59, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, sh)}, // 23:59:59 on Dec 31 in Shanghai
		{time.Date(2025, 12, 31, 16, 0, 0, 0, time.UTC), time.Date(2028, 1, 1, 0, 0, 0, 0, sh)},   // already 2026 there
	}
	for _, tt := range tests {
		if got := points.EndOfNextYear(tt.at, sh); !got.Equal(tt.want) {
			t.Errorf("EndOfNextYear(%v) = %v, want %v", tt.at, got, tt.want)
		}
	}
	c := points.DefaultConfig()
	svc, err := points.New(c, points.Options{Location: sh})
	if err != nil {
		t.Fatal(err)
	}
	if at, ok := svc.NoticeFor(time.Date(2026, 12, 2, 0, 0, 0, 0, sh)); !ok || !at.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, sh)) {
		t.Errorf("notice on Dec 2: %v %v", at, ok)
	}
	if _, ok := svc.NoticeFor(time.Date(2026, 12, 3, 0, 0, 0, 0, sh)); ok {
		t.Error("notice on Dec 3")
	}
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]func(*points.Config){
		"kind":       func(c *points.Config) { c.Earn["gift"] = 1 },
		"negative":   func(c *points.Config) { c.Earn["purchase"] = -1 },
		"decimals":   func(c *points.Config) { c.TierMultiplier["A"] = 1.0001 },
		"tier":       func(c *points.Config) { c.TierMultiplier["D"] = 1 },
		"bonus":      func(c *points.Config) { c.SurveyBonus = -1 },
		"policy":     func(c *points.Config) { c.Expire = "monthly" },
		"noticeDays": func(c *points.Config) { c.ExpiryNoticeDays = 400 },
	} {
		cfg := points.DefaultConfig()
		c(&cfg)
		if cfg.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := points.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// The daily job at the first minute of 2027 in Shanghai expires what 2025
// earned, gives the birthday bonus once, and a second run (a replica, the
// CLI) does nothing more.
func TestDaily(t *testing.T) {
	sh := shanghai(t)
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			clock := storetest.NewClock(time.Date(2025, 6, 1, 0, 0, 0, 0, sh))
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			c := points.DefaultConfig()
			c.BirthdayBonus = 20
			svc, err := points.New(c, points.Options{Store: s, Location: sh, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			s.OnPoints(svc.Rules())
			cu, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("王芳"), Birthday: ptr("01-01")})
			if err != nil {
				t.Fatal(err)
			}
			at := clock.Now()
			if _, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: cu.ID, Kind: store.OrderPurchase, Amount: store.Fen(30000), OccurredAt: &at}, sh); err != nil {
				t.Fatal(err)
			}
			clock.Set(time.Date(2027, 1, 1, 0, 1, 0, 0, sh))
			for i := range 2 {
				r, err := svc.Daily(ctx, clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				want := points.DailyResult{Expiry: store.ExpiryResult{Customers: 1, Points: 300, Blocks: 1}, Birthdays: 1}
				if i == 1 {
					want = points.DailyResult{Expiry: store.ExpiryResult{Skipped: 1}}
				}
				if r != want {
					t.Fatalf("run %d: %+v, want %+v", i, r, want)
				}
			}
			got, err := s.CustomerByID(ctx, cu.ID)
			if err != nil || got.Points != 20 {
				t.Fatalf("balance %d, %v; want the birthday bonus only", got.Points, err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
