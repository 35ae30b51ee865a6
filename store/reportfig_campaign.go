package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// Campaign metrics of the daily figures: a campaign's messages count on
// the day they were queued (created); their replies, orders and opt-outs
// are attributed as GET /campaigns/{id}/results does (CampaignResultsOf:
// after the message was sent, within campaigns.attribution_days).
const (
	MetricCampaignQueued    = "campaign_queued"      // dim: "campaign|channel"
	MetricCampaignSent      = "campaign_sent"        // dim: "campaign|channel"
	MetricCampaignFailed    = "campaign_failed"      // dim: "campaign|channel"
	MetricCampaignSkipped   = "campaign_skipped"     // dim: "campaign|reason" (the outbox's and the runs' skips)
	MetricCampaignReplies   = "campaign_replies"     // dim: "campaign|channel"
	MetricCampaignOrders    = "campaign_orders"      // dim: "campaign|channel"
	MetricCampaignRevenue   = "campaign_revenue_fen" // dim: "campaign|channel"
	MetricCampaignConverted = "campaign_converted"   // dim: campaign (sent messages followed by an order)
	MetricCampaignOptOuts   = "campaign_opt_outs"    // dim: campaign
)

// campaignWorkflow is the workflow prefix of campaign messages
// (CampaignKey): care's figures leave them out, the campaigns' read them.
const campaignWorkflow = "campaign:"

// dayCampaigns: per campaign with messages queued in the day, its results
// over those messages (CampaignResultsCreated), and the skips of its runs
// created in the day (opted out, cap, unreachable: never queued).
func (s *Store) dayCampaigns(ctx context.Context, db *gorm.DB, f *figureSet, w DayWindow) error {
	from, to := w.From.UTC(), w.To.UTC()
	var wfs []string
	if err := db.Raw(`SELECT DISTINCT workflow FROM messages WHERE created_at >= ? AND created_at < ? AND workflow LIKE ? AND direction = ?`,
		from, to, campaignWorkflow+"%", DirectionOut).Scan(&wfs).Error; err != nil {
		return fmt.Errorf("day figures campaigns: %w", err)
	}
	days := w.CampaignDays
	if days <= 0 {
		days = 7
	}
	for _, wf := range wfs {
		id, err := strconv.ParseInt(strings.TrimPrefix(wf, campaignWorkflow), 10, 64)
		if err != nil {
			continue
		}
		res, err := s.CampaignResultsCreated(ctx, id, w.From, w.To, days, w.From.Location())
		if err != nil {
			return fmt.Errorf("day figures campaign %d: %w", id, err)
		}
		c := strconv.FormatInt(id, 10)
		for ch, r := range res.ByChannel {
			dim := c + "|" + ch
			f.add(MetricCampaignQueued, dim, int64(r.Queued))
			f.add(MetricCampaignSent, dim, int64(r.Sent))
			f.add(MetricCampaignFailed, dim, int64(r.Failed))
			f.add(MetricCampaignReplies, dim, int64(r.Replies))
			f.add(MetricCampaignOrders, dim, int64(r.Orders))
			f.add(MetricCampaignRevenue, dim, r.Revenue.Fen())
		}
		for reason, n := range res.Skipped {
			f.add(MetricCampaignSkipped, c+"|"+reason, int64(n))
		}
		f.add(MetricCampaignConverted, c, int64(res.Converted))
		f.add(MetricCampaignOptOuts, c, int64(res.OptOuts))
	}
	var runs []CampaignRun
	if err := db.Select("campaign_id", "reasons").Where("created_at >= ? AND created_at < ?", from, to).Find(&runs).Error; err != nil {
		return fmt.Errorf("day figures campaign runs: %w", err)
	}
	for _, r := range runs {
		r.decode()
		for reason, n := range r.SkipReasons {
			f.add(MetricCampaignSkipped, strconv.FormatInt(r.CampaignID, 10)+"|"+reason, int64(n))
		}
	}
	return nil
}
