package store

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Ledger entry kinds.
const (
	PointsEarn    = "earn"
	PointsRedeem  = "redeem"
	PointsExpire  = "expire"
	PointsAdjust  = "adjust"
	PointsReverse = "reverse"
)

// PointsEntry is one immutable line of a customer's points ledger. The
// customer's Points (customers.points) is the sum of their entries, kept
// so in the transaction that writes each entry.
type PointsEntry struct {
	ID int64 `gorm:"primaryKey" json:"id"`
	// The index covers the expiry's per-customer sums (customer, expiry,
	// points): the year-end run reads no row, and it is narrow.
	CustomerID int64  `gorm:"not null;index:ix_points_entries_customer,priority:1" json:"customer_id"`
	Kind       string `gorm:"size:8;not null" json:"kind"`
	Points     int64  `gorm:"not null;index:ix_points_entries_customer,priority:3" json:"points"`
	Reason     string `gorm:"size:255;not null;default:''" json:"reason"`
	// StaffID is who wrote it by hand; nil for the system (rules, expiry).
	StaffID *int64 `json:"staff_id"`
	// OrderID is read through Key (order:ID), which is indexed.
	OrderID   *int64 `json:"order_id"`
	VoucherID *int64 `json:"voucher_id"`
	// Key makes an entry land once however often its cause is replayed
	// (an order re-imported, a bonus retried, a double-tapped button).
	Key *string `gorm:"column:idem_key;size:100;uniqueIndex:ux_points_entries_key" json:"-"`
	// ExpiresAt is when a credit expires (nil: never; debits: nil).
	ExpiresAt *time.Time `gorm:"index:ix_points_entries_customer,priority:2" json:"expires_at,omitempty"`
	CreatedAt time.Time  `gorm:"not null" json:"created_at"`
}

// PointsRules are how events earn points; package points builds them from
// the `points:` config and cmd sets them with OnPoints.
type PointsRules struct {
	// Order is what an order of amount > 0 earns for a customer of tier
	// (as it stood before the order).
	Order func(kind string, amount Money, tier Tier) int64
	// Bonuses, each once: the first order, each survey answer, a birthday
	// per year.
	FirstOrder, Survey, Birthday int64
	// Expires is when points credited at t expire; nil: never.
	Expires func(t time.Time) *time.Time
}

// pointsHook holds the rules OnPoints set.
type pointsHook struct{ rules atomic.Pointer[PointsRules] }

// OnPoints sets the earning rules. Without them nothing earns (adjustments,
// redemptions and expiry still work).
func (s *Store) OnPoints(r PointsRules) { s.points.rules.Store(&r) }

func (s *Store) pointsRules() *PointsRules { return s.points.rules.Load() }

func (r *PointsRules) expires(t time.Time) *time.Time {
	if r == nil || r.Expires == nil {
		return nil
	}
	e := r.Expires(t)
	if e != nil {
		u := e.UTC()
		return &u
	}
	return nil
}

func keyOf(parts ...any) *string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprint(&b, p)
	}
	k := b.String()
	return &k
}

// addEntry inserts e unless its key is stored and, when inserted, moves the
// balance by e.Points. It reports whether it inserted. A debit that would
// take the balance below zero is refused (ECONFLICT) unless mayGoNegative
// (a refund reversing points already spent).
func addEntry(tx *gorm.DB, e *PointsEntry, mayGoNegative bool) (bool, error) {
	if e.Points == 0 {
		return false, nil
	}
	if e.Points < 0 && !mayGoNegative {
		// The conditional update is the guard: two debits racing (two
		// replicas, a double tap) cannot both pass it, whatever isolation
		// or cluster (Galera, TiDB) runs them.
		res := tx.Exec("UPDATE customers SET points = points + ? WHERE id = ? AND points >= ?", e.Points, e.CustomerID, -e.Points)
		if res.Error != nil {
			return false, res.Error
		}
		if res.RowsAffected == 0 {
			return false, notEnoughPoints(tx, e.CustomerID, -e.Points)
		}
	}
	q := tx
	if e.Key != nil {
		q = q.Clauses(clause.OnConflict{DoNothing: true})
	}
	res := q.Create(e)
	if res.Error != nil {
		return false, res.Error
	}
	if res.RowsAffected == 0 {
		if e.Points < 0 && !mayGoNegative {
			// Already applied: undo the debit just made (same transaction).
			return false, tx.Exec("UPDATE customers SET points = points - ? WHERE id = ?", e.Points, e.CustomerID).Error
		}
		return false, nil
	}
	if e.Points > 0 || mayGoNegative {
		res := tx.Exec("UPDATE customers SET points = points + ? WHERE id = ?", e.Points, e.CustomerID)
		if res.Error != nil {
			return false, res.Error
		}
		if res.RowsAffected == 0 {
			return false, Errorf(ENOTFOUND, "customer %d not found", e.CustomerID)
		}
	}
	return true, nil
}

func notEnoughPoints(tx *gorm.DB, customerID, need int64) error {
	var bal []int64
	if err := tx.Model(&Customer{}).Where("id = ?", customerID).Pluck("points", &bal).Error; err != nil {
		return err
	}
	if len(bal) == 0 {
		return Errorf(ENOTFOUND, "customer %d not found", customerID)
	}
	return &Error{Code: ECONFLICT, Field: "points",
		Message: fmt.Sprintf("not enough points: %d needed, the balance is %d", need, bal[0])}
}

// addToBalances moves each customer's balance by its delta: CASE UPDATEs
// of a few hundred customers (a CASE is matched branch by branch, so one
// over thousands would cost its square), in id order (one lock order for
// every writer).
func addToBalances(tx *gorm.DB, delta map[int64]int64) error {
	ids := sortedKeys(delta)
	for len(ids) > 0 {
		part := ids[:min(len(ids), 250)]
		ids = ids[len(part):]
		var up strings.Builder
		up.WriteString("UPDATE customers SET points = points + " + caseByID(part, delta) + " WHERE id IN (")
		for i, id := range part {
			if i > 0 {
				up.WriteByte(',')
			}
			up.WriteString(strconv.FormatInt(id, 10))
		}
		up.WriteString(")")
		if err := tx.Exec(up.String()).Error; err != nil {
			return err
		}
	}
	return nil
}

// caseByID is "CASE id WHEN id THEN val[id] ... ELSE 0 END" for ids, as
// text: ids and amounts are integers, and a few thousand bound values cost
// more than the rows.
func caseByID(ids []int64, val map[int64]int64) string {
	var sb strings.Builder
	sb.WriteString("CASE id")
	for _, id := range ids {
		sb.WriteString(" WHEN " + strconv.FormatInt(id, 10) + " THEN " + strconv.FormatInt(val[id], 10))
	}
	sb.WriteString(" ELSE 0 END")
	return sb.String()
}

// earnOrder credits what freshly inserted order o earns (a refund:
// reverses), inside the order's transaction, before its figures are
// refreshed (the tier is the one before the order). Keyed by the order, so
// it runs at most once per order.
func (s *Store) earnOrder(tx *gorm.DB, o *Order) error {
	r := s.pointsRules()
	if r == nil || r.Order == nil || o.Amount.Fen() == 0 {
		return nil
	}
	var tiers []string
	if err := tx.Model(&Customer{}).Where("id = ?", o.CustomerID).Pluck("tier", &tiers).Error; err != nil {
		return err
	}
	if len(tiers) == 0 {
		return nil
	}
	id := o.ID
	if o.Amount.Fen() < 0 {
		return s.reverseOrder(tx, r, o, Tier(tiers[0]))
	}
	e := &PointsEntry{CustomerID: o.CustomerID, Kind: PointsEarn, Points: r.Order(o.Kind, o.Amount, Tier(tiers[0])),
		Reason: o.Kind + " order", OrderID: &id, Key: keyOf("order", o.ID), ExpiresAt: r.expires(o.OccurredAt), CreatedAt: o.CreatedAt}
	if _, err := addEntry(tx, e, false); err != nil {
		return err
	}
	if r.FirstOrder <= 0 {
		return nil
	}
	var other []int64
	if err := tx.Model(&Order{}).Where("customer_id = ? AND id < ? AND amount_fen > 0", o.CustomerID, o.ID).Limit(1).Pluck("id", &other).Error; err != nil {
		return err
	}
	if len(other) > 0 {
		return nil
	}
	_, err := addEntry(tx, &PointsEntry{CustomerID: o.CustomerID, Kind: PointsEarn, Points: r.FirstOrder, Reason: "first order bonus",
		OrderID: &id, Key: keyOf("first_order", o.CustomerID), ExpiresAt: r.expires(o.OccurredAt), CreatedAt: o.CreatedAt}, false)
	return err
}

// reverseOrder takes back what refund o's order earned: with refund_of,
// the share of that order's earning the refund is of its amount (a full
// refund takes it all), never more than is left of it; without, what the
// refunded amount would earn now. It may take the balance below zero
// (the points were spent): the customer then earns back to zero before
// redeeming again.
func (s *Store) reverseOrder(tx *gorm.DB, r *PointsRules, o *Order, tier Tier) error {
	back := r.Order(o.Kind, Fen(-o.Amount.Fen()), tier)
	if o.RefundOfID != nil {
		var orig Order
		if err := tx.Take(&orig, *o.RefundOfID).Error; err != nil {
			return err
		}
		var earned []int64
		if err := tx.Model(&PointsEntry{}).Where("idem_key = ?", *keyOf("order", orig.ID)).Pluck("points", &earned).Error; err != nil {
			return err
		}
		if len(earned) == 0 {
			return nil // it earned nothing
		}
		// What earlier refunds of the same order took back (each refund's
		// entry is keyed by the refund).
		var refunds []int64
		if err := tx.Model(&Order{}).Where("refund_of_id = ? AND id <> ?", orig.ID, o.ID).Pluck("id", &refunds).Error; err != nil {
			return err
		}
		taken := []int64{0}
		if len(refunds) > 0 {
			keys := make([]string, len(refunds))
			for i, id := range refunds {
				keys[i] = *keyOf("order", id)
			}
			if err := tx.Model(&PointsEntry{}).Where("idem_key IN ?", keys).Pluck("COALESCE(SUM(points), 0)", &taken).Error; err != nil {
				return err
			}
		}
		back = earned[0]
		if -o.Amount.Fen() < orig.Amount.Fen() {
			back = mulDiv(earned[0], -o.Amount.Fen(), orig.Amount.Fen())
		}
		back = min(back, earned[0]+taken[0])
	}
	if back <= 0 {
		return nil
	}
	id := o.ID
	_, err := addEntry(tx, &PointsEntry{CustomerID: o.CustomerID, Kind: PointsReverse, Points: -back, Reason: "refund",
		OrderID: &id, Key: keyOf("order", o.ID), CreatedAt: o.CreatedAt}, true)
	return err
}

// mulDiv is floor(a*b/c) for non-negative a, b and positive c, without
// overflowing on large amounts.
func mulDiv(a, b, c int64) int64 {
	q, r := a/c, a%c
	return q*b + r*(b/c) + (r*(b%c))/c
}

// surveyBonus credits the survey bonus for answering survey id, in the
// answer's transaction, once per survey.
func (s *Store) surveyBonus(tx *gorm.DB, customerID, surveyID int64, now time.Time) error {
	r := s.pointsRules()
	if r == nil || r.Survey <= 0 {
		return nil
	}
	_, err := addEntry(tx, &PointsEntry{CustomerID: customerID, Kind: PointsEarn, Points: r.Survey, Reason: "survey bonus",
		Key: keyOf("survey", surveyID), ExpiresAt: r.expires(now), CreatedAt: now}, false)
	return err
}

// BirthdayBonuses credits the birthday bonus to the customers born on
// month/day with id > after (up to limit), once per customer and year; it
// returns the last id it looked at (0: none left).
func (s *Store) BirthdayBonuses(ctx context.Context, month, day, year int, after int64, limit int) (int64, int, error) {
	r := s.pointsRules()
	if r == nil || r.Birthday <= 0 {
		return 0, 0, nil
	}
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Customer{}).Where("birth_month = ? AND birth_day = ? AND id > ?", month, day, after).
		Order("id").Limit(limit).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return 0, 0, err
	}
	n := 0
	for _, id := range ids {
		ok, err := s.EarnBonus(ctx, id, r.Birthday, "birthday bonus", fmt.Sprintf("birthday:%d:%d", id, year))
		if err != nil {
			return 0, n, err
		}
		if ok {
			n++
		}
	}
	return ids[len(ids)-1], n, nil
}

// EarnBonus credits a bonus once per key (survey:<id>, birthday:<customer>:<year>).
func (s *Store) EarnBonus(ctx context.Context, customerID, points int64, reason, key string) (bool, error) {
	r := s.pointsRules()
	var ok bool
	err := s.tx(ctx, func(tx *gorm.DB) (err error) {
		ok, err = addEntry(tx, &PointsEntry{CustomerID: customerID, Kind: PointsEarn, Points: points, Reason: reason,
			Key: &key, ExpiresAt: r.expires(s.Now()), CreatedAt: s.Now()}, false)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("earn bonus: %w", err)
	}
	return ok, nil
}

// PointsAdjustment is a manual change with its reason.
type PointsAdjustment struct {
	Points int64  `json:"points"`
	Reason string `json:"reason"`
}

// AdjustPoints writes a staff adjustment: a credit expires as earned
// points do; a debit may not take the balance below zero (ECONFLICT).
func (s *Store) AdjustPoints(ctx context.Context, by Actor, customerID int64, in PointsAdjustment) (*PointsEntry, error) {
	in.Reason = strings.TrimSpace(in.Reason)
	switch {
	case in.Points == 0:
		return nil, Invalid("points", "must not be zero")
	case in.Points > 1_000_000_000 || in.Points < -1_000_000_000:
		return nil, Invalid("points", "must be between -1000000000 and 1000000000")
	case in.Reason == "":
		return nil, Invalid("reason", "required")
	case utf8.RuneCountInString(in.Reason) > 255:
		return nil, Invalid("reason", "longer than 255 characters")
	}
	if err := s.SeeCustomer(ctx, by, customerID); err != nil {
		return nil, err
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	e := &PointsEntry{CustomerID: customerID, Kind: PointsAdjust, Points: in.Points, Reason: in.Reason, StaffID: by.StaffID, CreatedAt: now}
	if in.Points > 0 {
		e.ExpiresAt = s.pointsRules().expires(now)
	}
	if err := s.tx(ctx, func(tx *gorm.DB) error { _, err := addEntry(tx, e, false); return err }); err != nil {
		return nil, fmt.Errorf("adjust points: %w", err)
	}
	return e, nil
}

// OpeningBalance is one row of an opening-balance import: a customer's
// points on the system the business used before.
type OpeningBalance struct {
	Line       int
	CustomerID int64
	Points     int64
	Reason     string
}

// PointsImport writes opening balances inside ImportPoints' transaction.
type PointsImport struct {
	s  *Store
	tx *gorm.DB
}

// ImportPoints runs write in one transaction (retried whole on a
// deadlock), as ImportOrders.
func (s *Store) ImportPoints(ctx context.Context, write func(*PointsImport) error) error {
	if err := s.tx(ctx, func(tx *gorm.DB) error { return write(&PointsImport{s: s, tx: tx}) }); err != nil {
		return fmt.Errorf("import points: %w", err)
	}
	return nil
}

// Insert writes each balance as an adjust entry (never expiring) keyed
// opening:CUSTOMER, the key the migration gave the balances staff had set:
// a customer has one opening balance, so a file imported again (or a
// customer who had one) is a duplicate, not a second credit.
func (w *PointsImport) Insert(rows []OpeningBalance) (created, duplicates int, err error) {
	now := w.s.Now().UTC().Truncate(time.Millisecond)
	for _, r := range rows {
		reason := cmp.Or(r.Reason, "opening balance")
		ok, err := addEntry(w.tx, &PointsEntry{CustomerID: r.CustomerID, Kind: PointsAdjust, Points: r.Points, Reason: reason,
			Key: keyOf("opening", r.CustomerID), CreatedAt: now}, true)
		if err != nil {
			return created, duplicates, fmt.Errorf("line %d: %w", r.Line, err)
		}
		if ok {
			created++
		} else {
			duplicates++
		}
	}
	return created, duplicates, nil
}

// Expiring is an amount of points that expires at On.
type Expiring struct {
	Points int64     `json:"points"`
	On     time.Time `json:"on"`
}

// PointsView is a customer's balance, what expires when, and the newest
// ledger entries.
type PointsView struct {
	Balance  int64          `json:"balance"`
	Expiring []Expiring     `json:"expiring"`
	Items    []*PointsEntry `json:"items"`
}

// CustomerPoints returns the customer's points with up to limit newest
// entries.
func (s *Store) CustomerPoints(ctx context.Context, by Actor, customerID int64, limit int) (*PointsView, error) {
	if err := s.SeeCustomer(ctx, by, customerID); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	db := s.db.WithContext(ctx)
	v := &PointsView{Items: []*PointsEntry{}}
	var bal []int64
	if err := db.Model(&Customer{}).Where("id = ?", customerID).Pluck("points", &bal).Error; err != nil {
		return nil, fmt.Errorf("customer points: %w", err)
	}
	if len(bal) == 0 {
		return nil, Errorf(ENOTFOUND, "customer %d not found", customerID)
	}
	v.Balance = bal[0]
	if err := db.Where("customer_id = ?", customerID).Order("created_at DESC, id DESC").Limit(limit).Find(&v.Items).Error; err != nil {
		return nil, fmt.Errorf("customer points: %w", err)
	}
	exp, err := expiringOf(db, customerID, s.Now())
	if err != nil {
		return nil, fmt.Errorf("customer points: %w", err)
	}
	v.Expiring = exp
	return v, nil
}

// expiringOf walks the customer's credits by expiry, oldest first, and
// lets the debits consume them in that order (the customer's best: what
// expires soonest is spent first); what is left of each credit expiring
// after now is listed by day.
func expiringOf(db *gorm.DB, customerID int64, now time.Time) ([]Expiring, error) {
	type group struct {
		at    time.Time
		total int64
	}
	var groups []group
	rows, err := db.Model(&PointsEntry{}).Select("expires_at, SUM(points)").
		Where("customer_id = ? AND points > 0 AND expires_at IS NOT NULL", customerID).
		Group("expires_at").Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var at anyTime
		var g group
		if err := rows.Scan(&at, &g.total); err != nil {
			return nil, err
		}
		g.at = at.t
		groups = append(groups, g)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var debits []int64
	if err := db.Model(&PointsEntry{}).Where("customer_id = ? AND points < 0", customerID).
		Pluck("COALESCE(SUM(points), 0)", &debits).Error; err != nil {
		return nil, err
	}
	spent := int64(0)
	if len(debits) > 0 {
		spent = -debits[0]
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].at.Before(groups[j].at) })
	out := []Expiring{}
	for _, g := range groups {
		left := g.total - spent
		spent = max(0, spent-g.total)
		if left <= 0 || !g.at.After(now) {
			continue
		}
		out = append(out, Expiring{Points: left, On: g.at.UTC()})
	}
	return out, nil
}
