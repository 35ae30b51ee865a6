package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// Replies, orders and opt-outs count for a campaign message when they come
// after it (strictly) and at most the window later (inclusive).
func TestCampaignAttributionWindow(t *testing.T) {
	sentAt := time.Date(2027, 3, 10, 2, 0, 0, 0, time.UTC)
	window := 7 * 24 * time.Hour
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			clock := storetest.NewClock(sentAt)
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			const campaignID = 5
			type cust struct {
				c  *store.Customer
				id *store.Identity
			}
			var cs []cust
			for i := range 4 {
				name := fmt.Sprintf("w%d", i)
				c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: &name,
					Identities: []store.IdentityRef{{Channel: store.ChannelTelegram, ExternalID: fmt.Sprint(700 + i)}}})
				if err != nil {
					t.Fatal(err)
				}
				id, err := s.IdentityByExternal(ctx, store.ChannelTelegram, fmt.Sprint(700+i))
				if err != nil {
					t.Fatal(err)
				}
				cs = append(cs, cust{c, id})
				cid, iid := c.ID, id.ID
				if _, err := s.Enqueue(ctx, []store.Outbound{{CustomerID: &cid, IdentityID: &iid, Channel: store.ChannelTelegram,
					ChatID: id.ExternalID, Text: "hi", Workflow: store.CampaignKey(campaignID),
					IdempotencyKey: fmt.Sprintf("%s:%d:r1", store.CampaignKey(campaignID), c.ID)}}); err != nil {
					t.Fatal(err)
				}
			}
			ms, err := s.ClaimOutbox(ctx, store.ChannelTelegram, 10, time.Minute)
			if err != nil || len(ms) != 4 {
				t.Fatalf("claimed %d, %v", len(ms), err)
			}
			var ds []store.Delivery
			for _, m := range ms {
				ds = append(ds, store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusSent, Attempted: true})
			}
			if err := s.CompleteOutbox(ctx, ds); err != nil {
				t.Fatal(err)
			}
			seq := 0
			reply := func(c cust, at time.Time) {
				t.Helper()
				clock.Set(at)
				seq++
				if _, _, err := s.RecordInbound(ctx, c.id, store.Inbound{Channel: c.id.Channel, DedupKey: fmt.Sprint("w", seq), ChatID: c.id.ExternalID, Text: "ok"}); err != nil {
					t.Fatal(err)
				}
			}
			order := func(c cust, at time.Time, fen int64) {
				t.Helper()
				if _, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: c.c.ID, Kind: store.OrderPurchase, Amount: store.Fen(fen), OccurredAt: &at}, time.UTC); err != nil {
					t.Fatal(err)
				}
			}
			reply(cs[2], sentAt.Add(-time.Second))       // before: no
			reply(cs[0], sentAt.Add(window))             // at the edge: yes
			reply(cs[1], sentAt.Add(window+time.Second)) // after: no
			clock.Set(sentAt.Add(24 * time.Hour))        // customer 3 opts out a day later: yes
			out := true
			if _, err := s.UpdateCustomer(ctx, cs[3].c.ID, store.CustomerInput{OptOut: &out}); err != nil {
				t.Fatal(err)
			}
			clock.Set(sentAt.Add(30 * 24 * time.Hour))
			order(cs[0], sentAt.Add(window), 10000)                  // yes
			order(cs[1], sentAt.Add(window+time.Millisecond), 50000) // no
			order(cs[2], sentAt, 70000)                              // the same instant: no
			order(cs[3], sentAt.Add(time.Hour), 3000)                // yes
			order(cs[3], sentAt.Add(2*time.Hour), -1000)             // a refund: revenue, not an order

			r, err := s.CampaignResultsOf(ctx, campaignID, 7, time.UTC, map[string]int{"opted out": 2})
			if err != nil {
				t.Fatal(err)
			}
			if r.Sent != 4 || r.Queued != 4 || r.Replies != 1 || r.Orders != 2 || r.Converted != 2 || r.Revenue.Fen() != 12000 ||
				r.OptOuts != 1 || r.Skipped["opted out"] != 2 || r.Conversion != 0.5 {
				t.Errorf("results %+v", r)
			}
			tg := r.ByChannel[store.ChannelTelegram]
			if tg == nil || tg.Sent != 4 || tg.Replies != 1 || tg.Orders != 2 || tg.Revenue.Fen() != 12000 {
				t.Errorf("by channel %+v", tg)
			}
			if len(r.ByDay) != 1 || r.ByDay[0].Date != "2027-03-10" || r.ByDay[0].Sent != 4 {
				t.Errorf("by day %+v", r.ByDay)
			}
			// Another campaign's key range is apart.
			if r2, err := s.CampaignResultsOf(ctx, 50, 7, time.UTC, nil); err != nil || r2.Queued != 0 {
				t.Errorf("campaign 50: %+v, %v", r2, err)
			}
		})
	}
}
