package report

import (
	"cmp"
	"context"
	"encoding/csv"
	"io"
	"maps"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// Units of a section's values.
const (
	UnitCount   = "count"
	UnitFen     = "fen"     // money, integer fen (分)
	UnitBP      = "bp"      // a share in basis points: 8235 = 82.35 %
	UnitMinutes = "minutes" // a duration, whole minutes
	UnitPoints  = "points"  // loyalty points
)

// The answer's shape is store's (web encodes it); these are its names here.
type (
	Answer  = store.ReportAnswer
	Section = store.ReportSection
	Row     = store.ReportRow
	Doc     = store.ReportDoc
)

// Report is one report: what builds it and what describes it. A new
// report is a file with one such value added to reports.
type Report struct {
	Name        string
	Summary     string
	Description string
	// Metrics are the daily figures it reads.
	Metrics []string
	Build   func(ctx context.Context, s *Service, d *Data) ([]Section, error)
}

// reports are every report, in the dashboard's order.
func reports() []Report {
	return []Report{overview, lifecycle, care, satisfaction, complaints, staff, campaigns, points}
}

// Docs lists the reports.
func (s *Service) Docs() []Doc {
	var out []Doc
	for _, r := range reports() {
		out = append(out, Doc{Name: r.Name, Summary: r.Summary, Description: r.Description})
	}
	return out
}

// Report answers report name for from..to (business dates; see
// ParsePeriod), only its section named section when that is not "".
func (s *Service) Report(ctx context.Context, name, from, to, section string) (*Answer, error) {
	i := slices.IndexFunc(reports(), func(r Report) bool { return r.Name == name })
	if i < 0 {
		return nil, store.Errorf(store.ENOTFOUND, "no report %q", name)
	}
	r := reports()[i]
	p, err := s.ParsePeriod(from, to)
	if err != nil {
		return nil, err
	}
	fresh, err := s.ensure(ctx, p.PrevFrom, p.To)
	if err != nil {
		return nil, err
	}
	fs, err := s.store.DailyFiguresIn(ctx, date(p.PrevFrom), date(p.To), r.Metrics...)
	if err != nil {
		return nil, err
	}
	d := newData(s, p, fs)
	secs, err := r.Build(ctx, s, d)
	if err != nil {
		return nil, err
	}
	if section != "" {
		j := slices.IndexFunc(secs, func(x Section) bool { return x.Name == section })
		if j < 0 {
			return nil, store.Invalid("section", "report %s has no section %q", name, section)
		}
		secs = secs[j : j+1]
	}
	return &Answer{Report: name, From: date(p.From), To: date(p.To), PreviousFrom: date(p.PrevFrom), PreviousTo: date(p.PrevTo),
		Timezone: s.loc.String(), Days: p.Days, FreshAsOf: fresh.UTC().Truncate(time.Second), Sections: secs}, nil
}

// Data is a period's daily figures, summed as a report reads them.
type Data struct {
	p     Period
	today time.Time
	// by metric, dim, day
	m map[string]map[string]map[string]int64
}

func newData(s *Service, p Period, fs []store.DailyFigure) *Data {
	d := &Data{p: p, today: s.day(s.store.Now()), m: map[string]map[string]map[string]int64{}}
	for _, f := range fs {
		md := d.m[f.Metric]
		if md == nil {
			md = map[string]map[string]int64{}
			d.m[f.Metric] = md
		}
		dd := md[f.Dim]
		if dd == nil {
			dd = map[string]int64{}
			md[f.Dim] = dd
		}
		dd[f.Day] = f.Value
	}
	return d
}

// sum is metric's value for dim over from..to: the total of its days, or
// for a snapshot metric the value of its last day that has passed or is
// today.
func (d *Data) sum(metric, dim string, from, to time.Time) int64 {
	days := d.m[metric][dim]
	if store.SnapshotMetrics[metric] {
		if to.After(d.today) {
			to = d.today
		}
		if to.Before(from) {
			return 0
		}
		return days[date(to)]
	}
	var n int64
	for day, v := range days {
		if day >= date(from) && day <= date(to) {
			n += v
		}
	}
	return n
}

// cur and prev are sum over the period and over the one before.
func (d *Data) cur(metric, dim string) int64  { return d.sum(metric, dim, d.p.From, d.p.To) }
func (d *Data) prev(metric, dim string) int64 { return d.sum(metric, dim, d.p.PrevFrom, d.p.PrevTo) }

// dims are metric's dimensions, sorted.
func (d *Data) dims(metric string) []string {
	var out []string
	for k := range d.m[metric] {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// row is metric's dim in both periods.
func (d *Data) row(key, metric, dim string) Row {
	return Row{Key: key, Current: d.cur(metric, dim), Previous: d.prev(metric, dim)}
}

// total is metric summed over every dimension accepted by keep (nil:
// all), in both periods.
func (d *Data) total(key, metric string, keep func(dim string) bool) Row {
	r := Row{Key: key}
	for _, dim := range d.dims(metric) {
		if keep == nil || keep(dim) {
			r.Current += d.cur(metric, dim)
			r.Previous += d.prev(metric, dim)
		}
	}
	return r
}

// byDim is metric as rows by dimension (grouped by group when set, which
// maps a dim to its row key; "" drops it), largest current first, rows
// zero in both periods left out.
func (d *Data) byDim(metric string, group func(dim string) string) []Row {
	acc := map[string]*Row{}
	var keys []string
	for _, dim := range d.dims(metric) {
		k := dim
		if group != nil {
			if k = group(dim); k == "" {
				continue
			}
		}
		r := acc[k]
		if r == nil {
			r = &Row{Key: k}
			acc[k] = r
			keys = append(keys, k)
		}
		r.Current += d.cur(metric, dim)
		r.Previous += d.prev(metric, dim)
	}
	out := []Row{}
	for _, k := range keys {
		if r := acc[k]; r.Current != 0 || r.Previous != 0 {
			out = append(out, *r)
		}
	}
	slices.SortStableFunc(out, func(a, b Row) int {
		return cmp.Or(cmp.Compare(b.Current, a.Current), strings.Compare(a.Key, b.Key))
	})
	return out
}

// series is metric summed over dims accepted by keep, day by day: the
// period's days, each beside the same day of the period before.
func (d *Data) series(metric string, keep func(dim string) bool) []Row {
	out := []Row{}
	for i := 0; i < d.p.Days; i++ {
		day, pday := d.p.From.AddDate(0, 0, i), d.p.PrevFrom.AddDate(0, 0, i)
		r := Row{Key: date(day)}
		for _, dim := range d.dims(metric) {
			if keep == nil || keep(dim) {
				r.Current += d.sum(metric, dim, day, day)
				r.Previous += d.sum(metric, dim, pday, pday)
			}
		}
		out = append(out, r)
	}
	return out
}

// ratio is num/den in basis points (0 when den is 0), rounded half up.
func ratio(num, den int64) int64 {
	if den == 0 {
		return 0
	}
	return (num*20000 + den) / (2 * den)
}

// rate divides two rows (per period) into basis points.
func rate(key string, num, den Row) Row {
	return Row{Key: key, Current: ratio(num.Current, den.Current), Previous: ratio(num.Previous, den.Previous)}
}

// avgMinutes divides seconds by a count into whole minutes (rounded).
func avgMinutes(sec, n int64) int64 {
	if n == 0 {
		return 0
	}
	return (sec + 30*n) / (60 * n)
}

// labelStaff names the rows keyed by staff id.
func (s *Service) labelStaff(ctx context.Context, rows []Row) error {
	return s.labelIDs(ctx, rows, s.store.StaffNames)
}

// labelIDs names the rows keyed by an id (staff, campaign, reward) with
// names: "(none)" for 0, "#id" for one gone.
func (s *Service) labelIDs(ctx context.Context, rows []Row, names func(context.Context, []int64) (map[int64]string, error)) error {
	var ids []int64
	for _, r := range rows {
		if id, err := strconv.ParseInt(r.Key, 10, 64); err == nil && id > 0 {
			ids = append(ids, id)
		}
	}
	named, err := names(ctx, ids)
	if err != nil {
		return err
	}
	for i := range rows {
		id, _ := strconv.ParseInt(rows[i].Key, 10, 64)
		switch {
		case id == 0:
			rows[i].Label = "(none)"
		case named[id] != "":
			rows[i].Label = named[id]
		default:
			rows[i].Label = "#" + rows[i].Key
		}
	}
	return nil
}

// CSVHeader is the one CSV shape of every report: one line per row of
// every section. value columns are in the unit column's unit: count,
// yuan (exact, two decimals), percent (two decimals), minutes.
var CSVHeader = []string{"section", "key", "label", "current", "previous", "unit"}

// WriteCSV writes a as CSV (CSVHeader), with a byte order mark for
// spreadsheet programs.
func WriteCSV(w io.Writer, a *Answer) error {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, s := range a.Sections {
		unit := s.Unit
		switch unit {
		case UnitFen:
			unit = "yuan"
		case UnitBP:
			unit = "percent"
		}
		for _, r := range s.Rows {
			cw.Write([]string{s.Name, safeCell(r.Key), safeCell(r.Label), csvValue(s.Unit, r.Current), csvValue(s.Unit, r.Previous), unit})
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvValue(unit string, v int64) string {
	switch unit {
	case UnitFen:
		return store.Fen(v).String()
	case UnitBP:
		return new(big.Rat).SetFrac64(v, 100).FloatString(2)
	}
	return strconv.FormatInt(v, 10)
}

// safeCell keeps a spreadsheet from reading a value (a customer's source,
// a staff name) as a formula.
func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// median is the median time to done of agent's tasks done in from..to,
// in minutes, from the duration buckets (the middle of the bucket holding
// the middle task).
func (d *Data) median(agent string, from, to time.Time) int64 {
	counts := map[int]int64{}
	var n int64
	for _, dim := range d.dims(store.MetricStaffDoneBucket) {
		a, b, _ := strings.Cut(dim, "|")
		if a != agent {
			continue
		}
		bucket, err := strconv.Atoi(b)
		if err != nil {
			continue
		}
		v := d.sum(store.MetricStaffDoneBucket, dim, from, to)
		counts[bucket] += v
		n += v
	}
	if n == 0 {
		return 0
	}
	var seen int64
	for _, b := range slices.Sorted(maps.Keys(counts)) {
		if seen += counts[b]; 2*seen >= n {
			lo, hi := store.BucketMinutes(b), store.BucketMinutes(b+1)
			return int64(math.Round((lo + hi) / 2))
		}
	}
	return 0
}
