package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// outcome writes one outbound message on channel and records what became
// of it (status, with a reason unless sent).
func outcome(t *testing.T, s *store.Store, channel, text, status string) int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Enqueue(ctx, []store.Outbound{{Channel: channel, ChatID: "c-" + text, Text: text, IdempotencyKey: text}}); err != nil {
		t.Fatal(err)
	}
	ms, err := s.ClaimOutbox(ctx, channel, 1, time.Minute)
	if err != nil || len(ms) != 1 || ms[0].Text != text {
		t.Fatalf("claim %s: %+v %v", text, ms, err)
	}
	d := store.Delivery{ID: ms[0].ID, ClaimedBy: ms[0].ClaimedBy, Status: status, Attempted: true}
	if status != store.StatusSent {
		d.Reason = "telegram 502"
	}
	if err := s.CompleteOutbox(ctx, []store.Delivery{d}); err != nil {
		t.Fatal(err)
	}
	return ms[0].ID
}

func TestRequeueFailed(t *testing.T) {
	start := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			clock := storetest.NewClock(start)
			s := storetest.Open(t, d, store.WithClock(clock.Now))

			// Day 1: one of each outcome on Telegram, a failure on WeChat.
			tgFailed := outcome(t, s, store.ChannelTelegram, "tg-failed", store.StatusFailed)
			tgSent := outcome(t, s, store.ChannelTelegram, "tg-sent", store.StatusSent)
			tgSkipped := outcome(t, s, store.ChannelTelegram, "tg-skipped", store.StatusSkipped)
			wxFailed := outcome(t, s, store.ChannelWeChat, "wx-failed", store.StatusFailed)
			// Day 2: another Telegram failure, and an inbound message.
			clock.Advance(24 * time.Hour)
			tgFailed2 := outcome(t, s, store.ChannelTelegram, "tg-failed-2", store.StatusFailed)
			in, _, _, err := s.RecordArrival(ctx, store.Arrival{
				Contact: store.Contact{Channel: store.ChannelTelegram, ExternalID: "42"},
				In:      store.Inbound{Channel: store.ChannelTelegram, DedupKey: "u1", ChatID: "42", Text: "hi"},
			})
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Hour)

			for _, bad := range []struct {
				f     store.RequeueFilter
				field string
			}{
				{store.RequeueFilter{}, "filter"},
				{store.RequeueFilter{Channel: "sms"}, "channel"},
				{store.RequeueFilter{From: start, To: start}, "to"},
				{store.RequeueFilter{IDs: []int64{0}}, "ids"},
				{store.RequeueFilter{IDs: make([]int64, 1001)}, "ids"},
			} {
				n, err := s.RequeueFailed(ctx, bad.f)
				var se *store.Error
				if n != 0 || !store.IsCode(err, store.EINVALID) || !errors.As(err, &se) || se.Field != bad.field {
					t.Errorf("%+v: %d, %v; want EINVALID on %s", bad.f, n, err, bad.field)
				}
			}

			status := func() map[int64]string {
				out := map[int64]string{}
				for _, id := range []int64{tgFailed, tgSent, tgSkipped, wxFailed, tgFailed2, in.ID} {
					m, err := s.MessageByID(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					out[id] = m.Status
				}
				return out
			}
			steps := []struct {
				name   string
				f      store.RequeueFilter
				n      int
				queued []int64
			}{
				// Day 1 on Telegram: the failure only, not the sent or skipped message.
				{"time range and channel", store.RequeueFilter{Channel: store.ChannelTelegram, From: start, To: start.Add(24 * time.Hour)}, 1, []int64{tgFailed}},
				// Ids that are sent, skipped, inbound or queued already are left alone.
				{"ids", store.RequeueFilter{IDs: []int64{tgSent, tgSkipped, in.ID, tgFailed, wxFailed}}, 1, []int64{tgFailed, wxFailed}},
				{"channel", store.RequeueFilter{Channel: store.ChannelTelegram}, 1, []int64{tgFailed, wxFailed, tgFailed2}},
				{"nothing left", store.RequeueFilter{Channel: store.ChannelTelegram}, 0, []int64{tgFailed, wxFailed, tgFailed2}},
			}
			for _, st := range steps {
				n, err := s.RequeueFailed(ctx, st.f)
				if err != nil || n != st.n {
					t.Fatalf("%s: requeued %d, %v; want %d", st.name, n, err, st.n)
				}
				want := map[int64]string{tgFailed: store.StatusFailed, tgSent: store.StatusSent, tgSkipped: store.StatusSkipped,
					wxFailed: store.StatusFailed, tgFailed2: store.StatusFailed, in.ID: store.StatusReceived}
				for _, id := range st.queued {
					want[id] = store.StatusQueued
				}
				if diff := cmp.Diff(want, status()); diff != "" {
					t.Fatalf("%s: statuses (-want +got):\n%s", st.name, diff)
				}
			}

			// A requeued message is due now, with a fresh count and no reason,
			// and the dispatcher claims it.
			m, err := s.MessageByID(ctx, tgFailed)
			if err != nil {
				t.Fatal(err)
			}
			now := clock.Now()
			if m.Attempts != 0 || m.Reason != "" || m.RequeuedAt == nil || !m.RequeuedAt.Equal(now) || m.NextAttemptAt == nil || !m.NextAttemptAt.Equal(now) {
				t.Errorf("requeued row: attempts %d reason %q requeued_at %v next %v", m.Attempts, m.Reason, m.RequeuedAt, m.NextAttemptAt)
			}
			claimed, err := s.ClaimOutbox(ctx, store.ChannelTelegram, 10, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			got := ids(claimed)
			slices.Sort(got)
			if want := []int64{tgFailed, tgFailed2}; !slices.Equal(got, want) {
				t.Errorf("claimed %v after requeue, want %v", got, want)
			}
		})
	}
}
