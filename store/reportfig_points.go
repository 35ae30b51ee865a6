package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// Points metrics of the daily figures, from the ledger (points_entries)
// and the vouchers.
const (
	// Credits by reason: order, first_order, birthday, survey (earned by
	// the rules), adjust (staff), opening (opening balances), other.
	MetricPointsIssued = "points_issued"
	// Debits by kind (redeem, expire, reverse, adjust), as positive points.
	MetricPointsDebited     = "points_debited"
	MetricVouchersIssued    = "vouchers_issued"     // dim: reward
	MetricVouchersIssuedFen = "vouchers_issued_fen" // dim: reward (the vouchers' value)
	MetricVouchersUsed      = "vouchers_used"       // dim: reward
	MetricVouchersUsedFen   = "vouchers_used_fen"   // dim: reward
	MetricVouchersExpired   = "vouchers_expired"    // dim: reward (unused when their time ran out in the day)
	// The points expiring in the next PointsExpiringDays from when today
	// was computed, and of how many customers: snapshots of today only
	// (dim: the days, "30"), a read of the whole ledger's covering index.
	MetricPointsExpiring          = "points_expiring"
	MetricPointsExpiringCustomers = "points_expiring_customers"
)

// PointsExpiringDays are the horizons of the points-expiring figures.
func PointsExpiringDays() []int { return []int{30, 60, 90} }

// reportPointsIndexes adds the indexes the points figures' day reads range
// over: the ledger and the vouchers by time.
func reportPointsIndexes(tx *gorm.DB) error {
	for _, ix := range []struct{ table, name, cols string }{
		{"points_entries", "ix_points_entries_created", "created_at"},
		{"vouchers", "ix_vouchers_created", "created_at"},
		{"vouchers", "ix_vouchers_used", "used_at"},
		{"vouchers", "ix_vouchers_expires", "expires_at"},
	} {
		if tx.Migrator().HasIndex(ix.table, ix.name) {
			continue
		}
		if err := tx.Exec("CREATE INDEX " + ix.name + " ON " + ix.table + " (" + ix.cols + ")").Error; err != nil {
			return err
		}
	}
	return nil
}

// creditReason names a credit's reason from its kind and the first part
// of its key (order:ID, first_order:CUSTOMER, survey:ID,
// birthday:CUSTOMER:YEAR, opening:CUSTOMER).
func creditReason(kind, key string) string {
	if kind == PointsAdjust {
		if key == "opening" {
			return "opening"
		}
		return PointsAdjust
	}
	switch key {
	case "order", "first_order", "survey", "birthday":
		return key
	}
	return "other"
}

// dayPoints: the ledger's credits by reason and debits by kind written in
// the day; vouchers issued, used and expired in it, by reward; computed
// during the day (today), the points expiring from now.
func (s *Store) dayPoints(ctx context.Context, db *gorm.DB, f *figureSet, w DayWindow, from, to, end time.Time) error {
	if !w.Now.IsZero() && !w.Now.Before(w.From) && w.Now.Before(w.To) {
		var hs []time.Time
		for _, n := range PointsExpiringDays() {
			hs = append(hs, w.Now.Add(time.Duration(n)*24*time.Hour))
		}
		exp, err := s.PointsExpiring(ctx, w.Now, hs...)
		if err != nil {
			return fmt.Errorf("day figures: %w", err)
		}
		for i, n := range PointsExpiringDays() {
			f.add(MetricPointsExpiring, strconv.Itoa(n), exp[i].Points)
			f.add(MetricPointsExpiringCustomers, strconv.Itoa(n), exp[i].Customers)
		}
	}
	var entries []struct {
		Kind, Sign, K string
		N             int64
	}
	err := db.Raw(`SELECT kind, CASE WHEN points > 0 THEN 'c' ELSE 'd' END AS sign,
		COALESCE(SUBSTR(idem_key, 1, INSTR(idem_key, ':') - 1), '') AS k, SUM(points) AS n
		FROM points_entries WHERE created_at >= ? AND created_at < ? GROUP BY kind, sign, k`, from, to).Scan(&entries).Error
	if err != nil {
		return fmt.Errorf("day figures points: %w", err)
	}
	for _, e := range entries {
		if e.Sign == "c" {
			f.add(MetricPointsIssued, creditReason(e.Kind, e.K), e.N)
		} else {
			f.add(MetricPointsDebited, e.Kind, -e.N)
		}
	}
	type byReward struct {
		RewardID int64
		N, Fen   int64
	}
	vouchers := func(what string, q string, args ...any) ([]byReward, error) {
		var rows []byReward
		if err := db.Raw(`SELECT reward_id, COUNT(*) AS n, COALESCE(SUM(value_fen), 0) AS fen FROM vouchers WHERE `+q+` GROUP BY reward_id`, args...).
			Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("day figures vouchers %s: %w", what, err)
		}
		return rows, nil
	}
	issued, err := vouchers("issued", "created_at >= ? AND created_at < ?", from, to)
	if err != nil {
		return err
	}
	for _, r := range issued {
		f.add(MetricVouchersIssued, strconv.FormatInt(r.RewardID, 10), r.N)
		f.add(MetricVouchersIssuedFen, strconv.FormatInt(r.RewardID, 10), r.Fen)
	}
	used, err := vouchers("used", "used_at >= ? AND used_at < ?", from, to)
	if err != nil {
		return err
	}
	for _, r := range used {
		f.add(MetricVouchersUsed, strconv.FormatInt(r.RewardID, 10), r.N)
		f.add(MetricVouchersUsedFen, strconv.FormatInt(r.RewardID, 10), r.Fen)
	}
	// A voucher cannot be used once expired: unused is all it takes.
	expired, err := vouchers("expired", "expires_at >= ? AND expires_at < ? AND status = ?", from, end, VoucherUnused)
	if err != nil {
		return err
	}
	for _, r := range expired {
		f.add(MetricVouchersExpired, strconv.FormatInt(r.RewardID, 10), r.N)
	}
	return nil
}

// PointsExpiringTotal is how many points expire, and of how many
// customers, between now and a horizon.
type PointsExpiringTotal struct {
	Until     time.Time
	Points    int64
	Customers int64
}

// PointsExpiring sums, over every customer, the points that expire after
// now and by each horizon: what is left of the credits expiring in
// (now, horizon] once the customer's debits have spent the credits that
// expire soonest (as CustomerPoints lists them). One pass over the
// ledger's covering index (customer_id, expires_at, points): no row is
// read, but every entry's index record is.
func (s *Store) PointsExpiring(ctx context.Context, now time.Time, horizons ...time.Time) ([]PointsExpiringTotal, error) {
	now = now.UTC()
	inner := "SELECT customer_id, SUM(CASE WHEN points < 0 THEN points ELSE 0 END) AS d, " +
		"SUM(CASE WHEN points > 0 AND expires_at <= ? THEN points ELSE 0 END) AS c0"
	outer := "SELECT 0"
	args := []any{now}
	var last time.Time
	for i, h := range horizons {
		h = h.UTC()
		c := "c" + strconv.Itoa(i+1)
		inner += ", SUM(CASE WHEN points > 0 AND expires_at <= ? THEN points ELSE 0 END) AS " + c
		args = append(args, h)
		// max(0, c+d) - max(0, c0+d): debits spend what expires first.
		outer += ", COALESCE(SUM(CASE WHEN " + c + " + d > 0 THEN " + c + " + d ELSE 0 END - CASE WHEN c0 + d > 0 THEN c0 + d ELSE 0 END), 0)" +
			", COALESCE(SUM(CASE WHEN " + c + " + d > 0 AND " + c + " > c0 THEN 1 ELSE 0 END), 0)"
		last = maxTime(last, h)
	}
	// Only customers with credits expiring in the window at all.
	inner += " FROM points_entries GROUP BY customer_id HAVING SUM(CASE WHEN points > 0 AND expires_at > ? AND expires_at <= ? THEN 1 ELSE 0 END) > 0"
	args = append(args, now, last)
	dest := make([]any, 1+2*len(horizons))
	var zero int64
	dest[0] = &zero
	out := make([]PointsExpiringTotal, len(horizons))
	for i, h := range horizons {
		out[i].Until = h.UTC()
		dest[1+2*i], dest[2+2*i] = &out[i].Points, &out[i].Customers
	}
	if err := s.db.WithContext(ctx).Raw(outer+" FROM ("+inner+") x", args...).Row().Scan(dest...); err != nil {
		return nil, fmt.Errorf("points expiring: %w", err)
	}
	return out, nil
}
