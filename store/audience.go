package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Audience queries: the customers a care workflow reaches, streamed in
// keyset-paginated batches (id > after ORDER BY id LIMIT n) so a run over a
// million customers never holds more than one batch. Returned customers carry
// their identities (not their tags).

// Segment narrows an audience by tier and tag; empty fields match everyone.
type Segment struct {
	Tier Tier   `yaml:"tier" json:"tier,omitempty"`
	Tag  string `yaml:"tag" json:"tag,omitempty"`
}

// CustomersByBirthday returns up to limit customers born on month/day with
// id > after, by id, through the (birth_month, birth_day) index.
func (s *Store) CustomersByBirthday(ctx context.Context, month, day int, after int64, limit int) ([]*Customer, error) {
	cs, err := s.audience(ctx, "birth_month = ? AND birth_day = ? AND id > ?", []any{month, day, after}, limit, Full)
	if err != nil {
		return nil, fmt.Errorf("customers by birthday: %w", err)
	}
	return cs, nil
}

// CustomersInSegment returns up to limit customers of the segment with
// id > after, by id.
func (s *Store) CustomersInSegment(ctx context.Context, seg Segment, after int64, limit int) ([]*Customer, error) {
	return s.CustomersInSegmentBelow(ctx, seg, after, 0, limit, Full)
}

// Detail is how much of each customer an audience read fills in.
type Detail int

const (
	// Full is every field care uses, the templates' included.
	Full Detail = iota
	// Plan leaves out what only a message's text uses (name, phone,
	// birthday, gender, points): enough to decide who gets what, as a
	// dry run over everyone does before it renders a few samples.
	Plan
)

// CustomersInSegmentBelow is CustomersInSegment limited to ids < below
// (0 = no bound), so a run can stream disjoint id ranges in parallel.
func (s *Store) CustomersInSegmentBelow(ctx context.Context, seg Segment, after, below int64, limit int, d Detail) ([]*Customer, error) {
	where, args := "id > ?", []any{after}
	if below > 0 {
		where += " AND id < ?"
		args = append(args, below)
	}
	if seg.Tier != "" {
		where += " AND tier = ?"
		args = append(args, strings.ToUpper(string(seg.Tier)))
	}
	if seg.Tag != "" {
		where += " AND id IN (SELECT customer_id FROM customer_tags WHERE tag = ?)"
		args = append(args, seg.Tag)
	}
	cs, err := s.audience(ctx, where, args, limit, d)
	if err != nil {
		return nil, fmt.Errorf("customers in segment: %w", err)
	}
	return cs, nil
}

// CustomerIDBounds returns the smallest and largest customer id (0, 0 when
// there are none).
func (s *Store) CustomerIDBounds(ctx context.Context) (lo, hi int64, err error) {
	var r struct{ Lo, Hi sql.NullInt64 }
	if err := s.db.WithContext(ctx).Model(&Customer{}).Select("MIN(id) AS lo, MAX(id) AS hi").Scan(&r).Error; err != nil {
		return 0, 0, fmt.Errorf("customer id bounds: %w", err)
	}
	return r.Lo.Int64, r.Hi.Int64, nil
}

// InactiveCustomers returns up to limit customers with id > after, created
// before cutoff, whose last inbound message is before cutoff (or never).
// Orders are checked by the caller with LastOrders.
func (s *Store) InactiveCustomers(ctx context.Context, cutoff time.Time, after int64, limit int) ([]*Customer, error) {
	cs, err := s.audience(ctx, "id > ? AND created_at < ? AND (last_inbound_at IS NULL OR last_inbound_at < ?)",
		[]any{after, cutoff.UTC(), cutoff.UTC()}, limit, Full)
	if err != nil {
		return nil, fmt.Errorf("inactive customers: %w", err)
	}
	return cs, nil
}

// CustomersByIDs loads customers (with identities) by id, in id order.
func (s *Store) CustomersByIDs(ctx context.Context, ids []int64) ([]*Customer, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cs, err := s.audience(ctx, "id IN ?", []any{ids}, len(ids), Full)
	if err != nil {
		return nil, fmt.Errorf("customers by id: %w", err)
	}
	return cs, nil
}

// audienceCols are the customer columns care needs (not email, company...);
// planCols the ones a Plan read takes.
const (
	audienceCols = "c.id, c.name, c.phone, c.birth_month, c.birth_day, c.birth_year, c.gender, c.tier, c.stage, c.opt_out, " +
		"c.owner_staff_id, c.points, c.locale, c.last_inbound_at, c.created_at"
	planCols = "c.id, c.tier, c.stage, c.opt_out, c.owner_staff_id, c.locale, c.last_inbound_at, c.created_at"
)

// audience selects up to limit customers matching where (ordered by id)
// and then their identities, scanned without reflection: a holiday run reads
// every customer, so this is the hot path. A dense batch of ids (streaming
// the whole table) reads identities as one index range.
func (s *Store) audience(ctx context.Context, where string, args []any, limit int, d Detail) ([]*Customer, error) {
	db := s.db.WithContext(ctx)
	cols := audienceCols
	if d == Plan {
		cols = planCols
	}
	rows, err := s.scan.WithContext(ctx).Raw("SELECT "+cols+" FROM customers c WHERE "+where+" ORDER BY id LIMIT ?", append(args, limit)...).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	// A million customers pass through here in a holiday run, so the loop
	// allocates as little as it can: customers and identities in one slab
	// each, low-cardinality strings (tier, stage, locale, channel) shared,
	// and one row's scan targets made once (each target handed to Scan as
	// an interface would otherwise be allocated per column and row).
	cs := make([]Customer, 0, limit)
	words := interned{}
	var (
		r                 Customer
		owner             int64
		ownerOK, lastInOK bool
		lastIn, created   anyTime
	)
	lastIn.ok = &lastInOK
	dest := []any{intCol[int64]{&r.ID, nil}, &r.Name, &r.Phone, intCol[int]{&r.Birthday.Month, nil}, intCol[int]{&r.Birthday.Day, nil},
		intCol[int]{&r.Birthday.Year, nil}, strCol[string]{&r.Gender, words}, strCol[Tier]{&r.Tier, words}, strCol[Stage]{&r.Stage, words},
		&r.OptOut, intCol[int64]{&owner, &ownerOK}, intCol[int64]{&r.Points, nil}, strCol[string]{&r.Locale, words}, &lastIn, &created}
	if d == Plan {
		dest = []any{intCol[int64]{&r.ID, nil}, strCol[Tier]{&r.Tier, words}, strCol[Stage]{&r.Stage, words},
			&r.OptOut, intCol[int64]{&owner, &ownerOK}, strCol[string]{&r.Locale, words}, &lastIn, &created}
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		c := r
		if ownerOK {
			v := owner
			c.OwnerStaffID = &v
		}
		if lastInOK {
			t := lastIn.t
			c.LastInboundAt = &t
		}
		c.CreatedAt = created.t
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	out := make([]*Customer, len(cs))
	for i := range cs {
		out[i] = &cs[i]
	}
	if len(out) == 0 {
		return out, nil
	}
	lo, hi := out[0].ID, out[len(out)-1].ID
	q := "SELECT id, customer_id, channel, external_id, unreachable, last_inbound_at FROM identities WHERE "
	var qargs []any
	if hi-lo < int64(2*len(out)) {
		q += "customer_id BETWEEN ? AND ?"
		qargs = []any{lo, hi}
		db = s.scan.WithContext(ctx) // one statement shape: worth preparing
	} else {
		ids := make([]int64, len(out))
		for i, c := range out {
			ids[i] = c.ID
		}
		q += "customer_id IN ?"
		qargs = []any{ids}
	}
	// ix_identities_audience covers the columns, in customer order (no
	// sort), so identities come in the customers' order and are matched by
	// walking both lists. A customer's own identities need no order:
	// BestIdentity breaks ties by id.
	irows, err := db.Raw(q+" ORDER BY customer_id", qargs...).Rows()
	if err != nil {
		return nil, err
	}
	defer irows.Close()
	all := make([]Identity, 0, len(out)+len(out)/4)
	var (
		id     Identity
		last   anyTime
		lastOK bool
	)
	last.ok = &lastOK
	idest := []any{intCol[int64]{&id.ID, nil}, intCol[int64]{&id.CustomerID, nil}, strCol[string]{&id.Channel, words}, &id.ExternalID, &id.Unreachable, &last}
	for irows.Next() {
		if err := irows.Scan(idest...); err != nil {
			return nil, err
		}
		id.LastInboundAt = nil
		if lastOK {
			t := last.t
			id.LastInboundAt = &t
		}
		all = append(all, id)
	}
	if err := irows.Err(); err != nil {
		return nil, err
	}
	j := 0
	for i := 0; i < len(all); {
		k := i
		for k < len(all) && all[k].CustomerID == all[i].CustomerID {
			k++
		}
		for j < len(out) && out[j].ID < all[i].CustomerID {
			j++
		}
		if j < len(out) && out[j].ID == all[i].CustomerID {
			out[j].Identities = all[i:k:k]
		}
		i = k
	}
	for _, c := range out {
		if c.Identities == nil {
			c.Identities = []Identity{}
		}
	}
	return out, nil
}

// BestIdentity is the identity proactive care uses: the reachable one that
// wrote last (ties: the newest). Nil when the customer has none reachable.
func (c *Customer) BestIdentity() *Identity {
	var best *Identity
	for i := range c.Identities {
		id := &c.Identities[i]
		if id.Unreachable {
			continue
		}
		if best == nil || after(id.LastInboundAt, best.LastInboundAt) || (sameTime(id.LastInboundAt, best.LastInboundAt) && id.ID > best.ID) {
			best = id
		}
	}
	return best
}

// RecentProactive returns, per customer, the idempotency keys of proactive
// (workflow) messages created since `since` that were not skipped: the
// per-customer cap counts them, and a key already there means "already
// queued" rather than "over the cap".
func (s *Store) RecentProactive(ctx context.Context, customerIDs []int64, since time.Time) (map[int64][]string, error) {
	out := map[int64][]string{}
	if len(customerIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		CustomerID     int64
		IdempotencyKey *string
	}
	q := s.db.WithContext(ctx).Model(&Message{}).Select("customer_id, idempotency_key").
		Where("created_at >= ? AND direction = ? AND workflow <> '' AND status <> ?", since.UTC(), DirectionOut, StatusSkipped)
	// A dense batch (consecutive ids, as a holiday run streams them) is
	// one index range instead of thousands of lookups.
	lo, hi := customerIDs[0], customerIDs[0]
	for _, id := range customerIDs {
		lo, hi = min(lo, id), max(hi, id)
	}
	want := map[int64]bool{}
	if hi-lo < int64(2*len(customerIDs)) {
		q = q.Where("customer_id BETWEEN ? AND ?", lo, hi)
		for _, id := range customerIDs {
			want[id] = true
		}
	} else {
		q = q.Where("customer_id IN ?", customerIDs)
	}
	err := q.Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("recent proactive: %w", err)
	}
	for _, r := range rows {
		if len(want) == 0 || want[r.CustomerID] {
			out[r.CustomerID] = append(out[r.CustomerID], deref(r.IdempotencyKey))
		}
	}
	return out, nil
}

// StaffContacted returns the customers (of ids) that staff wrote to since
// `since`: outbound messages not sent by a workflow nor rendered from a
// template (bot replies), i.e. typed by an agent.
func (s *Store) StaffContacted(ctx context.Context, customerIDs []int64, since time.Time) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(customerIDs) == 0 {
		return out, nil
	}
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Message{}).Distinct("customer_id").
		Where("customer_id IN ? AND created_at >= ? AND direction = ? AND workflow = '' AND template_key = '' AND staff_id IS NULL",
			customerIDs, since.UTC(), DirectionOut).Pluck("customer_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("staff contacted: %w", err)
	}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// LastOrders returns each customer's latest order time (customers without
// orders are absent).
func (s *Store) LastOrders(ctx context.Context, customerIDs []int64) (map[int64]time.Time, error) {
	out := map[int64]time.Time{}
	if len(customerIDs) == 0 {
		return out, nil
	}
	rows, err := s.db.WithContext(ctx).Model(&Order{}).Select("customer_id, MAX(occurred_at) AS last").
		Where("customer_id IN ?", customerIDs).Group("customer_id").Rows()
	if err != nil {
		return nil, fmt.Errorf("last orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var last anyTime
		if err := rows.Scan(&id, &last); err != nil {
			return nil, fmt.Errorf("last orders: %w", err)
		}
		out[id] = last.t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("last orders: %w", err)
	}
	return out, nil
}

// SetStages moves customers to a lifecycle stage in one UPDATE.
func (s *Store) SetStages(ctx context.Context, ids []int64, stage Stage) error {
	if len(ids) == 0 {
		return nil
	}
	if !ValidStage(stage) {
		return Invalid("stage", "%q is not a lifecycle stage", stage)
	}
	err := s.db.WithContext(ctx).Model(&Customer{}).Where("id IN ? AND stage <> ?", ids, stage).
		Updates(map[string]any{"stage": stage, "updated_at": s.Now()}).Error
	if err != nil {
		return fmt.Errorf("set stages: %w", err)
	}
	return nil
}

// anyTime scans a time column in raw queries: MySQL gives a time.Time,
// SQLite (in aggregates and raw scans) may give the stored text. ok, when
// set, records whether the value was non-NULL.
type anyTime struct {
	t  time.Time
	ok *bool
}

func (t *anyTime) Scan(v any) error {
	if t.ok != nil {
		*t.ok = v != nil
	}
	switch x := v.(type) {
	case time.Time:
		t.t = x.UTC()
		return nil
	case string:
		return t.parse(x)
	case []byte:
		return t.parse(string(x))
	case nil:
		t.t = time.Time{}
		return nil
	}
	return fmt.Errorf("scan time: unsupported %T", v)
}

func (t *anyTime) parse(s string) error {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if x, err := time.Parse(layout, s); err == nil {
			t.t = x.UTC()
			return nil
		}
	}
	return fmt.Errorf("scan time: %q", s)
}

// intCol and strCol scan the audience's columns as the drivers give them
// (int64, []byte, string). database/sql would turn an int64 into an *int by
// formatting and parsing it, and fill named string types by reflection:
// a third of a million-customer dry run went there. ok, when set, records
// whether the value was non-NULL (NULL leaves the target alone).
type intCol[T ~int | ~int64] struct {
	p  *T
	ok *bool
}

func (c intCol[T]) Scan(v any) error {
	if c.ok != nil {
		*c.ok = v != nil
	}
	switch x := v.(type) {
	case int64:
		*c.p = T(x)
	case []byte:
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return fmt.Errorf("scan int: %w", err)
		}
		*c.p = T(n)
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return fmt.Errorf("scan int: %w", err)
		}
		*c.p = T(n)
	case nil:
	default:
		return fmt.Errorf("scan int: unsupported %T", v)
	}
	return nil
}

// strCol scans a string column; with words set, each distinct value is
// allocated once per query (tier, stage, locale: a few values each).
type strCol[T ~string] struct {
	p     *T
	words interned
}

// interned maps a value to its one shared copy.
type interned map[string]string

func (c strCol[T]) Scan(v any) error {
	switch x := v.(type) {
	case []byte:
		if c.words == nil {
			*c.p = T(x)
			return nil
		}
		w, ok := c.words[string(x)] // no allocation for the lookup
		if !ok {
			w = string(x)
			if len(c.words) < 64 {
				c.words[w] = w
			}
		}
		*c.p = T(w)
	case string:
		*c.p = T(x)
	case nil:
		*c.p = ""
	default:
		return fmt.Errorf("scan string: unsupported %T", v)
	}
	return nil
}
