package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// TestStaffMessageKey: a staff member's reply-to finds the key of the
// message we sent them, and nobody else's.
func TestStaffMessageKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ann, err := s.CreateStaff(ctx, store.StaffInput{Name: "Ann"})
		if err != nil {
			t.Fatal(err)
		}
		bob, err := s.CreateStaff(ctx, store.StaffInput{Name: "Bob"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Enqueue(ctx, []store.Outbound{
			{StaffID: &ann.ID, Channel: store.ChannelTelegram, ChatID: "tg-ann", Text: "task 7", IdempotencyKey: "task:7:assigned:1:1"},
		}); err != nil {
			t.Fatal(err)
		}
		ms, err := s.ClaimOutbox(ctx, store.ChannelTelegram, 10, time.Minute)
		if err != nil || len(ms) != 1 {
			t.Fatalf("claim = %d, %v", len(ms), err)
		}
		if err := s.CompleteOutbox(ctx, []store.Delivery{{ID: ms[0].ID, ClaimedBy: ms[0].ClaimedBy, Status: store.StatusSent, ProviderMsgID: "31"}}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name     string
			staff    int64
			channel  string
			provider string
			want     string
		}{
			{"sent to ann", ann.ID, store.ChannelTelegram, "31", "task:7:assigned:1:1"},
			{"not sent to bob", bob.ID, store.ChannelTelegram, "31", ""},
			{"other channel", ann.ID, store.ChannelWeChat, "31", ""},
			{"unknown id", ann.ID, store.ChannelTelegram, "32", ""},
			{"no reply-to", ann.ID, store.ChannelTelegram, "", ""},
		} {
			got, err := s.StaffMessageKey(ctx, c.staff, c.channel, c.provider)
			if err != nil || got != c.want {
				t.Errorf("%s: key = %q, %v; want %q", c.name, got, err, c.want)
			}
		}
	})
}
