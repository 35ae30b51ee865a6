package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

var segNow = time.Date(2027, 3, 10, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai

type segCustomer struct {
	name     string
	tier     store.Tier
	city     string
	district string
	source   string
	channel  string
	tags     []string
	birthday string
	points   int64
	optOut   bool
	// figures (nil: no stats row)
	stats *store.CustomerStats
	// an order of kind ago days before now; an asset
	orderKind string
	orderAgo  int
	assetKind string
	assetYear int
}

// segmentFixture makes four customers covering every filter key.
func segmentFixture(t *testing.T, s *store.Store) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	ago := func(d int) *time.Time { v := segNow.AddDate(0, 0, -d); return &v }
	cs := []segCustomer{
		{name: "amy", tier: store.TierA, city: "上海", district: "浦东", source: "import", channel: store.ChannelTelegram,
			tags: []string{"vip", "car"}, birthday: "05-17", points: 500,
			stats:     &store.CustomerStats{Segment: "important_value", ChurnRisk: 80, CLV: store.Fen(500000), LastOrderAt: ago(200)},
			orderKind: store.OrderService, orderAgo: 200, assetKind: "car", assetYear: 2015},
		{name: "bob", tier: store.TierB, city: "北京", source: "api", channel: store.ChannelWeChat, tags: []string{"car"}, birthday: "06-01",
			stats:     &store.CustomerStats{Segment: "general_keep", ChurnRisk: 10, CLV: store.Fen(10000), LastOrderAt: ago(10)},
			orderKind: store.OrderPurchase, orderAgo: 10, assetKind: "motorcycle", assetYear: 2024},
		{name: "cat", tier: store.TierA, city: "上海", source: "import", channel: store.ChannelTelegram, tags: []string{"vip"}, optOut: true,
			stats: &store.CustomerStats{Segment: "important_value", ChurnRisk: 90, CLV: store.Fen(900000), LastOrderAt: ago(300)}},
		{name: "dan", tier: store.TierC, city: "广州", source: "api", channel: store.ChannelWebChat, tags: []string{"vip", "new"}},
	}
	ids := map[string]int64{}
	var stats []*store.CustomerStats
	for i, c := range cs {
		in := store.CustomerInput{Name: &c.name, City: &c.city, District: &c.district, Source: &c.source, Tags: &c.tags,
			Tier: store.PinTo(c.tier), Identities: []store.IdentityRef{{Channel: c.channel, ExternalID: "seg-" + c.name}}}
		if c.birthday != "" {
			in.Birthday = &c.birthday
		}
		if c.optOut {
			in.OptOut = &c.optOut
		}
		got, err := s.CreateCustomer(ctx, in)
		if err != nil {
			t.Fatalf("customer %d: %v", i, err)
		}
		ids[c.name] = got.ID
		if c.points > 0 {
			if _, err := s.AdjustPoints(ctx, store.SystemActor(), got.ID, store.PointsAdjustment{Points: c.points, Reason: "opening balance"}); err != nil {
				t.Fatal(err)
			}
		}
		if c.orderKind != "" {
			if _, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: got.ID, Kind: c.orderKind, Amount: store.Fen(10000), OccurredAt: ago(c.orderAgo)}, time.UTC); err != nil {
				t.Fatal(err)
			}
		}
		if c.assetKind != "" {
			if _, err := s.CreateAsset(ctx, got.ID, store.AssetInput{Name: c.assetKind, Kind: c.assetKind, Year: c.assetYear, NextServiceDue: "2027-12-01"}, time.UTC); err != nil {
				t.Fatal(err)
			}
		}
		if c.stats != nil {
			st := *c.stats
			st.CustomerID, st.FiguresAt = got.ID, segNow
			stats = append(stats, &st)
		}
	}
	if _, err := s.WriteFigures(ctx, store.FigureWrite{Stats: stats, At: segNow}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestSegmentFilters(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	tests := []struct {
		filter string
		want   []string
	}{
		{`{}`, []string{"amy", "bob", "dan"}}, // cat opted out: never a member
		{`{"tier":["A"]}`, []string{"amy"}},
		{`{"tier":"b"}`, []string{"bob"}},
		{`{"stage":["potential"]}`, []string{"amy", "bob", "dan"}},
		{`{"stage":["active"]}`, nil},
		{`{"rfm_segment":["important_value"]}`, []string{"amy"}},
		{`{"source":["api"]}`, []string{"bob", "dan"}},
		{`{"channel":["wechat","webchat"]}`, []string{"bob", "dan"}},
		{`{"city":["上海"]}`, []string{"amy"}},
		{`{"district":["浦东"]}`, []string{"amy"}},
		{`{"tags_any":["new","car"]}`, []string{"amy", "bob", "dan"}},
		{`{"tags_all":["vip","car"]}`, []string{"amy"}},
		{`{"tags_none":["vip"]}`, []string{"bob"}},
		{`{"birthday_month":5}`, []string{"amy"}},
		{`{"birthday_month":[5,6]}`, []string{"amy", "bob"}},
		{`{"last_order_before":"150d"}`, []string{"amy"}},
		{`{"last_order_after":"30d"}`, []string{"bob"}},
		{`{"last_order_after":"2026-01-01"}`, []string{"amy", "bob"}},
		{`{"order_kind":"service"}`, []string{"amy"}},
		{`{"order_kind":["service"],"last_order_before":"150d"}`, []string{"amy"}},
		{`{"order_kind":["purchase"],"last_order_before":"150d"}`, nil},
		{`{"churn_risk_min":50}`, []string{"amy"}},
		{`{"clv_min":"1000.00"}`, []string{"amy"}},
		{`{"clv_min":100}`, []string{"amy", "bob"}},
		{`{"points_min":100}`, []string{"amy"}},
		{`{"asset_kind":["car"]}`, []string{"amy"}},
		{`{"asset_age_min":5}`, []string{"amy"}},
		{`{"asset_age_max":5}`, []string{"bob"}},
		{`{"asset_kind":"car","asset_age_max":5}`, nil},
		// Combined: the manager's "tier A in 上海, last service over 150 days ago".
		{`{"tier":["A"],"city":["上海"],"order_kind":"service","last_order_before":"150d"}`, []string{"amy"}},
		{`{"tier":["A","B"],"tags_any":["car"],"channel":["wechat"],"churn_risk_min":5}`, []string{"bob"}},
		{`{"tier":["A"],"city":["北京"]}`, nil},
	}
	eachAt(t, segNow, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := segmentFixture(t, s)
		names := map[int64]string{}
		for n, id := range ids {
			names[id] = n
		}
		for _, tc := range tests {
			f, err := store.ParseSegmentFilter([]byte(tc.filter))
			if err != nil {
				t.Fatalf("%s: %v", tc.filter, err)
			}
			q := store.SegmentQuery{Filter: f, Now: segNow, Loc: shanghai}
			n, err := s.CountSegment(ctx, q)
			if err != nil {
				t.Fatalf("%s: %v", tc.filter, err)
			}
			ms, next, err := s.SegmentMembers(ctx, q, store.Page{Limit: 500})
			if err != nil || next != "" {
				t.Fatalf("%s: %v %q", tc.filter, err, next)
			}
			var got []string
			for _, m := range ms {
				got = append(got, names[m.ID])
			}
			slices.Sort(got)
			if diff := cmp.Diff(tc.want, got); diff != "" || n != int64(len(tc.want)) {
				t.Errorf("%s: count %d, members (-want +got):\n%s", tc.filter, n, diff)
			}
		}
		// The opted-out count a dry run shows.
		f, _ := store.ParseSegmentFilter([]byte(`{"tier":["A"]}`))
		if n, err := s.CountSegment(ctx, store.SegmentQuery{Filter: f, Now: segNow, OptedOut: true}); err != nil || n != 1 {
			t.Errorf("opted out: %d, %v; want 1", n, err)
		}
	})
}

func TestSegmentFilterErrors(t *testing.T) {
	tests := []struct{ filter, field string }{
		{`{"tierz":["A"]}`, "filter.tierz"},
		{`{"tier":["D"]}`, "filter.tier"},
		{`{"stage":["sleepy"]}`, "filter.stage"},
		{`{"channel":"fax"}`, "filter.channel"},
		{`{"birthday_month":13}`, "filter.birthday_month"},
		{`{"last_order_before":"yesterday"}`, "filter.last_order_before"},
		{`{"churn_risk_min":101}`, "filter.churn_risk_min"},
		{`{"clv_min":"1.234"}`, "filter.clv_min"},
		{`{"points_min":-1}`, "filter.points_min"},
		{`{"order_kind":"gift"}`, "filter.order_kind"},
		{`{"city":["` + strings.Repeat("x", 65) + `"]}`, "filter.city"},
		{`{"city":` + "[" + strings.Repeat(`"a",`, 100) + `"b"]}`, "filter.city"},
		{`[1,2]`, "filter"},
		{`{"asset_age_min":9,"asset_age_max":2}`, "filter.asset_age_min"},
	}
	for _, tc := range tests {
		_, err := store.ParseSegmentFilter([]byte(tc.filter))
		var e *store.Error
		if err == nil || !asErr(err, &e) || e.Code != store.EINVALID || e.Field != tc.field {
			t.Errorf("%s: %v; want invalid naming %s", tc.filter, err, tc.field)
		}
	}
}

func asErr(err error, e **store.Error) bool {
	x, ok := err.(*store.Error)
	*e = x
	return ok
}

func TestSegmentNarrow(t *testing.T) {
	f, err := store.ParseSegmentFilter([]byte(`{"city":["上海","北京"],"tier":"A"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Narrow(map[string]string{"city": "上海", "alert": "台风", "birthday_month": "5"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.City, []string{"上海"}) || !slices.Equal(got.BirthdayMonth, []int{5}) || !slices.Equal(got.Tier, []string{"A"}) {
		t.Errorf("narrowed %+v", got)
	}
	if _, err := f.Narrow(map[string]string{"tier": "Z"}); store.ErrorCode(err) != store.EINVALID {
		t.Errorf("bad var: %v", err)
	}
}

// eachAt is storetest.Each with the store's clock standing at now.
func eachAt(t *testing.T, now time.Time, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			fn(t, storetest.Open(t, d, store.WithClock(storetest.NewClock(now).Now)))
		})
	}
}
