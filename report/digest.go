package report

import (
	"context"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// KeyFigures are one business day's headline figures, for the managers'
// daily digest in chat.
type KeyFigures struct {
	Day            string
	NewCustomers   int64
	MessagesIn     int64
	MessagesOut    int64
	Revenue        store.Money
	CSAT           int64 // basis points; 0 with no responses
	Responses      int64
	ComplaintsOpen int64 // at the day's end
	// From the campaigns and points reports.
	CampaignSent, CampaignReplies int64
	CampaignRevenue               store.Money
	PointsIssued, PointsRedeemed  int64
	VouchersUsed                  int64
}

// DayKeyFigures reads the key figures of the business day holding day
// from the overview, complaints, campaigns and points reports.
func (s *Service) DayKeyFigures(ctx context.Context, day time.Time) (*KeyFigures, error) {
	d := date(s.day(day))
	ov, err := s.Report(ctx, "overview", d, d, "")
	if err != nil {
		return nil, err
	}
	cp, err := s.Report(ctx, "complaints", d, d, "complaints.open")
	if err != nil {
		return nil, err
	}
	cm, err := s.Report(ctx, "campaigns", d, d, "")
	if err != nil {
		return nil, err
	}
	pt, err := s.Report(ctx, "points", d, d, "")
	if err != nil {
		return nil, err
	}
	get := func(a *Answer, section, key string) int64 {
		for _, sec := range a.Sections {
			if sec.Name == section {
				for _, r := range sec.Rows {
					if r.Key == key {
						return r.Current
					}
				}
			}
		}
		return 0
	}
	return &KeyFigures{Day: d,
		NewCustomers: get(ov, "customers", "new"),
		MessagesIn:   get(ov, "messages", "in"), MessagesOut: get(ov, "messages", "out"),
		Revenue: store.Fen(get(ov, "revenue", "total")),
		CSAT:    get(ov, "satisfaction", "csat"), Responses: get(ov, "satisfaction.responses", "responses"),
		ComplaintsOpen: get(cp, "complaints.open", "all"),
		CampaignSent:   get(cm, "campaigns.totals", "sent"), CampaignReplies: get(cm, "campaigns.totals", "replies"),
		CampaignRevenue: store.Fen(get(cm, "campaigns.revenue_total", "total")),
		PointsIssued:    get(pt, "points.totals", "issued"), PointsRedeemed: get(pt, "points.totals", "redeemed"),
		VouchersUsed: get(pt, "vouchers.totals", "used"),
	}, nil
}
