package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/report"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// check compares the named sections' rows (key -> [current, previous])
// with want, every key of want.
func check(t *testing.T, a *report.Answer, want map[string]map[string][2]int64) {
	t.Helper()
	for name, rows := range want {
		got := section(t, a, name)
		for k, v := range rows {
			if got[k] != v {
				t.Errorf("%s %s[%q] = %v, want %v (all: %v)", a.Report, name, k, got[k], v, got)
			}
		}
	}
}

// A campaign across the period's edge, hand-counted: to A a second before
// December (previous period; A answers in December: the previous period's
// reply); to B at its first instant on WeChat (B orders ¥88 two days later),
// to C (failed) and to D (D opts out the next day and orders 13 days later,
// outside the 7 days). Its run skipped two opted-out customers in
// December. A care message in December stays out of the campaigns report,
// and the campaign's messages out of care's.
func TestCampaignsReport(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, clock *storetest.Clock) {
		ctx := context.Background()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		clock.Set(at("2026-10-01 09:00:00"))
		ids := map[string]int64{}
		for _, n := range []string{"A", "B", "C", "D"} {
			name := n
			c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: &name,
				Identities: []store.IdentityRef{{Channel: store.ChannelTelegram, ExternalID: "t" + n}}})
			must(err)
			ids[n] = c.ID
		}
		camp := &store.Campaign{Name: "双十二", SegmentID: 1}
		must(s.CreateCampaign(ctx, camp))
		// send queues one message of the campaign (or of a care workflow
		// when wf is set) and completes it with status.
		send := func(who, when, channel, status, wf string) {
			t.Helper()
			clock.Set(at(when))
			cid := ids[who]
			key, workflow := store.CampaignKey(camp.ID)+":"+who+":1", store.CampaignKey(camp.ID)
			if wf != "" {
				key, workflow = wf+":"+who, wf
			}
			_, err := s.Enqueue(ctx, []store.Outbound{{CustomerID: &cid, Channel: channel, ChatID: "t" + who, Text: "hi",
				IdempotencyKey: key, Workflow: workflow}})
			must(err)
			ms, err := s.ClaimOutbox(ctx, channel, 10, time.Minute)
			must(err)
			var ds []store.Delivery
			for _, m := range ms {
				d := store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: status, Attempted: true}
				if status == store.StatusFailed {
					d.Reason = "blocked"
				}
				ds = append(ds, d)
			}
			must(s.CompleteOutbox(ctx, ds))
		}
		send("A", "2026-11-30 23:59:59", store.ChannelTelegram, store.StatusSent, "")
		send("B", "2026-12-01 00:00:00", store.ChannelWeChat, store.StatusSent, "")
		send("C", "2026-12-01 00:00:00", store.ChannelTelegram, store.StatusFailed, "")
		send("D", "2026-12-01 08:00:00", store.ChannelTelegram, store.StatusSent, "")
		send("C", "2026-12-02 08:00:00", store.ChannelTelegram, store.StatusSent, "holiday")
		// The run: created in December, two skipped as opted out.
		clock.Set(at("2026-12-01 00:00:00"))
		_, _, err := s.CreateCampaignRun(ctx, camp.ID, "", nil)
		must(err)
		run, err := s.ClaimCampaignRun(ctx, "test", time.Minute)
		must(err)
		run.SkipReasons = map[string]int{"opted out": 2}
		must(s.FinishCampaignRun(ctx, run, store.CampaignRunDone, ""))
		clock.Set(at("2026-12-01 10:00:00"))
		ident, err := s.ResolveIdentity(ctx, store.Contact{Channel: store.ChannelTelegram, ExternalID: "tA"})
		must(err)
		_, _, err = s.RecordInbound(ctx, ident, store.Inbound{Channel: store.ChannelTelegram, DedupKey: "a1", ChatID: "tA", Kind: "text", Text: "好"})
		must(err)
		order := func(who, when, yuan string) {
			clock.Set(at(when))
			tm := at(when)
			m, err := store.ParseMoney("amount", yuan)
			must(err)
			_, err = s.CreateOrder(ctx, store.OrderInput{CustomerID: ids[who], Kind: "purchase", Amount: m, OccurredAt: &tm}, shanghai)
			must(err)
		}
		order("B", "2026-12-03 12:00:00", "88.00")
		order("D", "2026-12-14 12:00:00", "50.00")
		clock.Set(at("2026-12-02 09:00:00"))
		yes := true
		_, err = s.UpdateCustomer(ctx, ids["D"], store.CustomerInput{OptOut: &yes})
		must(err)

		clock.Set(at("2026-12-20 12:00:00"))
		svc, err := report.New(report.DefaultConfig(), report.Options{Store: s, Location: shanghai})
		must(err)
		a, err := svc.Report(ctx, "campaigns", "2026-12-01", "2026-12-31", "")
		must(err)
		c := itoa(camp.ID)
		check(t, a, map[string]map[string][2]int64{
			"campaigns.totals": {"queued": {3, 1}, "sent": {2, 1}, "failed": {1, 0}, "skipped": {2, 0}, "replies": {0, 1},
				"orders": {1, 0}, "opt_outs": {1, 0}},
			"campaigns.revenue_total":      {"total": {8800, 0}},
			"campaigns.rates":              {"reply_rate": {0, 10000}, "conversion": {5000, 0}},
			"campaigns.sent":               {c: {2, 1}},
			"campaigns.failed":             {c: {1, 0}},
			"campaigns.skipped_by_reason":  {"opted out": {2, 0}},
			"campaigns.revenue":            {c: {8800, 0}},
			"campaigns.opt_outs":           {c: {1, 0}},
			"campaigns.sent_by_channel":    {"wechat": {1, 0}, "telegram": {1, 1}},
			"campaigns.replies_by_channel": {"telegram": {0, 1}},
			"campaigns.sent_by_day":        {"2026-12-01": {2, 0}, "2026-12-02": {0, 0}},
			"campaigns.revenue_by_day":     {"2026-12-01": {8800, 0}},
		})
		for _, sec := range a.Sections {
			for _, r := range sec.Rows {
				if r.Key == c && r.Label != "双十二" {
					t.Errorf("%s: label %q", sec.Name, r.Label)
				}
			}
		}
		// The managers' digest quotes the day's campaign figures.
		k, err := svc.DayKeyFigures(ctx, at("2026-12-01 18:00:00"))
		must(err)
		if k.CampaignSent != 2 || k.CampaignRevenue.Fen() != 8800 || k.CampaignReplies != 0 {
			t.Errorf("digest figures of 12-01: %+v", k)
		}
		// The campaign's own results agree with the report over both
		// periods.
		res, err := s.CampaignResultsOf(ctx, camp.ID, 7, shanghai, map[string]int{"opted out": 2})
		must(err)
		if res.Sent != 3 || res.Replies != 1 || res.Orders != 1 || res.Revenue.Fen() != 8800 || res.OptOuts != 1 || res.Failed != 1 {
			t.Errorf("campaign results %+v", res)
		}
		care, err := svc.Report(ctx, "care", "2026-12-01", "2026-12-31", "care.sent")
		must(err)
		if got := section(t, care, "care.sent"); !cmp.Equal(got, map[string][2]int64{"holiday": {1, 0}}) {
			t.Errorf("care.sent = %v, want only holiday", got)
		}
	})
}

// The points of a month, hand-counted, with points expiring 45 days after
// they are earned:
//
//	A  30 Nov 23:59:59  order ¥100: 100 + first order 10 (previous period)
//	B  1 Dec 00:00      order ¥250.50: 250 + first order 10
//	B  3 Dec            survey bonus 5
//	C  4 Dec            staff +20, 5 Dec staff -5
//	A  6 Dec            birthday 30
//	B  7 Dec            redeems R1 (100 points, ¥10), uses it 8 Dec
//	A  9 Dec            redeems R2 (50 points, ¥5, valid a day): expires 10 Dec unused
//	B  12 Dec           refund of ¥100: 100 reversed
//
// Expiring from 20 Dec 12:00, debits spending what expires first: A has
// 110 by 14 Jan and 30 by 20 Jan less 50 spent; B 265 by 17 Jan less 200;
// C 20 by 18 Jan less 5. Within 30 days: A 60, B 65, C 15; within 60 and
// 90 days: A 90, B 65, C 15.
func TestPointsReport(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, clock *storetest.Clock) {
		ctx := context.Background()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		s.OnPoints(store.PointsRules{
			Order:      func(_ string, m store.Money, _ store.Tier) int64 { return m.Fen() / 100 },
			FirstOrder: 10, Survey: 5, Birthday: 30,
			Expires: func(t time.Time) *time.Time { e := t.AddDate(0, 0, 45); return &e },
		})
		clock.Set(at("2026-10-01 09:00:00"))
		ids := map[string]int64{}
		for _, n := range []string{"A", "B", "C"} {
			name := n
			c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: &name})
			must(err)
			ids[n] = c.ID
		}
		staff, err := s.CreateStaff(ctx, store.StaffInput{Name: "Li Lei", Role: store.RoleManager})
		must(err)
		by := store.Actor{StaffID: &staff.ID, Role: store.RoleManager, Via: "api"}
		reward := func(name string, pts, fen int64, days int) int64 {
			v := store.Fen(fen)
			r, err := s.CreateReward(ctx, store.RewardInput{Name: &name, Points: &pts, Value: &v, ValidDays: &days})
			must(err)
			return r.ID
		}
		r1, r2 := reward("维修券", 100, 1000, 90), reward("精品券", 50, 500, 1)
		order := func(who, when, yuan string) {
			clock.Set(at(when))
			tm := at(when)
			m, err := store.ParseMoney("amount", yuan)
			must(err)
			_, err = s.CreateOrder(ctx, store.OrderInput{CustomerID: ids[who], Kind: "purchase", Amount: m, OccurredAt: &tm}, shanghai)
			must(err)
		}
		order("A", "2026-11-30 23:59:59", "100.00")
		order("B", "2026-12-01 00:00:00", "250.50")
		clock.Set(at("2026-12-03 08:00:00"))
		sv, err := s.CreateSurveys(ctx, []store.Survey{{CustomerID: ids["B"], Key: "sb", Channel: store.ChannelTelegram, ExpiresAt: at("2026-12-06 08:00:00")}})
		must(err)
		clock.Set(at("2026-12-03 09:00:00"))
		_, err = s.AnswerSurvey(ctx, sv["sb"], 5, "")
		must(err)
		clock.Set(at("2026-12-04 10:00:00"))
		_, err = s.AdjustPoints(ctx, by, ids["C"], store.PointsAdjustment{Points: 20, Reason: "goodwill"})
		must(err)
		clock.Set(at("2026-12-05 10:00:00"))
		_, err = s.AdjustPoints(ctx, by, ids["C"], store.PointsAdjustment{Points: -5, Reason: "correction"})
		must(err)
		clock.Set(at("2026-12-06 10:00:00"))
		_, err = s.EarnBonus(ctx, ids["A"], 30, "birthday bonus", "birthday:"+itoa(ids["A"])+":2026")
		must(err)
		clock.Set(at("2026-12-07 10:00:00"))
		v1, err := s.Redeem(ctx, by, ids["B"], store.Redemption{RewardID: r1})
		must(err)
		clock.Set(at("2026-12-08 10:00:00"))
		_, err = s.UseVoucher(ctx, by, v1.Code, nil)
		must(err)
		clock.Set(at("2026-12-09 10:00:00"))
		_, err = s.Redeem(ctx, by, ids["A"], store.Redemption{RewardID: r2})
		must(err)
		order("B", "2026-12-12 10:00:00", "-100.00")

		clock.Set(at("2026-12-20 12:00:00"))
		svc, err := report.New(report.DefaultConfig(), report.Options{Store: s, Location: shanghai})
		must(err)
		a, err := svc.Report(ctx, "points", "2026-12-01", "2026-12-31", "")
		must(err)
		check(t, a, map[string]map[string][2]int64{
			"points.totals": {"issued": {315, 110}, "redeemed": {150, 0}, "expired": {0, 0}, "reversed": {100, 0}, "adjusted_out": {5, 0}},
			"points.issued_by_reason": {"order": {250, 100}, "first_order": {10, 10}, "survey": {5, 0}, "adjust": {20, 0},
				"birthday": {30, 0}},
			"points.debited_by_kind":    {"redeem": {150, 0}, "reverse": {100, 0}, "adjust": {5, 0}},
			"points.issued_by_day":      {"2026-12-01": {260, 0}, "2026-12-06": {30, 0}},
			"points.redeemed_by_day":    {"2026-12-07": {100, 0}, "2026-12-09": {50, 0}},
			"points.expiring":           {"30": {140, 0}, "60": {170, 0}, "90": {170, 0}},
			"points.expiring_customers": {"30": {3, 0}, "60": {3, 0}, "90": {3, 0}},
			"vouchers.totals":           {"issued": {2, 0}, "used": {1, 0}, "expired": {1, 0}},
			"vouchers.value":            {"issued": {1500, 0}, "used": {1000, 0}},
			"vouchers.issued":           {itoa(r1): {1, 0}, itoa(r2): {1, 0}},
			"vouchers.used":             {itoa(r1): {1, 0}},
			"vouchers.expired":          {itoa(r2): {1, 0}},
		})
		if k, err := svc.DayKeyFigures(ctx, at("2026-12-01 18:00:00")); err != nil || k.PointsIssued != 260 {
			t.Errorf("digest figures of 12-01: %+v, %v; want 260 points issued", k, err)
		}
		labels := map[string]string{}
		for _, sec := range a.Sections {
			if sec.Name == "vouchers.issued" {
				for _, r := range sec.Rows {
					labels[r.Key] = r.Label
				}
			}
			if strings.HasPrefix(sec.Name, "points.expiring") != sec.Now {
				t.Errorf("%s: now %v", sec.Name, sec.Now)
			}
		}
		if want := map[string]string{itoa(r1): "维修券", itoa(r2): "精品券"}; !cmp.Equal(labels, want) {
			t.Errorf("reward labels %v, want %v", labels, want)
		}
		// Each customer's own expiring list adds up to the report's.
		var sum int64
		for _, id := range ids {
			v, err := s.CustomerPoints(ctx, by, id, 10)
			must(err)
			for _, e := range v.Expiring {
				if !e.On.After(at("2027-01-19 12:00:00")) {
					sum += e.Points
				}
			}
		}
		if sum != 140 {
			t.Errorf("customers' expiring within 30 days add up to %d, want 140", sum)
		}

		// CSV: points in their own unit, money in yuan.
		var buf bytes.Buffer
		must(report.WriteCSV(&buf, a))
		recs, err := csv.NewReader(bytes.NewReader(buf.Bytes()[3:])).ReadAll()
		must(err)
		want := map[string][]string{
			"points.totals/issued":        {"points.totals", "issued", "", "315", "110", "points"},
			"vouchers.value/issued":       {"vouchers.value", "issued", "", "15.00", "0.00", "yuan"},
			"vouchers.issued/" + itoa(r1): {"vouchers.issued", itoa(r1), "维修券", "1", "0", "count"},
		}
		seen := 0
		for _, r := range recs[1:] {
			if w, ok := want[r[0]+"/"+r[1]]; ok {
				seen++
				if diff := cmp.Diff(w, r); diff != "" {
					t.Errorf("CSV row (-want +got):\n%s", diff)
				}
			}
		}
		if seen != len(want) {
			t.Errorf("CSV rows seen %d of %d", seen, len(want))
		}
	})
}

// A day's figures are final only once the campaigns' attribution window
// is over too: a campaign message queued late in the day may go out the
// next morning and its orders count for campaigns.attribution_days after.
func TestFinalAfterCampaignWindow(t *testing.T) {
	clock := storetest.NewClock(at("2026-12-01 09:00:00"))
	s := storetest.Open(t, "sqlite", store.WithClock(clock.Now))
	svc, err := report.New(report.DefaultConfig(), report.Options{Store: s, Location: shanghai, CampaignAttributionDays: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		now   string
		final bool
	}{
		{"2026-12-09 00:00:00", false}, // care's 7 days are over
		{"2026-12-12 23:59:59", false},
		{"2026-12-13 00:00:00", true}, // the day, a day more, then 10
	} {
		clock.Set(at(tc.now))
		if err := svc.Refresh(context.Background(), at("2026-12-01 12:00:00")); err != nil {
			t.Fatal(err)
		}
		days, err := s.ReportDays(context.Background(), "2026-12-01", "2026-12-01")
		if err != nil {
			t.Fatal(err)
		}
		if days["2026-12-01"].Final != tc.final {
			t.Errorf("at %s: final %v, want %v", tc.now, days["2026-12-01"].Final, tc.final)
		}
	}
}
