package analytics

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
)

// Tier boundaries: the running share *before* a customer decides, equal
// spends straddling a boundary get the tier of the first of them, and no
// spend (zero, or refunds as large as the purchases) is C.
func TestTierCuts(t *testing.T) {
	tests := []struct {
		name   string
		spends []int64 // window spend per customer, fen (any order)
		want   []store.Tier
	}{
		{"pareto", []int64{50, 30, 10, 10}, []store.Tier{"A", "A", "B", "B"}},
		{"exactly at a_share is not below it", []int64{70, 20, 10}, []store.Tier{"A", "B", "C"}},
		{"a tie straddling A and B is all A", []int64{40, 30, 30}, []store.Tier{"A", "A", "A"}},
		{"a tie straddling B and C is all B", []int64{70, 10, 10, 10}, []store.Tier{"A", "B", "B", "B"}},
		{"one buyer is A", []int64{1}, []store.Tier{"A"}},
		{"zero and refunds are C", []int64{100, 0, -50}, []store.Tier{"A", "C", "C"}},
		{"everyone equal is A", []int64{5, 5, 5, 5}, []store.Tier{"A", "A", "A", "A"}},
		{"large sums stay exact", []int64{math.MaxInt64 / 4, math.MaxInt64 / 4, math.MaxInt64 / 4, math.MaxInt64 / 8, 1}, []store.Tier{"A", "A", "A", "B", "C"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := make([]figures, len(tt.spends))
			for i, s := range tt.spends {
				fs[i] = figures{id: int64(i + 1), spend: s, lifetime: 1, last: 1}
			}
			th := thresholdsOf(fs, DefaultConfig(), nil)
			got := make([]store.Tier, len(tt.spends))
			for i, s := range tt.spends {
				got[i] = th.tier(s)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tiers (-want +got):\n%s\nthresholds %+v", diff, th)
			}
		})
	}
	// Before any run, a buyer is judged alone: any spend is A.
	if noThresholds.tier(1) != store.TierA || noThresholds.tier(0) != store.TierC {
		t.Error("tiers before any run")
	}
}

// RFM quintiles by mid-rank: equal values share a score; a skewed
// population (most customers with one order) scores the many in the
// middle and the few above them 5; the cut points carry the scores to new
// values.
func TestCutsOf(t *testing.T) {
	tests := []struct {
		name   string
		asc    []int64
		probe  []int64
		scores []int
		median int64
	}{
		{"five values", []int64{1, 2, 3, 4, 5}, []int64{0, 1, 2, 3, 4, 5, 9}, []int{1, 1, 2, 3, 4, 5, 5}, 3},
		{"ten values", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []int64{1, 2, 3, 4, 9, 10}, []int{1, 1, 2, 2, 5, 5}, 5},
		{"skewed", []int64{1, 1, 1, 1, 1, 1, 1, 1, 2, 2}, []int64{0, 1, 2, 3}, []int{1, 3, 5, 5}, 1},
		{"one value", []int64{7}, []int64{6, 7, 8}, []int{1, 3, 3}, 7},
		{"all equal", []int64{4, 4, 4}, []int64{3, 4, 5}, []int{1, 3, 3}, 4},
		{"a whale", []int64{10, 10, 10, 10, 1e9}, []int64{9, 10, 11, 1e9}, []int{1, 3, 3, 5}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cutsOf(tt.asc)
			var got []int
			for _, v := range tt.probe {
				got = append(got, c.score(v))
			}
			if diff := cmp.Diff(tt.scores, got); diff != "" || c.Median != tt.median {
				t.Errorf("scores (-want +got):\n%s\ncuts %+v, median %d want %d", diff, c, c.Median, tt.median)
			}
		})
	}
}

func TestSegmentOf(t *testing.T) {
	want := map[[3]bool]string{
		{true, true, true}: "important_value", {false, true, true}: "important_keep",
		{true, false, true}: "important_develop", {false, false, true}: "important_retain",
		{true, true, false}: "general_value", {false, true, false}: "general_keep",
		{true, false, false}: "general_develop", {false, false, false}: "general_retain",
	}
	for k, w := range want {
		if got := segmentOf(k[0], k[1], k[2]); got != w || !store.ValidRFMSegment(got) {
			t.Errorf("segmentOf%v = %s, want %s", k, got, w)
		}
	}
}

func TestFiguresOf(t *testing.T) {
	d := func(n int) int64 { return int64(n) * dayMs }
	w := window{asOf: d(400), start: d(35), prevStart: d(-330)}
	ps := []store.OrderPoint{
		{At: d(1), Fen: 10000},   // before the window: previous window
		{At: d(11), Fen: 20000},  // previous window (start is exclusive... at 35)
		{At: d(15), Fen: -5000},  // a refund: spend only
		{At: d(41), Fen: 0},      // a free visit is an order
		{At: d(71), Fen: 128050}, // 1280.50
	}
	f, _ := figuresOf(9, ps, w, nil)
	want := figures{id: 9, first: d(1), last: d(71), spend: 128050, lifetimeSpend: 153050,
		interval: int32((d(30) / 1000)), orders: 2, prevOrders: 2, lifetime: 4} // gaps 10, 30, 30 days
	if f != want {
		t.Errorf("figures = %+v, want %+v", f, want)
	}
	if f, _ := figuresOf(1, []store.OrderPoint{{At: d(50), Fen: -100}}, w, nil); f.lifetime != 0 || f.lifetimeSpend != -100 || f.spend != -100 {
		t.Errorf("refund only = %+v", f)
	}
	// Two receipts of one visit make no interval.
	visit := []store.OrderPoint{{At: d(50), Fen: 100}, {At: d(50) + 3600_000, Fen: 100}}
	if f, _ := figuresOf(1, visit, w, nil); f.lifetime != 2 || f.repeat() {
		t.Errorf("one visit = %+v", f)
	}
	if f, _ := figuresOf(1, append(visit, store.OrderPoint{At: d(60), Fen: 1}), w, nil); f.interval != int32((d(10)-3600_000)/1000) {
		t.Errorf("a visit and another = %+v", f)
	}
}

func TestStage(t *testing.T) {
	m := model{c: DefaultConfig()}
	now := 1000 * dayMs
	one := func(daysAgo int64) figures {
		return figures{first: now - daysAgo*dayMs, last: now - daysAgo*dayMs, lifetime: 1}
	}
	repeat := func(daysAgo int64, intervalDays int32) figures {
		return figures{first: now - 500*dayMs, last: now - daysAgo*dayMs, lifetime: 3, interval: intervalDays * 86400}
	}
	tests := []struct {
		name string
		f    figures
		want store.Stage
	}{
		{"no orders", figures{}, store.StagePotential},
		{"refunds only", figures{lifetimeSpend: -100}, store.StagePotential},
		{"first order 29 days ago", one(29), store.StageNew},
		{"first order 30 days ago", one(30), store.StageActive},
		{"one-time buyer 90 days", one(90), store.StageActive},
		{"one-time buyer 91 days", one(91), store.StageAtRisk},
		{"one-time buyer 365 days", one(365), store.StageChurned},
		{"repeat, 2 intervals", repeat(60, 30), store.StageActive},
		{"repeat, past 2 intervals", repeat(61, 30), store.StageAtRisk},
		{"orders less than a day apart are one visit", repeat(3, 0), store.StageNew},
		{"repeat, churned", repeat(365, 200), store.StageChurned},
	}
	for _, tt := range tests {
		if got := m.stage(tt.f, now); got != tt.want {
			t.Errorf("%s: stage = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestRisk(t *testing.T) {
	m := model{c: DefaultConfig()}
	now := 1000 * dayMs
	two, three := 2, 3
	tests := []struct {
		name    string
		f       figures
		p       person
		risk    int
		reasons []string
	}{
		{"fresh", figures{first: now - dayMs, last: now - dayMs, lifetime: 1, orders: 1}, person{}, 0, []string{}},
		{"overdue", figures{last: now - 45*dayMs, lifetime: 3, interval: 30 * 86400, orders: 3}, person{}, 20, []string{"overdue 1.5× typical interval"}},
		{"one-time buyer", figures{first: now - 90*dayMs, last: now - 90*dayMs, lifetime: 1}, person{}, 40, []string{"one-time buyer, no order since 1972-06-29"}},
		{"churned", figures{last: now - 400*dayMs, lifetime: 2}, person{}, 100, []string{"no order since 1971-08-24"}},
		{"falling frequency", figures{last: now - dayMs, lifetime: 7, interval: 30 * 86400, orders: 2, prevOrders: 5}, person{}, 15, []string{"ordering less often (2 vs 5)"}},
		{"everything", figures{last: now - 75*dayMs, lifetime: 3, interval: 30 * 86400, orders: 1, prevOrders: 2}, person{optOut: true, lastScore: &two, complaints: 1}, 100,
			[]string{"overdue 2.5× typical interval", "last survey score 2/5", "opted out", "open complaint", "ordering less often (1 vs 2)"}},
		{"no orders, a middling score", figures{}, person{lastScore: &three}, 5, []string{"last survey score 3/5"}},
	}
	for _, tt := range tests {
		risk, reasons := m.risk(tt.f, tt.p, now)
		if risk != tt.risk || !cmp.Equal(reasons, tt.reasons) {
			t.Errorf("%s: risk %d %q, want %d %q", tt.name, risk, reasons, tt.risk, tt.reasons)
		}
	}
}

func TestCLV(t *testing.T) {
	f := figures{lifetime: 2, lifetimeSpend: 200000, orders: 2}
	tests := []struct {
		f    figures
		risk int
		want int64
	}{
		{f, 0, 200000 + 100000*2*10},     // 10 years' worth at no risk
		{f, 40, 200000 + 100000*2*60/50}, // (100-40)/(10+40)
		{f, 100, 200000},                 // churned: history only
		{figures{lifetime: 1, lifetimeSpend: 333, orders: 1}, 0, 333 + 3330},
		{figures{lifetime: 2, lifetimeSpend: -500, orders: 2}, 0, -500}, // refunds beyond spend
		{figures{lifetime: 1, lifetimeSpend: store.MaxMoney, orders: 1}, 0, store.MaxMoney},
	}
	for _, tt := range tests {
		if got := clv(tt.f, tt.risk, 12); got != tt.want {
			t.Errorf("clv(%+v, %d) = %d, want %d", tt.f, tt.risk, got, tt.want)
		}
	}
}
