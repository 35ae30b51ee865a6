package report

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// expiringDays are the horizons of the points about to expire.
var expiringDays = []int{30, 60, 90}

var points = Report{
	Name:    "points",
	Summary: "Points: issued by reason, redeemed, expired, reversed; vouchers issued, used and expired by reward; points expiring soon",
	Description: "From the points ledger, by the business day an entry was written: points issued (credits) by reason — order, " +
		"first_order, birthday, survey (the earning rules), adjust (staff), opening (opening balances), other; debits by kind " +
		"— redeem, expire, reverse (refunds), adjust. Vouchers by reward (keys are reward ids, labels their names): issued " +
		"when redeemed, used, and expired (unused when their time ran out); value in fen. points.expiring and " +
		"points.expiring_customers are a current figure, not the period's (previous is 0): the points that expire in the " +
		"next 30, 60 and 90 days from now once each customer's debits have spent what expires first, and of how many " +
		"customers, read when asked from the ledger's covering index (customer_id, expires_at, points).",
	Metrics: []string{store.MetricPointsIssued, store.MetricPointsDebited, store.MetricVouchersIssued, store.MetricVouchersIssuedFen,
		store.MetricVouchersUsed, store.MetricVouchersUsedFen, store.MetricVouchersExpired},
	Build: func(ctx context.Context, s *Service, d *Data) ([]Section, error) {
		debit := func(key, kind string) Row { return d.row(key, store.MetricPointsDebited, kind) }
		now := s.store.Now()
		var horizons []time.Time
		for _, n := range expiringDays {
			horizons = append(horizons, now.Add(time.Duration(n)*24*time.Hour))
		}
		exp, err := s.store.PointsExpiring(ctx, now, horizons...)
		if err != nil {
			return nil, err
		}
		expPoints, expCustomers := []Row{}, []Row{}
		for i, e := range exp {
			k := strconv.Itoa(expiringDays[i])
			expPoints = append(expPoints, Row{Key: k, Current: e.Points})
			expCustomers = append(expCustomers, Row{Key: k, Current: e.Customers})
		}
		secs := []Section{
			{Name: "points.totals", Unit: UnitPoints, Rows: []Row{d.total("issued", store.MetricPointsIssued, nil),
				debit("redeemed", store.PointsRedeem), debit("expired", store.PointsExpire), debit("reversed", store.PointsReverse),
				debit("adjusted_out", store.PointsAdjust)}},
			{Name: "points.issued_by_reason", Unit: UnitPoints, Rows: d.byDim(store.MetricPointsIssued, nil)},
			{Name: "points.debited_by_kind", Unit: UnitPoints, Rows: d.byDim(store.MetricPointsDebited, nil)},
			{Name: "points.issued_by_day", Unit: UnitPoints, Series: true, Rows: d.series(store.MetricPointsIssued, nil)},
			{Name: "points.redeemed_by_day", Unit: UnitPoints, Series: true,
				Rows: d.series(store.MetricPointsDebited, func(dim string) bool { return dim == store.PointsRedeem })},
			{Name: "points.expiring", Unit: UnitPoints, Now: true, Rows: expPoints},
			{Name: "points.expiring_customers", Unit: UnitCount, Now: true, Rows: expCustomers},
			{Name: "vouchers.totals", Unit: UnitCount, Rows: []Row{d.total("issued", store.MetricVouchersIssued, nil),
				d.total("used", store.MetricVouchersUsed, nil), d.total("expired", store.MetricVouchersExpired, nil)}},
			{Name: "vouchers.value", Unit: UnitFen, Rows: []Row{d.total("issued", store.MetricVouchersIssuedFen, nil),
				d.total("used", store.MetricVouchersUsedFen, nil)}},
			{Name: "vouchers.issued", Unit: UnitCount, Rows: d.byDim(store.MetricVouchersIssued, nil)},
			{Name: "vouchers.used", Unit: UnitCount, Rows: d.byDim(store.MetricVouchersUsed, nil)},
			{Name: "vouchers.expired", Unit: UnitCount, Rows: d.byDim(store.MetricVouchersExpired, nil)},
		}
		// Keyed by reward: the vouchers' sections but the totals.
		for i := range secs {
			if n := secs[i].Name; !strings.HasPrefix(n, "vouchers.") || n == "vouchers.totals" || n == "vouchers.value" {
				continue
			}
			if err := s.labelIDs(ctx, secs[i].Rows, s.store.RewardNames); err != nil {
				return nil, err
			}
		}
		return secs, nil
	},
}
