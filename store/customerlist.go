package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/width"
	"gorm.io/gorm"
)

// CustomerFilter narrows ListCustomers. Empty fields match everything.
type CustomerFilter struct {
	Channel    string
	ExternalID string
	Q          string // name substring or phone prefix
	Tier       Tier
	Stage      Stage
	Tag        string
	City       string
	Region     string
	// The figures: RFM segment key, churn risk and CLV at least this much,
	// last order before (exclusive) or at/after (inclusive) a time.
	RFMSegment      string
	ChurnRiskMin    *int
	CLVMin          *Money
	LastOrderBefore time.Time
	LastOrderAfter  time.Time
	// Source matches exactly; OwnerStaffID 0 means no owner; created in
	// [CreatedFrom, CreatedTo) (a report's drill-down).
	Source       string
	OwnerStaffID *int64
	CreatedFrom  time.Time
	CreatedTo    time.Time
	// Viewer, when set, limits the list to the customers they may see
	// (access.go); nil lists everyone (internal callers).
	Viewer *Actor
	Page
}

// figures narrows q by the filter's figures (customer_stats), joined only
// when asked for. A customer without a stats row has none of the figures
// yet: zero risk and CLV, no segment, no order.
func (f CustomerFilter) figures(q *gorm.DB) (*gorm.DB, error) {
	var conds []string
	var args []any
	if f.RFMSegment != "" {
		if !ValidRFMSegment(f.RFMSegment) {
			return nil, Invalid("rfm_segment", "%q is not an RFM segment (important_value, important_keep, important_develop, "+
				"important_retain, general_value, general_keep, general_develop, general_retain)", f.RFMSegment)
		}
		conds, args = append(conds, "cs.rfm_segment = ?"), append(args, f.RFMSegment)
	}
	if f.ChurnRiskMin != nil {
		if *f.ChurnRiskMin < 0 || *f.ChurnRiskMin > 100 {
			return nil, Invalid("churn_risk_min", "must be 0-100")
		}
		if *f.ChurnRiskMin > 0 {
			conds, args = append(conds, "cs.churn_risk >= ?"), append(args, *f.ChurnRiskMin)
		}
	}
	outer := false
	if f.CLVMin != nil {
		if f.CLVMin.Fen() > 0 {
			conds, args = append(conds, "cs.clv_fen >= ?"), append(args, f.CLVMin.Fen())
		} else {
			conds, args = append(conds, "(cs.clv_fen >= ? OR cs.customer_id IS NULL)"), append(args, f.CLVMin.Fen())
			outer = true
		}
	}
	if !f.LastOrderBefore.IsZero() {
		conds, args = append(conds, "cs.last_order_at < ?"), append(args, f.LastOrderBefore.UTC())
	}
	if !f.LastOrderAfter.IsZero() {
		conds, args = append(conds, "cs.last_order_at >= ?"), append(args, f.LastOrderAfter.UTC())
	}
	if len(conds) == 0 {
		return q, nil
	}
	join := "JOIN customer_stats cs ON cs.customer_id = customers.id"
	if outer && len(conds) == 1 {
		join = "LEFT " + join
	}
	return q.Select("customers.*").Joins(join).Where(strings.Join(conds, " AND "), args...), nil
}

// ListCustomers returns one page of customers, by id.
func (s *Store) ListCustomers(ctx context.Context, f CustomerFilter) ([]*Customer, string, error) {
	limit, after, err := f.Page.parse()
	if err != nil {
		return nil, "", err
	}
	db := s.db.WithContext(ctx)
	q := db.Model(&Customer{}).Where("customers.id > ?", after)
	if f.Channel != "" || f.ExternalID != "" {
		if f.Channel == "" || f.ExternalID == "" {
			return nil, "", Invalid("channel", "channel and external_id go together")
		}
		if !ValidChannel(f.Channel) {
			return nil, "", Invalid("channel", "%q is not telegram, wechat or webchat", f.Channel)
		}
		q = q.Where("customers.id IN (?)", db.Model(&Identity{}).Select("customer_id").
			Where("channel = ? AND external_id = ?", f.Channel, f.ExternalID))
	}
	if q2 := strings.TrimSpace(f.Q); q2 != "" {
		like := "%" + escapeLike(q2) + "%"
		if phone, err := s.CanonicalPhone(q2); err == nil && phone != "" {
			// A whole number, however written, finds its canonical form.
			q = q.Where("customers.name LIKE ? ESCAPE '!' OR customers.phone = ?", like, phone)
		} else if prefixes := s.phonePrefixes(phoneDigits(q2)); len(prefixes) > 0 {
			// The start of a number: as typed, or after the country code.
			cond := db.Where("customers.name LIKE ? ESCAPE '!'", like)
			for _, p := range prefixes {
				cond = cond.Or("customers.phone LIKE ? ESCAPE '!'", escapeLike(p)+"%")
			}
			q = q.Where(cond)
		} else {
			q = q.Where("customers.name LIKE ? ESCAPE '!'", like)
		}
	}
	if f.Tier != "" {
		t := Tier(strings.ToUpper(string(f.Tier)))
		if t != TierA && t != TierB && t != TierC {
			return nil, "", Invalid("tier", "%q is not A, B or C", f.Tier)
		}
		q = q.Where("customers.tier = ?", t)
	}
	if f.City != "" {
		q = q.Where("customers.city = ?", f.City)
	}
	if f.Region != "" {
		q = q.Where("customers.region = ?", f.Region)
	}
	if f.Source != "" {
		q = q.Where("customers.source = ?", f.Source)
	}
	if f.OwnerStaffID != nil {
		if *f.OwnerStaffID == 0 {
			q = q.Where("customers.owner_staff_id IS NULL")
		} else {
			q = q.Where("customers.owner_staff_id = ?", *f.OwnerStaffID)
		}
	}
	if !f.CreatedFrom.IsZero() {
		q = q.Where("customers.created_at >= ?", f.CreatedFrom.UTC())
	}
	if !f.CreatedTo.IsZero() {
		q = q.Where("customers.created_at < ?", f.CreatedTo.UTC())
	}
	if q, err = f.figures(q); err != nil {
		return nil, "", err
	}
	if f.Stage != "" {
		if !ValidStage(f.Stage) {
			return nil, "", Invalid("stage", "%q is not a lifecycle stage", f.Stage)
		}
		q = q.Where("customers.stage = ?", f.Stage)
	}
	if f.Tag != "" {
		q = q.Where("customers.id IN (?)", db.Model(&customerTag{}).Select("customer_id").Where("tag = ?", f.Tag))
	}
	if f.Viewer != nil {
		q = s.scopeCustomers(q, *f.Viewer, "customers.id")
	}
	cs, next, err := pageOf(q.Order("customers.id"), limit, func(r *Customer) int64 { return r.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list customers: %w", err)
	}
	if err := loadCustomerDetails(db, cs); err != nil {
		return nil, "", fmt.Errorf("list customers: %w", err)
	}
	return cs, next, nil
}

// phoneDigits is a search term as a number prefix: full-width digits
// narrowed and separators dropped; "" unless it has at least 4 digits and
// nothing but digits and a leading +.
func phoneDigits(q string) string {
	p := strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", ".", "").Replace(width.Narrow.String(q))
	digits := strings.TrimPrefix(p, "+")
	if len(digits) < 4 || strings.Trim(digits, "0123456789") != "" {
		return ""
	}
	return p
}

// escapeLike escapes LIKE wildcards with '!', which (unlike backslash) means
// the same in MySQL and SQLite string literals.
func escapeLike(s string) string {
	return strings.NewReplacer(`!`, `!!`, `%`, `!%`, `_`, `!_`).Replace(s)
}
