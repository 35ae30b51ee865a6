package analytics

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// The models, as pure functions of a customer's orders (figures), the
// population's cut points (Thresholds) and the config. The nightly job and
// the one-customer refresh call the same ones. docs/analytics.md states
// them for people.

const dayMs = int64(24 * time.Hour / time.Millisecond)

// none is a cut point nobody reaches.
const none = math.MaxInt64

// window is the time frame of a computation, in Unix ms: orders after
// start are in the window, those in (prevStart, start] in the one before.
type window struct {
	asOf, start, prevStart int64
}

func (c Config) windowAt(asOf time.Time) window {
	asOf = asOf.UTC()
	return window{asOf.UnixMilli(), asOf.AddDate(0, -c.WindowMonths, 0).UnixMilli(), asOf.AddDate(0, -2*c.WindowMonths, 0).UnixMilli()}
}

// figures are one customer's order figures. The nightly job keeps one per
// customer with orders in a slice: 56 bytes and no pointers, so a million
// customers take 56 MB and nothing for the garbage collector to trace.
type figures struct {
	id            int64
	first, last   int64 // Unix ms of the first and last order, refunds aside
	spend         int64 // fen in the window, refunds included
	lifetimeSpend int64 // fen
	interval      int32 // the typical interval, seconds (0: no two orders a day apart)
	orders        int32 // in the window, refunds aside
	prevOrders    int32 // in the window before
	lifetime      int32 // orders ever, refunds aside
}

// figuresOf sums up one customer's orders, oldest first. A refund (a
// negative amount) lowers spend but is not an order: it moves no date and
// makes no interval. Orders less than a day apart (two receipts of one
// visit) make no interval either: the typical interval is the median of
// the gaps of a day or more, and a customer without one buys like a
// one-time buyer. gaps is scratch space, returned for the next call.
func figuresOf(id int64, ps []store.OrderPoint, w window, gaps []int64) (figures, []int64) {
	f := figures{id: id}
	gaps = gaps[:0]
	for _, p := range ps {
		f.lifetimeSpend += p.Fen
		if p.At > w.start {
			f.spend += p.Fen
		}
		if p.Fen < 0 {
			continue
		}
		if f.lifetime == 0 {
			f.first = p.At
		} else if gap := p.At - f.last; gap >= dayMs {
			gaps = append(gaps, gap)
		}
		f.last = max(f.last, p.At)
		f.lifetime++
		switch {
		case p.At > w.start:
			f.orders++
		case p.At > w.prevStart:
			f.prevOrders++
		}
	}
	if n := len(gaps); n > 0 {
		slices.Sort(gaps)
		median := gaps[n/2]
		if n%2 == 0 {
			median = (gaps[n/2-1] + gaps[n/2]) / 2
		}
		f.interval = int32(min(median/1000, math.MaxInt32))
	}
	return f, gaps
}

// Thresholds are the population's cut points, from the last nightly run:
// the one-customer refresh judges a customer against them until the next.
type Thresholds struct {
	// Buyers is the population: customers with an order.
	Buyers int `json:"buyers"`
	// MinA and MinB are the least window spend (fen) of tier A and B.
	MinA int64 `json:"min_a"`
	MinB int64 `json:"min_b"`
	// R is scored on the time of the last order (Unix ms), F on orders in
	// the window, M on spend in the window (fen).
	R Cuts `json:"r"`
	F Cuts `json:"f"`
	M Cuts `json:"m"`
}

// Cuts score one RFM dimension: At holds the least value that scores 2,
// 3, 4 and 5 (none: no value does); Median is the population's median.
type Cuts struct {
	At     [4]int64 `json:"at"`
	Median int64    `json:"median"`
}

// noThresholds are those before any run: a customer is judged as if they
// were the only buyer (any spend is A), and gets no RFM scores.
var noThresholds = Thresholds{MinA: 1, MinB: 1}

// score is 1 plus the number of cut points v reaches.
func (c Cuts) score(v int64) int {
	s := 1
	for _, at := range c.At {
		if v >= at {
			s++
		}
	}
	return s
}

// tier is the ABC tier of a window spend.
func (t *Thresholds) tier(spend int64) store.Tier {
	switch {
	case spend <= 0:
		return store.TierC
	case spend >= t.MinA:
		return store.TierA
	case spend >= t.MinB:
		return store.TierB
	}
	return store.TierC
}

// tierCuts applies the Pareto rule to the positive window spends, sorted
// from the largest: A while the running share of spend before a customer
// is below aPPM (parts per million), B below aPPM+bPPM, C after. Equal
// spends get one tier, the one the share before the first of them
// decides. The shares are compared exactly, in 128-bit integers.
func tierCuts(desc []int64, aPPM, bPPM uint64) (minA, minB int64) {
	if len(desc) == 0 {
		return noThresholds.MinA, noThresholds.MinB
	}
	var total u128
	for _, s := range desc {
		total = total.add(u128{0, uint64(s)})
	}
	minA, minB = none, none
	var cum u128
	for i := 0; i < len(desc); {
		j := i
		for j < len(desc) && desc[j] == desc[i] {
			j++
		}
		before := cum.mul(1e6)
		switch {
		case before.less(total.mul(aPPM)):
			minA = desc[i]
		case before.less(total.mul(aPPM + bPPM)):
			minB = desc[i]
		default:
			j = len(desc)
		}
		cum = cum.add(u128{0, uint64(desc[i])}.mul(uint64(j - i)))
		i = j
	}
	if minB == none {
		minB = minA
	}
	return minA, minB
}

// cutsOf scores a dimension's population, sorted ascending, by quintile of
// its mid-rank: a value's score is 1 + floor(5 × (values below it + half
// the values equal to it) / N), so equal values share a score (a quarter
// of customers with one order are not split between two scores) and one
// value alone scores 3. The cut points carry the scores to values the
// population does not have.
func cutsOf(asc []int64) Cuts {
	c := Cuts{At: [4]int64{none, none, none, none}}
	n := len(asc)
	if n == 0 {
		return c
	}
	c.Median = asc[(n-1)/2]
	for i := 0; i < n; {
		j := i
		for j < n && asc[j] == asc[i] {
			j++
		}
		score := min(1+(10*i+5*(j-i))/(2*n), 5)
		for k := 2; k <= score; k++ {
			if c.At[k-2] == none {
				c.At[k-2] = asc[i]
			}
		}
		i = j
	}
	return c
}

// thresholdsOf computes the cut points of the population fs; scratch is
// reused for each dimension in turn.
func thresholdsOf(fs []figures, c Config, scratch []int64) Thresholds {
	var t Thresholds
	scratch = scratch[:0]
	for i := range fs {
		if fs[i].spend > 0 {
			scratch = append(scratch, fs[i].spend)
		}
	}
	slices.SortFunc(scratch, func(a, b int64) int { return cmp.Compare(b, a) })
	aPPM := uint64(math.Round(c.AShare * 1e6))
	bPPM := uint64(math.Round(c.BShare * 1e6))
	t.MinA, t.MinB = tierCuts(scratch, aPPM, bPPM)
	dims := []struct {
		cuts *Cuts
		v    func(*figures) int64
	}{
		{&t.R, func(f *figures) int64 { return f.last }},
		{&t.F, func(f *figures) int64 { return int64(f.orders) }},
		{&t.M, func(f *figures) int64 { return f.spend }},
	}
	for _, d := range dims {
		scratch = scratch[:0]
		for i := range fs {
			if fs[i].lifetime > 0 {
				scratch = append(scratch, d.v(&fs[i]))
			}
		}
		slices.Sort(scratch)
		*d.cuts = cutsOf(scratch)
	}
	t.Buyers = len(scratch)
	return t
}

// segmentOf names the RFM segment of R, F and M above (high) or not above
// (low) their medians.
func segmentOf(r, f, m bool) string {
	prefix := "general_"
	if m {
		prefix = "important_"
	}
	switch {
	case r && f:
		return prefix + "value"
	case !r && f:
		return prefix + "keep"
	case r && !f:
		return prefix + "develop"
	}
	return prefix + "retain"
}

// person is what a customer's figures take besides orders.
type person struct {
	optOut     bool
	lastScore  *int
	complaints int
}

func personOf(r store.FigureRow) person {
	p := person{optOut: r.OptOut, complaints: r.OpenComplaints}
	if r.Stats != nil {
		p.lastScore = r.Stats.LastScore
	}
	return p
}

// model holds what the models read: the config, and the business zone
// (the dates in reasons).
type model struct {
	c   Config
	loc *time.Location
}

// date is a Unix ms time as a business date.
func (m model) date(ms int64) string {
	loc := m.loc
	if loc == nil {
		loc = time.UTC
	}
	return time.UnixMilli(ms).In(loc).Format(time.DateOnly)
}

// evaluate computes a customer's figures row at now (Unix ms); figuresAt
// is how fresh the orders read are.
func (m model) evaluate(f figures, p person, t *Thresholds, now int64, figuresAt time.Time) *store.CustomerStats {
	st := &store.CustomerStats{
		CustomerID: f.id, Orders: int(f.orders), Spend: store.Fen(f.spend), PrevOrders: int(f.prevOrders),
		LifetimeOrders: int(f.lifetime), LifetimeSpend: store.Fen(f.lifetimeSpend), IntervalSecs: int64(f.interval),
		OpenComplaints: p.complaints, FiguresAt: figuresAt.UTC().Truncate(time.Millisecond),
	}
	if f.lifetime > 0 {
		first, last := time.UnixMilli(f.first).UTC(), time.UnixMilli(f.last).UTC()
		st.FirstOrderAt, st.LastOrderAt = &first, &last
		st.AvgOrder = store.Fen(max(0, divRound(f.lifetimeSpend, int64(f.lifetime))))
		if t.Buyers > 0 {
			st.R, st.F, st.M = t.R.score(f.last), t.F.score(int64(f.orders)), t.M.score(f.spend)
			st.Segment = segmentOf(f.last > t.R.Median, int64(f.orders) > t.F.Median, f.spend > t.M.Median)
		}
	}
	st.TierComputed = t.tier(f.spend)
	risk, reasons := m.risk(f, p, now)
	st.ChurnRisk = risk
	st.SetReasons(reasons)
	st.CLV = store.Fen(clv(f, risk, m.c.WindowMonths))
	st.StageComputed = m.stage(f, now)
	return st
}

// repeat reports a repeat buyer: two orders at least a day apart.
func (f figures) repeat() bool { return f.interval > 0 }

// stage is the lifecycle stage at now: potential without orders; churned
// churned_days or more after the last order; a one-time buyer is new while
// the order is less than new_days old, at-risk more than inactive_days
// after it, active between; a repeat buyer is at-risk more than
// at_risk_factor typical intervals after the last order, active before.
func (m model) stage(f figures, now int64) store.Stage {
	if f.lifetime == 0 {
		return store.StagePotential
	}
	since := now - f.last
	switch {
	case since >= int64(m.c.ChurnedDays)*dayMs:
		return store.StageChurned
	case !f.repeat() && since < int64(m.c.NewDays)*dayMs:
		return store.StageNew
	case !f.repeat() && since > int64(m.c.InactiveDays)*dayMs:
		return store.StageAtRisk
	case f.repeat() && float64(since) > m.c.AtRiskFactor*float64(int64(f.interval)*1000):
		return store.StageAtRisk
	}
	return store.StageActive
}

// overdue is how many typical intervals ago the last order was; a
// one-time buyer's "interval" is inactive_days / at_risk_factor, so that
// both are at risk past at_risk_factor.
func (m model) overdue(f figures, now int64) float64 {
	expected := float64(int64(f.interval) * 1000)
	if !f.repeat() {
		expected = float64(m.c.InactiveDays) * float64(dayMs) / m.c.AtRiskFactor
	}
	return float64(now-f.last) / expected
}

// stageReason says why a customer moved from one stage to another, and
// whether that was a win-back (from at-risk or churned to active).
func (m model) stageReason(from, to store.Stage, f figures, now int64) (string, bool) {
	days := (now - f.last) / dayMs
	switch to {
	case store.StagePotential:
		return "no orders", false
	case store.StageNew:
		return "first order", false
	case store.StageActive:
		switch {
		case from == store.StageAtRisk || from == store.StageChurned:
			return "won back", true
		case f.repeat():
			return "repeat order", false
		}
		return fmt.Sprintf("first order %d days ago", days), false
	case store.StageAtRisk:
		if !f.repeat() {
			return fmt.Sprintf("one-time buyer, no order for %d days", days), false
		}
		return fmt.Sprintf("overdue %.1f× typical interval", m.overdue(f, now)), false
	}
	return fmt.Sprintf("no order for %d days", days), false
}

// risk is the churn risk 0-100 and its reasons, the weightiest first:
// points for being overdue (40 per typical interval past the first, at
// most 60; churned is 100), for ordering less often than in the window
// before (up to 25), for a low last survey score (20 for 1-2, 5 for 3),
// an open complaint (15) and opting out (20); the sum, at most 100. A
// reason names the date of the last order rather than the days since, so
// that it does not change (and need writing) every night.
func (m model) risk(f figures, p person, now int64) (int, []string) {
	type part struct {
		points int
		reason string
	}
	var parts []part
	if f.lifetime > 0 {
		since := now - f.last
		if since >= int64(m.c.ChurnedDays)*dayMs {
			parts = append(parts, part{100, "no order since " + m.date(f.last)})
		} else if o := m.overdue(f, now); o > 1 {
			if pts := min(60, int(math.Round(40*(o-1)))); pts > 0 {
				r := fmt.Sprintf("overdue %.1f× typical interval", o)
				if !f.repeat() {
					r = "one-time buyer, no order since " + m.date(f.last)
				}
				parts = append(parts, part{pts, r})
			}
		}
		if f.prevOrders >= 2 && f.orders < f.prevOrders {
			pts := int(math.Round(25 * float64(f.prevOrders-f.orders) / float64(f.prevOrders)))
			parts = append(parts, part{pts, fmt.Sprintf("ordering less often (%d vs %d)", f.orders, f.prevOrders)})
		}
	}
	if s := p.lastScore; s != nil && *s <= 3 {
		pts := 5
		if *s <= 2 {
			pts = 20
		}
		parts = append(parts, part{pts, fmt.Sprintf("last survey score %d/5", *s)})
	}
	if p.complaints > 0 {
		parts = append(parts, part{15, "open complaint"})
	}
	if p.optOut {
		parts = append(parts, part{20, "opted out"})
	}
	slices.SortStableFunc(parts, func(a, b part) int { return cmp.Compare(b.points, a.points) })
	risk, reasons := 0, make([]string, 0, len(parts))
	for _, pt := range parts {
		risk += pt.points
		reasons = append(reasons, pt.reason)
	}
	return min(risk, 100), reasons
}

// clv is the lifetime value in fen: the lifetime spend plus the expected
// future value AOV × orders a year × r/(1+d−r), with the customer's
// retention r = 1 − risk/100, the discount rate d = 0.1, and their orders a
// year from the window. With r = (100−risk)/100 the factor is
// (100−risk)/(10+risk): 10 years' worth at no risk, none at 100.
func clv(f figures, risk, windowMonths int) int64 {
	hist := f.lifetimeSpend
	if f.lifetime == 0 || f.lifetimeSpend <= 0 || f.orders == 0 || risk >= 100 {
		return hist
	}
	aov := uint64(divRound(f.lifetimeSpend, int64(f.lifetime)))
	num := u128{0, aov}.mul(uint64(f.orders) * 12 * uint64(100-risk))
	den := uint64(windowMonths) * uint64(10+risk)
	if num.hi >= den {
		return store.MaxMoney
	}
	q, r := bits.Div64(num.hi, num.lo, den)
	if 2*r >= den {
		q++
	}
	return min(hist+int64(min(q, store.MaxMoney)), store.MaxMoney)
}

// divRound is a/b rounded half away from zero (b > 0).
func divRound(a, b int64) int64 {
	if a < 0 {
		return -divRound(-a, b)
	}
	return (a + b/2) / b
}

// tierReason says why a customer's tier is what it is.
func tierReason(f figures, months int) string {
	if f.spend <= 0 {
		return fmt.Sprintf("no spend in %d months", months)
	}
	return fmt.Sprintf("spend %s in %d months", store.Fen(f.spend), months)
}

// changesOf are the tier and stage changes that computed figures st bring
// to customer r (a pinned value stays); st counts a win-back among them.
func (m model) changesOf(r store.FigureRow, st *store.CustomerStats, f figures, now int64) []store.Change {
	var cs []store.Change
	if r.Stats != nil {
		st.WonBack = r.Stats.WonBack
	}
	if !r.TierPinned && r.Tier != st.TierComputed {
		cs = append(cs, store.Change{CustomerID: r.ID, Field: store.FieldTier, From: string(r.Tier), To: string(st.TierComputed),
			Reason: tierReason(f, m.c.WindowMonths)})
	}
	if !r.StagePinned && r.Stage != st.StageComputed {
		reason, won := m.stageReason(r.Stage, st.StageComputed, f, now)
		cs = append(cs, store.Change{CustomerID: r.ID, Field: store.FieldStage, From: string(r.Stage), To: string(st.StageComputed),
			Reason: reason, WonBack: won})
		if won {
			st.WonBack++
		}
	}
	return cs
}

// u128 is an unsigned 128-bit integer, for exact shares of large sums.
type u128 struct{ hi, lo uint64 }

func (a u128) add(b u128) u128 {
	lo, c := bits.Add64(a.lo, b.lo, 0)
	return u128{a.hi + b.hi + c, lo}
}

func (a u128) mul(k uint64) u128 {
	hi, lo := bits.Mul64(a.lo, k)
	return u128{a.hi*k + hi, lo}
}

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }
