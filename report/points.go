package report

import (
	"context"
	"strconv"
	"strings"

	"github.com/rapport-crm/rapport/store"
)

var points = Report{
	Name:    "points",
	Summary: "Points: issued by reason, redeemed, expired, reversed; vouchers issued, used and expired by reward; points expiring soon",
	Description: "From the points ledger, by the business day an entry was written: points issued (credits) by reason — order, " +
		"first_order, birthday, survey (the earning rules), adjust (staff), opening (opening balances), other; debits by kind " +
		"— redeem, expire, reverse (refunds), adjust. Vouchers by reward (keys are reward ids, labels their names): issued " +
		"when redeemed, used, and expired (unused when their time ran out); value in fen. points.expiring and " +
		"points.expiring_customers are a current figure, not the period's (previous is 0): the points that expire in the " +
		"next 30, 60 and 90 days once each customer's debits have spent what expires first, and of how many " +
		"customers, as of today's last computation (every reports.refresh, or POST /reports/refresh): a read of the whole " +
		"ledger's covering index (customer_id, expires_at, points), too long to make per request on a large ledger.",
	Metrics: []string{store.MetricPointsIssued, store.MetricPointsDebited, store.MetricVouchersIssued, store.MetricVouchersIssuedFen,
		store.MetricVouchersUsed, store.MetricVouchersUsedFen, store.MetricVouchersExpired},
	Build: func(ctx context.Context, s *Service, d *Data) ([]Section, error) {
		debit := func(key, kind string) Row { return d.row(key, store.MetricPointsDebited, kind) }
		// The expiring points are today's figures, whatever the period.
		today := s.day(s.store.Now())
		if _, err := s.ensure(ctx, today, today); err != nil {
			return nil, err
		}
		fs, err := s.store.DailyFiguresIn(ctx, date(today), date(today), store.MetricPointsExpiring, store.MetricPointsExpiringCustomers)
		if err != nil {
			return nil, err
		}
		expPoints, expCustomers := []Row{}, []Row{}
		for _, n := range store.PointsExpiringDays() {
			k := strconv.Itoa(n)
			p, c := Row{Key: k}, Row{Key: k}
			for _, f := range fs {
				switch {
				case f.Dim != k:
				case f.Metric == store.MetricPointsExpiring:
					p.Current = f.Value
				case f.Metric == store.MetricPointsExpiringCustomers:
					c.Current = f.Value
				}
			}
			expPoints, expCustomers = append(expPoints, p), append(expCustomers, c)
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
