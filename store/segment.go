package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Segments: saved, named audience definitions. A definition is data (a
// SegmentFilter, stored as JSON) that compiles to a parameterised WHERE over
// customers c; nothing a user sends becomes SQL text. Opted-out customers
// are never members.

// SegmentDef is a saved segment.
type SegmentDef struct {
	ID         int64     `gorm:"primaryKey" json:"id"`
	Name       string    `gorm:"size:128;not null;uniqueIndex" json:"name"`
	FilterJSON string    `gorm:"column:filter;type:text;not null" json:"-"`
	CreatedBy  *int64    `json:"created_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Filter is FilterJSON as the API shows it.
	Filter json.RawMessage `gorm:"-" json:"filter"`
	// Count is filled by SegmentByID's callers that ask for it.
	Count *int64 `gorm:"-" json:"count,omitempty"`
}

func (SegmentDef) TableName() string { return "segments" }

// Bounds of a filter: what a user sends is bounded.
const (
	maxFilterBytes = 16 << 10
	maxFilterList  = 100
	maxFilterValue = 64
)

// SegmentFilter is a parsed segment definition. Lists match any of their
// values; keys combine with AND. Zero values match everyone.
type SegmentFilter struct {
	Tier       []string `json:"tier,omitempty"`
	Stage      []string `json:"stage,omitempty"`
	RFMSegment []string `json:"rfm_segment,omitempty"`
	Source     []string `json:"source,omitempty"`
	Channel    []string `json:"channel,omitempty"`
	City       []string `json:"city,omitempty"`
	Region     []string `json:"region,omitempty"`
	District   []string `json:"district,omitempty"`
	TagsAny    []string `json:"tags_any,omitempty"`
	TagsAll    []string `json:"tags_all,omitempty"`
	TagsNone   []string `json:"tags_none,omitempty"`
	// BirthdayMonth: 1-12.
	BirthdayMonth []int `json:"birthday_month,omitempty"`
	// LastOrderBefore/After: a date YYYY-MM-DD (business zone) or "Nd",
	// N days before now; with OrderKind, the last order of those kinds.
	LastOrderBefore string   `json:"last_order_before,omitempty"`
	LastOrderAfter  string   `json:"last_order_after,omitempty"`
	OrderKind       []string `json:"order_kind,omitempty"`
	ChurnRiskMin    *int     `json:"churn_risk_min,omitempty"`
	CLVMin          *Money   `json:"clv_min,omitempty"`
	PointsMin       *int64   `json:"points_min,omitempty"`
	AssetKind       []string `json:"asset_kind,omitempty"`
	// AssetAgeMin/Max: years since the asset's year (assets without a
	// year never match an age).
	AssetAgeMin *int `json:"asset_age_min,omitempty"`
	AssetAgeMax *int `json:"asset_age_max,omitempty"`
}

// SegmentFilterKeys are the filter's keys, in documentation order.
var SegmentFilterKeys = []string{"tier", "stage", "rfm_segment", "source", "channel", "city", "region", "district",
	"tags_any", "tags_all", "tags_none", "birthday_month", "last_order_before", "last_order_after", "order_kind",
	"churn_risk_min", "clv_min", "points_min", "asset_kind", "asset_age_min", "asset_age_max"}

// IsSegmentFilterKey reports whether k is a filter key.
func IsSegmentFilterKey(k string) bool { return slices.Contains(SegmentFilterKeys, k) }

// ParseSegmentFilter reads and checks a filter; an unknown key or a bad
// value is EINVALID naming the key ("filter.city").
func ParseSegmentFilter(raw []byte) (SegmentFilter, error) {
	var f SegmentFilter
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return f, nil
	}
	if len(raw) > maxFilterBytes {
		return f, Invalid("filter", "is %d bytes; at most %d", len(raw), maxFilterBytes)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return f, Invalid("filter", "must be a JSON object")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := f.set(k, m[k]); err != nil {
			return SegmentFilter{}, err
		}
	}
	return f, f.check()
}

func (f *SegmentFilter) set(k string, v json.RawMessage) error {
	field := "filter." + k
	list := func(dst *[]string) error {
		var one string
		if json.Unmarshal(v, &one) == nil {
			*dst = []string{one}
		} else if err := json.Unmarshal(v, dst); err != nil {
			return Invalid(field, "must be a string or a list of strings")
		}
		if len(*dst) > maxFilterList {
			return Invalid(field, "at most %d values", maxFilterList)
		}
		out := (*dst)[:0]
		for _, s := range *dst {
			s = strings.TrimSpace(s)
			if s == "" {
				return Invalid(field, "empty value")
			}
			if utf8.RuneCountInString(s) > maxFilterValue {
				return Invalid(field, "value longer than %d characters", maxFilterValue)
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		*dst = out
		if len(out) == 0 {
			*dst = nil // an empty list is no condition
		}
		return nil
	}
	num := func(dst **int, lo, hi int) error {
		var n int
		if err := json.Unmarshal(v, &n); err != nil || n < lo || n > hi {
			return Invalid(field, "must be a whole number %d-%d", lo, hi)
		}
		*dst = &n
		return nil
	}
	date := func(dst *string) error {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return Invalid(field, "must be a date YYYY-MM-DD or a number of days ago like \"150d\"")
		}
		if _, _, err := parseWhen(s); err != nil {
			return Invalid(field, "%q is not a date YYYY-MM-DD or a number of days ago like \"150d\"", s)
		}
		*dst = strings.TrimSpace(s)
		return nil
	}
	switch k {
	case "tier":
		if err := list(&f.Tier); err != nil {
			return err
		}
		for i, t := range f.Tier {
			t = strings.ToUpper(t)
			if t != "A" && t != "B" && t != "C" {
				return Invalid(field, "%q is not A, B or C", f.Tier[i])
			}
			f.Tier[i] = t
		}
	case "stage":
		if err := list(&f.Stage); err != nil {
			return err
		}
		for _, s := range f.Stage {
			if !ValidStage(Stage(s)) {
				return Invalid(field, "%q is not a lifecycle stage (potential, new, active, at-risk, churned)", s)
			}
		}
	case "rfm_segment":
		if err := list(&f.RFMSegment); err != nil {
			return err
		}
		for _, s := range f.RFMSegment {
			if !ValidRFMSegment(s) {
				return Invalid(field, "%q is not an RFM segment", s)
			}
		}
	case "source":
		return list(&f.Source)
	case "channel":
		if err := list(&f.Channel); err != nil {
			return err
		}
		for _, c := range f.Channel {
			if !ValidChannel(c) {
				return Invalid(field, "%q is not telegram, wechat or webchat", c)
			}
		}
	case "city":
		return list(&f.City)
	case "region":
		return list(&f.Region)
	case "district":
		return list(&f.District)
	case "tags_any":
		return list(&f.TagsAny)
	case "tags_all":
		if err := list(&f.TagsAll); err != nil {
			return err
		}
		if len(f.TagsAll) > 20 {
			return Invalid(field, "at most 20 tags")
		}
	case "tags_none":
		return list(&f.TagsNone)
	case "birthday_month":
		var one int
		if json.Unmarshal(v, &one) == nil {
			f.BirthdayMonth = []int{one}
		} else if err := json.Unmarshal(v, &f.BirthdayMonth); err != nil {
			return Invalid(field, "must be a month 1-12 or a list of them")
		}
		if len(f.BirthdayMonth) == 0 {
			f.BirthdayMonth = nil
		}
		if len(f.BirthdayMonth) > 12 {
			return Invalid(field, "at most 12 months")
		}
		for _, m := range f.BirthdayMonth {
			if m < 1 || m > 12 {
				return Invalid(field, "%d is not a month 1-12", m)
			}
		}
	case "last_order_before":
		return date(&f.LastOrderBefore)
	case "last_order_after":
		return date(&f.LastOrderAfter)
	case "order_kind":
		if err := list(&f.OrderKind); err != nil {
			return err
		}
		for _, k := range f.OrderKind {
			if k != OrderPurchase && k != OrderService {
				return Invalid(field, "%q is not purchase or service", k)
			}
		}
	case "churn_risk_min":
		return num(&f.ChurnRiskMin, 0, 100)
	case "clv_min":
		var m Money
		if err := json.Unmarshal(v, &m); err != nil {
			return Invalid(field, "must be an amount like 1000.00")
		}
		f.CLVMin = &m
	case "points_min":
		var n int64
		if err := json.Unmarshal(v, &n); err != nil || n < 0 {
			return Invalid(field, "must be a whole number of points, at least 0")
		}
		f.PointsMin = &n
	case "asset_kind":
		return list(&f.AssetKind)
	case "asset_age_min":
		return num(&f.AssetAgeMin, 0, 200)
	case "asset_age_max":
		return num(&f.AssetAgeMax, 0, 200)
	default:
		return Invalid(field, "unknown filter key %q; known keys: %s", k, strings.Join(SegmentFilterKeys, ", "))
	}
	return nil
}

func (f SegmentFilter) check() error {
	if f.AssetAgeMin != nil && f.AssetAgeMax != nil && *f.AssetAgeMin > *f.AssetAgeMax {
		return Invalid("filter.asset_age_min", "is more than asset_age_max")
	}
	return nil
}

// JSON is the filter's stored form.
func (f SegmentFilter) JSON() string {
	b, _ := json.Marshal(f)
	return string(b)
}

// parseWhen reads "YYYY-MM-DD" (date) or "Nd" (days ago).
func parseWhen(s string) (date time.Time, daysAgo int, err error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 || d > 36600 {
			return time.Time{}, 0, fmt.Errorf("bad days")
		}
		return time.Time{}, d, nil
	}
	t, err := time.Parse("2006-01-02", s)
	return t, 0, err
}

// when is the instant a filter date stands for: the start of the day in
// loc, or now minus N days.
func when(s string, now time.Time, loc *time.Location) time.Time {
	d, ago, _ := parseWhen(s)
	if d.IsZero() {
		return now.AddDate(0, 0, -ago).UTC()
	}
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc).UTC()
}

// Narrow returns f further narrowed by vars whose names are filter keys
// (a trigger's variables): a key the filter already has is intersected,
// others are added. A var that is not a valid value is EINVALID naming it.
func (f SegmentFilter) Narrow(vars map[string]string) (SegmentFilter, error) {
	out := f
	keys := make([]string, 0, len(vars))
	for k := range vars {
		if IsSegmentFilterKey(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		var extra SegmentFilter
		raw, _ := json.Marshal(vars[k])
		if err := extra.set(k, raw); err != nil {
			// Numbers come as strings in vars.
			if err2 := extra.set(k, json.RawMessage(vars[k])); err2 != nil {
				return f, Invalid("vars."+k, "%s", ErrorMessage(err))
			}
		}
		merged, err := mergeFilter(out, extra, k)
		if err != nil {
			return f, err
		}
		out = merged
	}
	return out, nil
}

// mergeFilter ANDs key k of extra into f.
func mergeFilter(f, extra SegmentFilter, k string) (SegmentFilter, error) {
	inter := func(a, b []string) []string {
		if len(a) == 0 {
			return b
		}
		var out []string
		for _, v := range b {
			if slices.Contains(a, v) {
				out = append(out, v)
			}
		}
		if out == nil {
			out = []string{"\x00none"} // empty intersection: nobody
		}
		return out
	}
	switch k {
	case "tier":
		f.Tier = inter(f.Tier, extra.Tier)
	case "stage":
		f.Stage = inter(f.Stage, extra.Stage)
	case "rfm_segment":
		f.RFMSegment = inter(f.RFMSegment, extra.RFMSegment)
	case "source":
		f.Source = inter(f.Source, extra.Source)
	case "channel":
		f.Channel = inter(f.Channel, extra.Channel)
	case "city":
		f.City = inter(f.City, extra.City)
	case "region":
		f.Region = inter(f.Region, extra.Region)
	case "district":
		f.District = inter(f.District, extra.District)
	case "order_kind":
		f.OrderKind = inter(f.OrderKind, extra.OrderKind)
	case "asset_kind":
		f.AssetKind = inter(f.AssetKind, extra.AssetKind)
	case "tags_any":
		f.TagsAny = inter(f.TagsAny, extra.TagsAny)
	case "tags_all":
		f.TagsAll = append(slices.Clone(f.TagsAll), extra.TagsAll...)
	case "tags_none":
		f.TagsNone = append(slices.Clone(f.TagsNone), extra.TagsNone...)
	case "birthday_month":
		if len(f.BirthdayMonth) == 0 {
			f.BirthdayMonth = extra.BirthdayMonth
		} else {
			var out []int
			for _, m := range extra.BirthdayMonth {
				if slices.Contains(f.BirthdayMonth, m) {
					out = append(out, m)
				}
			}
			f.BirthdayMonth = append(out, 0) // 0 matches no one with a birthday month
		}
	default:
		// Scalars: the trigger's value replaces the saved one.
		switch k {
		case "last_order_before":
			f.LastOrderBefore = extra.LastOrderBefore
		case "last_order_after":
			f.LastOrderAfter = extra.LastOrderAfter
		case "churn_risk_min":
			f.ChurnRiskMin = extra.ChurnRiskMin
		case "clv_min":
			f.CLVMin = extra.CLVMin
		case "points_min":
			f.PointsMin = extra.PointsMin
		case "asset_age_min":
			f.AssetAgeMin = extra.AssetAgeMin
		case "asset_age_max":
			f.AssetAgeMax = extra.AssetAgeMax
		}
	}
	return f, nil
}

// SegmentQuery is a filter bound to a moment and the business zone (for
// relative and calendar dates, asset ages).
type SegmentQuery struct {
	Filter SegmentFilter
	Now    time.Time
	Loc    *time.Location
	// OptedOut selects the opted-out customers the filter would match
	// instead of the members (a dry run's count of them).
	OptedOut bool
}

// where compiles the query to a WHERE over customers c and its args.
func (q SegmentQuery) where() (string, []any) {
	f := q.Filter
	loc := q.Loc
	if loc == nil {
		loc = time.UTC
	}
	conds := []string{"c.opt_out = ?"}
	args := []any{q.OptedOut}
	in := func(col string, vals []string) {
		if len(vals) > 0 {
			conds, args = append(conds, col+" IN ?"), append(args, vals)
		}
	}
	in("c.tier", f.Tier)
	in("c.stage", f.Stage)
	in("c.source", f.Source)
	in("c.city", f.City)
	in("c.region", f.Region)
	in("c.district", f.District)
	if len(f.BirthdayMonth) > 0 {
		conds, args = append(conds, "c.birth_month IN ?"), append(args, f.BirthdayMonth)
	}
	if f.PointsMin != nil && *f.PointsMin > 0 {
		conds, args = append(conds, "c.points >= ?"), append(args, *f.PointsMin)
	}
	if len(f.Channel) > 0 {
		conds = append(conds, "EXISTS (SELECT 1 FROM identities i WHERE i.customer_id = c.id AND i.channel IN ?)")
		args = append(args, f.Channel)
	}
	if len(f.TagsAny) > 0 {
		conds = append(conds, "EXISTS (SELECT 1 FROM customer_tags t WHERE t.customer_id = c.id AND t.tag IN ?)")
		args = append(args, f.TagsAny)
	}
	for _, t := range f.TagsAll {
		conds = append(conds, "EXISTS (SELECT 1 FROM customer_tags t WHERE t.customer_id = c.id AND t.tag = ?)")
		args = append(args, t)
	}
	if len(f.TagsNone) > 0 {
		conds = append(conds, "NOT EXISTS (SELECT 1 FROM customer_tags t WHERE t.customer_id = c.id AND t.tag IN ?)")
		args = append(args, f.TagsNone)
	}
	// The figures: one probe of customer_stats by its primary key.
	var sc []string
	var sa []any
	if len(f.RFMSegment) > 0 {
		sc, sa = append(sc, "cs.rfm_segment IN ?"), append(sa, f.RFMSegment)
	}
	if f.ChurnRiskMin != nil && *f.ChurnRiskMin > 0 {
		sc, sa = append(sc, "cs.churn_risk >= ?"), append(sa, *f.ChurnRiskMin)
	}
	if f.CLVMin != nil && f.CLVMin.Fen() > 0 {
		sc, sa = append(sc, "cs.clv_fen >= ?"), append(sa, f.CLVMin.Fen())
	}
	if len(f.OrderKind) == 0 {
		if f.LastOrderBefore != "" {
			sc, sa = append(sc, "cs.last_order_at < ?"), append(sa, when(f.LastOrderBefore, q.Now, loc))
		}
		if f.LastOrderAfter != "" {
			sc, sa = append(sc, "cs.last_order_at >= ?"), append(sa, when(f.LastOrderAfter, q.Now, loc))
		}
	}
	if len(sc) > 0 {
		conds = append(conds, "EXISTS (SELECT 1 FROM customer_stats cs WHERE cs.customer_id = c.id AND "+strings.Join(sc, " AND ")+")")
		args = append(args, sa...)
	}
	if len(f.OrderKind) > 0 {
		// The last order of those kinds (refunds are not orders).
		last := "(SELECT MAX(o.occurred_at) FROM orders o WHERE o.customer_id = c.id AND o.kind IN ? AND o.amount_fen >= 0)"
		if f.LastOrderBefore == "" && f.LastOrderAfter == "" {
			conds = append(conds, "EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.kind IN ? AND o.amount_fen >= 0)")
			args = append(args, f.OrderKind)
		}
		if f.LastOrderBefore != "" {
			conds, args = append(conds, last+" < ?"), append(args, f.OrderKind, when(f.LastOrderBefore, q.Now, loc))
		}
		if f.LastOrderAfter != "" {
			conds, args = append(conds, last+" >= ?"), append(args, f.OrderKind, when(f.LastOrderAfter, q.Now, loc))
		}
	}
	if len(f.AssetKind) > 0 || f.AssetAgeMin != nil || f.AssetAgeMax != nil {
		ac := []string{"a.customer_id = c.id"}
		var aa []any
		if len(f.AssetKind) > 0 {
			ac, aa = append(ac, "a.kind IN ?"), append(aa, f.AssetKind)
		}
		year := q.Now.In(loc).Year()
		if f.AssetAgeMin != nil {
			ac, aa = append(ac, "a.year > 0 AND a.year <= ?"), append(aa, year-*f.AssetAgeMin)
		}
		if f.AssetAgeMax != nil {
			ac, aa = append(ac, "a.year > 0 AND a.year >= ?"), append(aa, year-*f.AssetAgeMax)
		}
		conds = append(conds, "EXISTS (SELECT 1 FROM assets a WHERE "+strings.Join(ac, " AND ")+")")
		args = append(args, aa...)
	}
	return strings.Join(conds, " AND "), args
}

// CountSegment counts the customers the query matches.
func (s *Store) CountSegment(ctx context.Context, q SegmentQuery) (int64, error) {
	where, args := q.where()
	var n int64
	if err := s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM customers c WHERE "+where, args...).Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("count segment: %w", err)
	}
	return n, nil
}

// SegmentAudience returns up to limit members with after < id (< below
// unless 0), by id, with their identities: a care delivery's stream.
func (s *Store) SegmentAudience(ctx context.Context, q SegmentQuery, after, below int64, limit int, d Detail) ([]*Customer, error) {
	where, args := q.where()
	where = "c.id > ? AND " + where
	args = append([]any{after}, args...)
	if below > 0 {
		where = "c.id < ? AND " + where
		args = append([]any{below}, args...)
	}
	cs, err := s.audience(ctx, where, args, limit, d)
	if err != nil {
		return nil, fmt.Errorf("segment audience: %w", err)
	}
	return cs, nil
}

// SegmentMember is one member as lists and exports show them.
type SegmentMember struct {
	ID       int64    `json:"id"`
	Name     string   `json:"name"`
	Phone    string   `json:"phone"`
	Tier     Tier     `json:"tier"`
	Stage    Stage    `json:"stage"`
	City     string   `json:"city"`
	Region   string   `json:"region"`
	District string   `json:"district"`
	Channels []string `json:"channels"`
}

// SegmentMembers returns one page of members, by id.
func (s *Store) SegmentMembers(ctx context.Context, q SegmentQuery, p Page) ([]SegmentMember, string, error) {
	limit, after, err := p.parse()
	if err != nil {
		return nil, "", err
	}
	cs, err := s.SegmentAudience(ctx, q, after, 0, limit+1, Full)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(cs) > limit {
		cs = cs[:limit]
		next = encodeCursor(cs[limit-1].ID)
	}
	places := map[int64][3]string{}
	if len(cs) > 0 {
		ids := make([]int64, len(cs))
		for i, c := range cs {
			ids[i] = c.ID
		}
		var rows []struct {
			ID                     int64
			City, Region, District string
		}
		if err := s.db.WithContext(ctx).Model(&Customer{}).Select("id, city, region, district").Where("id IN ?", ids).Scan(&rows).Error; err != nil {
			return nil, "", fmt.Errorf("segment members: %w", err)
		}
		for _, r := range rows {
			places[r.ID] = [3]string{r.City, r.Region, r.District}
		}
	}
	out := make([]SegmentMember, len(cs))
	for i, c := range cs {
		pl := places[c.ID]
		m := SegmentMember{ID: c.ID, Name: c.Name, Phone: c.Phone, Tier: c.Tier, Stage: c.Stage,
			City: pl[0], Region: pl[1], District: pl[2], Channels: []string{}}
		for _, id := range c.Identities {
			if !slices.Contains(m.Channels, id.Channel) {
				m.Channels = append(m.Channels, id.Channel)
			}
		}
		out[i] = m
	}
	return out, next, nil
}

// CreateSegment saves a named definition; a name taken is 409.
func (s *Store) CreateSegment(ctx context.Context, name string, filter SegmentFilter, by *int64) (*SegmentDef, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 128 {
		return nil, Invalid("name", "must be 1-128 characters")
	}
	now := s.Now().Truncate(time.Millisecond)
	d := &SegmentDef{Name: name, FilterJSON: filter.JSON(), CreatedBy: by, CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Create(d).Error; err != nil {
		if isDuplicate(err) {
			return nil, &Error{Code: ECONFLICT, Field: "name", Message: fmt.Sprintf("a segment named %q exists", name)}
		}
		return nil, fmt.Errorf("create segment: %w", err)
	}
	d.Filter = json.RawMessage(d.FilterJSON)
	return d, nil
}

// SegmentByID loads a segment.
func (s *Store) SegmentByID(ctx context.Context, id int64) (*SegmentDef, error) {
	d, err := byID[SegmentDef](ctx, s, "segment", id)
	if err == nil {
		d.Filter = json.RawMessage(d.FilterJSON)
	}
	return d, err
}

// ParsedFilter is the segment's stored filter, parsed.
func (d *SegmentDef) ParsedFilter() (SegmentFilter, error) {
	return ParseSegmentFilter([]byte(d.FilterJSON))
}

// ListSegments returns segments, newest first.
func (s *Store) ListSegments(ctx context.Context, p Page) ([]*SegmentDef, string, error) {
	limit, before, err := p.parse()
	if err != nil {
		return nil, "", err
	}
	q := s.db.WithContext(ctx).Model(&SegmentDef{})
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	ds, next, err := pageOf(q.Order("id DESC"), limit, func(d *SegmentDef) int64 { return d.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list segments: %w", err)
	}
	for _, d := range ds {
		d.Filter = json.RawMessage(d.FilterJSON)
	}
	return ds, next, nil
}

// segmentsAndCampaigns is migration 27's schema: profile fields segments
// use (district, asset kind/model/year, opt-out time) and the tables.
func segmentsAndCampaigns(tx *gorm.DB) error {
	return tx.AutoMigrate(&Customer{}, &Asset{}, &SegmentDef{}, &Campaign{}, &CampaignRun{})
}
