package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/analytics"
	"github.com/rapport-crm/rapport/followup"
	"github.com/rapport-crm/rapport/report"
	"github.com/rapport-crm/rapport/store"
)

// newAnalytics builds the analytics service from the config (needs
// m.Store).
func (m *Main) newAnalytics() (*analytics.Service, error) {
	o := analytics.Options{Store: m.Store, Location: m.Config.Location(), Logger: m.Logger, Registry: m.Registry}
	if m.Reports != nil {
		// The night's figures are computed after the night's stages.
		o.AfterNightly = func(ctx context.Context, now time.Time) error {
			_, err := m.Reports.Nightly(ctx, now)
			return err
		}
	}
	return analytics.New(m.Config.Analytics, o)
}

// newReports builds the reports (needs m.Store).
func (m *Main) newReports() error {
	var err error
	m.Reports, err = report.New(m.Config.Reports, report.Options{Store: m.Store, Location: m.Config.Location(), Logger: m.Logger,
		CampaignAttributionDays: m.Config.Campaigns.AttributionDays})
	return err
}

// digestFigures gives the follow-up digest a day's key figures from the
// reports.
func (m *Main) digestFigures(ctx context.Context, day time.Time) (*followup.DayFigures, error) {
	k, err := m.Reports.DayKeyFigures(ctx, day)
	if err != nil {
		return nil, err
	}
	return &followup.DayFigures{NewCustomers: k.NewCustomers, MessagesIn: k.MessagesIn, MessagesOut: k.MessagesOut,
		Revenue: k.Revenue, CSAT: k.CSAT, Responses: k.Responses, ComplaintsOpen: k.ComplaintsOpen,
		CampaignSent: k.CampaignSent, CampaignReplies: k.CampaignReplies, CampaignRevenue: k.CampaignRevenue,
		PointsIssued: k.PointsIssued, PointsRedeemed: k.PointsRedeemed, VouchersUsed: k.VouchersUsed}, nil
}

// runAnalytics is `rapport analytics recompute`: every customer's figures
// now, through the function POST /api/v1/analytics/recompute and the
// nightly job use; it prints {"customers": N}.
func runAnalytics(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analytics recompute")
	cfgPath := configFlag(fs)
	rest, err := parseFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 0 || rest[0] != "recompute":
		return usageError{"analytics recompute", "the analytics command is: rapport analytics recompute"}
	case len(rest) > 1:
		return usageError{"analytics recompute", "unexpected arguments " + strings.Join(rest[1:], " ")}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	m := &Main{Config: cfg, Logger: newLogger(stderr)}
	if m.Store, err = openStore(ctx, cfg); err != nil {
		return err
	}
	defer m.Store.Close()
	svc, err := m.newAnalytics()
	if err != nil {
		return err
	}
	n, err := svc.Recompute(ctx)
	if store.IsCode(err, store.ECONFLICT) {
		return errors.New("analytics recompute: " + store.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]int{"customers": n})
}

// settleImport brings the figures of the customers an orders import
// touched up to date, and says so. The orders are written whatever
// happens here: a failure (a recompute running elsewhere, say) is told,
// not returned; the touches wait for a server's sweep or the nightly run.
func settleImport(ctx context.Context, m *Main, stdout io.Writer) error {
	svc, err := m.newAnalytics()
	if err != nil {
		return err
	}
	n, err := svc.RefreshTouched(ctx)
	switch {
	case err != nil:
		fmt.Fprintf(stdout, "analytics: figures not updated now (%s); a running server's sweep or the nightly run will\n", store.ErrorMessage(err))
	case n > 0:
		fmt.Fprintf(stdout, "analytics: figures, tiers and stages updated (%d customers)\n", n)
	}
	return nil
}
