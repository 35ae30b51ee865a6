package report

import (
	"context"
	"strings"

	"github.com/rapport-crm/rapport/store"
)

var campaigns = Report{
	Name:    "campaigns",
	Summary: "Campaigns: per campaign — queued, sent, failed, skipped by reason, replies, orders, revenue and opt-outs it caused",
	Description: "Keys are campaign ids, labels their names. A campaign's messages count on the business day they were queued; " +
		"skipped adds the runs' skips (opted out, cap, unreachable: never queued) on the day the run began. Replies, orders, " +
		"revenue and opt-outs are attributed as the campaign's own results (GET /campaigns/{id}/results) do: after a message " +
		"was sent and within campaigns.attribution_days of it; replies count messages answered, orders those with an amount " +
		"above zero, revenue every order's amount (refunds subtract); converted: messages followed by an order. By channel: " +
		"the channel the message went out on.",
	Metrics: []string{store.MetricCampaignQueued, store.MetricCampaignSent, store.MetricCampaignFailed, store.MetricCampaignSkipped,
		store.MetricCampaignReplies, store.MetricCampaignOrders, store.MetricCampaignRevenue, store.MetricCampaignConverted,
		store.MetricCampaignOptOuts},
	Build: func(ctx context.Context, s *Service, d *Data) ([]Section, error) {
		camp := part(0)
		sent, replies := d.total("sent", store.MetricCampaignSent, nil), d.total("replies", store.MetricCampaignReplies, nil)
		sentBy := d.byDim(store.MetricCampaignSent, camp)
		per := func(metric string, sent []Row) []Row {
			out := []Row{}
			for _, r := range sent {
				out = append(out, rate(r.Key, d.total("", metric, prefix(r.Key)), r))
			}
			return out
		}
		secs := []Section{
			{Name: "campaigns.totals", Unit: UnitCount, Rows: []Row{d.total("queued", store.MetricCampaignQueued, nil), sent,
				d.total("failed", store.MetricCampaignFailed, nil), d.total("skipped", store.MetricCampaignSkipped, nil), replies,
				d.total("orders", store.MetricCampaignOrders, nil), d.total("opt_outs", store.MetricCampaignOptOuts, nil)}},
			{Name: "campaigns.revenue_total", Unit: UnitFen, Rows: []Row{d.total("total", store.MetricCampaignRevenue, nil)}},
			{Name: "campaigns.rates", Unit: UnitBP, Rows: []Row{rate("reply_rate", replies, sent),
				rate("conversion", d.total("", store.MetricCampaignConverted, nil), sent)}},
			{Name: "campaigns.queued", Unit: UnitCount, Rows: d.byDim(store.MetricCampaignQueued, camp)},
			{Name: "campaigns.sent", Unit: UnitCount, Rows: sentBy},
			{Name: "campaigns.failed", Unit: UnitCount, Rows: d.byDim(store.MetricCampaignFailed, camp)},
			{Name: "campaigns.skipped", Unit: UnitCount, Rows: d.byDim(store.MetricCampaignSkipped, camp)},
			{Name: "campaigns.replies", Unit: UnitCount, Rows: d.byDim(store.MetricCampaignReplies, camp)},
			{Name: "campaigns.reply_rate", Unit: UnitBP, Rows: per(store.MetricCampaignReplies, sentBy)},
			{Name: "campaigns.orders", Unit: UnitCount, Rows: d.byDim(store.MetricCampaignOrders, camp)},
			{Name: "campaigns.conversion", Unit: UnitBP, Rows: per(store.MetricCampaignConverted, sentBy)},
			{Name: "campaigns.revenue", Unit: UnitFen, Rows: d.byDim(store.MetricCampaignRevenue, camp)},
			{Name: "campaigns.opt_outs", Unit: UnitCount, Rows: d.byDim(store.MetricCampaignOptOuts, nil)},
			{Name: "campaigns.skipped_by_reason", Unit: UnitCount, Rows: d.byDim(store.MetricCampaignSkipped, part(1))},
			{Name: "campaigns.sent_by_channel", Unit: UnitCount, Rows: d.byDim(store.MetricCampaignSent, part(1))},
			{Name: "campaigns.replies_by_channel", Unit: UnitCount, Rows: d.byDim(store.MetricCampaignReplies, part(1))},
			{Name: "campaigns.revenue_by_channel", Unit: UnitFen, Rows: d.byDim(store.MetricCampaignRevenue, part(1))},
			{Name: "campaigns.sent_by_day", Unit: UnitCount, Series: true, Rows: d.series(store.MetricCampaignSent, nil)},
			{Name: "campaigns.replies_by_day", Unit: UnitCount, Series: true, Rows: d.series(store.MetricCampaignReplies, nil)},
			{Name: "campaigns.revenue_by_day", Unit: UnitFen, Series: true, Rows: d.series(store.MetricCampaignRevenue, nil)},
		}
		// Keyed by campaign: all but the totals and the sections by
		// reason, channel and day.
		for i := range secs {
			if n := secs[i].Name; secs[i].Series || strings.Contains(n, "_by_") || n == "campaigns.totals" ||
				n == "campaigns.revenue_total" || n == "campaigns.rates" {
				continue
			}
			if err := s.labelIDs(ctx, secs[i].Rows, s.store.CampaignNames); err != nil {
				return nil, err
			}
		}
		return secs, nil
	},
}
