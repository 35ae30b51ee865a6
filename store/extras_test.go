package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// TestExtras: what an outbound message carries besides its text is
// written once by Enqueue, in the JSON shape every replica reads, and
// read back typed by the adapters.
func TestExtras(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tests := []struct {
			name    string
			x       *store.Extras
			payload string
		}{
			{"none", nil, ""},
			{"empty", &store.Extras{}, ""},
			{"keyboard", &store.Extras{Keyboard: [][]store.Button{{{Text: "✅ Done", Data: "task:1:done"}}, {{Text: "🔗", Data: "task:1:open"}}}},
				`{"keyboard":[[{"text":"✅ Done","data":"task:1:done"}],[{"text":"🔗","data":"task:1:open"}]]}`},
			{"contact", &store.Extras{RequestContact: "📱 Share", ReplyTo: "42"}, `{"reply_to":"42","request_contact":"📱 Share"}`},
			{"remove", &store.Extras{RemoveKeyboard: true}, `{"remove_keyboard":true}`},
			{"wechat", &store.Extras{TemplateData: map[string]string{"thing1": "王芳"}}, `{"template_data":{"thing1":"王芳"}}`},
		}
		for _, tt := range tests {
			if _, err := s.Enqueue(ctx, []store.Outbound{{Channel: store.ChannelTelegram, ChatID: "1", Text: tt.name, IdempotencyKey: "x:" + tt.name, Extras: tt.x}}); err != nil {
				t.Fatal(err)
			}
		}
		ms, err := s.ClaimOutbox(ctx, store.ChannelTelegram, 10, time.Minute)
		if err != nil || len(ms) != len(tests) {
			t.Fatalf("claimed %d, %v", len(ms), err)
		}
		for i, tt := range tests {
			m := ms[i]
			if m.Text != tt.name || m.Payload != tt.payload {
				t.Errorf("%s: payload %q, want %q", tt.name, m.Payload, tt.payload)
			}
			want := store.Extras{}
			if tt.x != nil {
				want = *tt.x
			}
			got, err := m.Extras()
			if diff := cmp.Diff(want, got); err != nil || diff != "" {
				t.Errorf("%s: extras (-want +got):\n%s %v", tt.name, diff, err)
			}
		}
		if _, err := (&store.Message{ID: 9, Payload: "{nope"}).Extras(); err == nil {
			t.Error("a bad payload decoded")
		}
	})
}

// TestSendToCustomerEnqueues: an agent's reply is written like every
// outbound row (Enqueue), with the delivery columns set non-NULL from the
// start so the dispatcher updates the row in place.
func TestSendToCustomerEnqueues(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			cfg := storetest.Config(t, d)
			s := storetest.OpenConfig(t, cfg)
			name := "Li"
			c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: &name, Identities: []store.IdentityRef{{Channel: store.ChannelTelegram, ExternalID: "77"}}})
			if err != nil {
				t.Fatal(err)
			}
			var sent []int64
			for range 2 { // never deduplicated
				m, err := s.SendToCustomer(ctx, c.ID, " hello ")
				if err != nil {
					t.Fatal(err)
				}
				if m.Text != "hello" || m.Status != store.StatusQueued || m.Direction != store.DirectionOut || m.ChatID != "77" ||
					m.CustomerID == nil || *m.CustomerID != c.ID || m.IdentityID == nil || m.LeaseUntil != nil || m.SentAt != nil {
					t.Errorf("queued row %+v", m)
				}
				sent = append(sent, m.ID)
			}
			db, err := sql.Open(cfg.Driver, cfg.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var n int
			if err := db.QueryRow("SELECT COUNT(*) FROM messages WHERE id IN (?, ?) AND lease_until IS NOT NULL AND sent_at IS NOT NULL AND next_attempt_at IS NOT NULL",
				sent[0], sent[1]).Scan(&n); err != nil || n != 2 {
				t.Errorf("%d of 2 rows written as Enqueue writes them (%v)", n, err)
			}
			if ms, err := s.ClaimOutbox(ctx, store.ChannelTelegram, 10, time.Minute); err != nil || len(ms) != 2 {
				t.Errorf("claimed %d, %v", len(ms), err)
			}
		})
	}
}

func TestInWeChatWindow(t *testing.T) {
	now := time.Date(2027, 3, 5, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	tests := []struct {
		last *time.Time
		want bool
	}{
		{nil, false},
		{at(0), true},
		{at(47*time.Hour + 59*time.Minute), true},
		{at(48 * time.Hour), false},
		{at(72 * time.Hour), false},
	}
	for _, tt := range tests {
		if got := store.InWeChatWindow(tt.last, now); got != tt.want {
			t.Errorf("last %v: %v, want %v", tt.last, got, tt.want)
		}
	}
}
