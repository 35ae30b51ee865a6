package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
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

// CustomersInStages returns up to limit customers with id > after whose
// lifecycle stage is one of stages, by id, through the stage index.
func (s *Store) CustomersInStages(ctx context.Context, stages []Stage, after int64, limit int) ([]*Customer, error) {
	if len(stages) == 0 {
		return nil, nil
	}
	cs, err := s.audience(ctx, "stage IN ? AND id > ?", []any{stages, after}, limit, Full)
	if err != nil {
		return nil, fmt.Errorf("customers in stages: %w", err)
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
	// CareIdentity breaks ties by id.
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
