package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// TestReplyFollowsLatestMessage: an agent's reply goes to the chat the
// customer wrote from last, also when they switch channels within the
// minute in which last_inbound_at is not refreshed.
func TestReplyFollowsLatestMessage(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			t0 := time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC)
			clock := storetest.NewClock(t0)
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			name := "Lin"
			c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: &name, Identities: []store.IdentityRef{
				{Channel: store.ChannelTelegram, ExternalID: "777"}, {Channel: store.ChannelWebChat, ExternalID: "visitor-7"},
			}})
			if err != nil {
				t.Fatal(err)
			}
			chat := map[string]string{store.ChannelTelegram: "777", store.ChannelWebChat: "visitor-7"}
			n := 0
			write := func(channel string) {
				t.Helper()
				n++
				_, _, _, err := s.RecordArrival(ctx, store.Arrival{
					Contact: store.Contact{Channel: channel, ExternalID: chat[channel]},
					In:      store.Inbound{Channel: channel, DedupKey: fmt.Sprint("m", n), ChatID: chat[channel], Text: "hi"},
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, step := range []struct {
				after   time.Duration // since the previous step
				writeOn string        // "" = nobody writes
				want    string
			}{
				{0, store.ChannelWebChat, store.ChannelWebChat},
				{5 * time.Minute, store.ChannelTelegram, store.ChannelTelegram},
				// Within the minute: last_inbound_at still says Telegram.
				{10 * time.Second, store.ChannelWebChat, store.ChannelWebChat},
				{10 * time.Second, store.ChannelTelegram, store.ChannelTelegram},
				{10 * time.Second, store.ChannelWebChat, store.ChannelWebChat},
				{2 * time.Minute, "", store.ChannelWebChat},
			} {
				clock.Advance(step.after)
				if step.writeOn != "" {
					write(step.writeOn)
				}
				id, err := s.ReplyIdentity(ctx, c.ID)
				if err != nil || id.Channel != step.want {
					t.Fatalf("after a message on %q: reply identity %+v %v, want %s", step.writeOn, id, err, step.want)
				}
				m, err := s.SendToCustomer(ctx, c.ID, "reply")
				if err != nil || m.Channel != step.want || m.ChatID != chat[step.want] {
					t.Fatalf("after a message on %q: reply queued to %s/%s (%v), want %s", step.writeOn, m.Channel, m.ChatID, err, step.want)
				}
			}
			// The latest chat blocked us: the other one that wrote.
			wc, err := s.IdentityByExternal(ctx, store.ChannelWebChat, "visitor-7")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetIdentityReachable(ctx, wc.ID, false, "blocked"); err != nil {
				t.Fatal(err)
			}
			if id, err := s.ReplyIdentity(ctx, c.ID); err != nil || id.Channel != store.ChannelTelegram {
				t.Errorf("latest chat unreachable: %+v %v, want telegram", id, err)
			}
		})
	}
}
