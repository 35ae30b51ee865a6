package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func enqueueN(t *testing.T, s *store.Store, n int, prefix string) {
	t.Helper()
	items := make([]store.Outbound, n)
	for i := range items {
		k := fmt.Sprintf("%s-%d", prefix, i)
		items[i] = store.Outbound{Channel: store.ChannelTelegram, ChatID: fmt.Sprint(100 + i), Text: k, IdempotencyKey: k}
	}
	if got, err := s.Enqueue(context.Background(), items); err != nil || got != n {
		t.Fatalf("enqueue: %d, %v", got, err)
	}
}

func ids(ms []*store.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// TestClaimOutbox follows rows through claims, completions and a claim
// that lapses.
func TestClaimOutbox(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			clock := storetest.NewClock(time.Date(2027, 1, 1, 9, 0, 0, 0, time.UTC))
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			enqueueN(t, s, 5, "c")
			claim := func(n int) []*store.Message {
				t.Helper()
				ms, err := s.ClaimOutbox(ctx, store.ChannelTelegram, n, 15*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				return ms
			}

			first := claim(3)
			if len(first) != 3 || first[0].ClaimedBy == "" || first[0].LeaseUntil == nil {
				t.Fatalf("first claim = %+v", first)
			}
			// A claim is not a status: the conversation shows the row queued,
			// not yet sent.
			if m, _ := s.MessageByID(ctx, first[0].ID); m.Status != store.StatusQueued || m.SentAt != nil {
				t.Errorf("claimed row reads as %s, sent_at %v", m.Status, m.SentAt)
			}
			second := claim(10)
			if got := append(ids(first), ids(second)...); len(second) != 2 || len(slices.Compact(slices.Sorted(slices.Values(got)))) != 5 {
				t.Fatalf("second claim took %v after %v", ids(second), ids(first))
			}
			if got := claim(10); len(got) != 0 {
				t.Fatalf("rows under live claims claimed again: %v", ids(got))
			}

			// One sent, one put back, one failed; the other two stay claimed
			// by a sender that dies.
			err := s.CompleteOutbox(ctx, []store.Delivery{
				{ID: first[0].ID, ClaimedBy: first[0].ClaimedBy, Status: store.StatusSent, ProviderMsgID: "777", Attempted: true},
				{ID: first[1].ID, ClaimedBy: first[1].ClaimedBy, Status: store.StatusQueued, NextAttemptAt: clock.Now().Add(time.Second), Reason: "busy"},
				{ID: first[2].ID, ClaimedBy: first[2].ClaimedBy, Status: store.StatusFailed, Reason: "telegram 400", Attempted: true},
			})
			if err != nil {
				t.Fatal(err)
			}
			sent, _ := s.MessageByID(ctx, first[0].ID)
			if sent.Status != store.StatusSent || sent.ProviderMsgID != "777" || sent.SentAt == nil || !sent.SentAt.Equal(clock.Now()) || sent.Attempts != 1 {
				t.Errorf("sent row = %s %q %v attempts %d", sent.Status, sent.ProviderMsgID, sent.SentAt, sent.Attempts)
			}
			if got := claim(10); len(got) != 0 {
				t.Fatalf("a put-back row came back before its time: %v", ids(got))
			}
			clock.Advance(time.Second)
			if got := claim(10); len(got) != 1 || got[0].ID != first[1].ID || got[0].Attempts != 0 {
				t.Fatalf("after its delay: %+v, want the put-back row with no attempt counted", got)
			}

			// The dead sender's claims lapse and the rows are claimed again;
			// its late completion then changes nothing.
			clock.Advance(15 * time.Second)
			again := claim(10)
			if !slices.Equal(ids(again), ids(second)) {
				t.Fatalf("after their leases: %v, want %v", ids(again), ids(second))
			}
			if err := s.CompleteOutbox(ctx, []store.Delivery{{ID: second[0].ID, ClaimedBy: second[0].ClaimedBy, Status: store.StatusSent, ProviderMsgID: "late", Attempted: true}}); err != nil {
				t.Fatal(err)
			}
			if m, _ := s.MessageByID(ctx, second[0].ID); m.Status != store.StatusQueued || m.ProviderMsgID != "" {
				t.Errorf("a lapsed claim completed the row: %s %q", m.Status, m.ProviderMsgID)
			}
		})
	}
}

// TestClaimOutboxCursor: a claimer that claims again and again reads on
// from where its last claim stopped, and still finds the rows that became
// claimable behind it (lapsed claims) once the queue is drained and at
// least every second.
func TestClaimOutboxCursor(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			clock := storetest.NewClock(time.Date(2027, 1, 1, 9, 0, 0, 0, time.UTC))
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			enqueueN(t, s, 10, "cur")
			all, err := s.ClaimOutbox(ctx, store.ChannelTelegram, 10, time.Millisecond)
			if err != nil || len(all) != 10 {
				t.Fatalf("claimed %d, %v", len(all), err)
			}
			want := ids(all)
			clock.Advance(time.Second) // those claims lapse
			var c store.OutboxCursor
			claim := func(step string, wantIDs []int64) {
				t.Helper()
				ms, next, err := s.ClaimOutboxAfter(ctx, store.ChannelTelegram, 4, 100*time.Millisecond, c)
				if err != nil {
					t.Fatal(err)
				}
				c = next
				if diff := cmp.Diff(wantIDs, ids(ms)); diff != "" {
					t.Fatalf("%s: claimed (-want +got):\n%s", step, diff)
				}
				// The claim reads a row as every other read of it does.
				for _, m := range ms {
					stored, err := s.MessageByID(ctx, m.ID)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(stored, m); diff != "" {
						t.Fatalf("%s: claimed row %d differs from the stored one (-stored +claimed):\n%s", step, m.ID, diff)
					}
				}
			}
			claim("from the head", want[0:4])
			clock.Advance(200 * time.Millisecond) // the first four lapse, behind the cursor
			claim("on from the cursor", want[4:8])
			claim("the rest", want[8:10])
			claim("drained, from the head again", want[0:4])
			clock.Advance(time.Second) // every claim lapses; the cursor is a second old
			claim("a second on, from the head", want[0:4])
		})
	}
}

// TestClaimOutboxConcurrent: claimers racing over one outbox (replicas
// after a lease takeover, or the same process twice) never share a row,
// and together they take every row.
func TestClaimOutboxConcurrent(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			cfg := storetest.Config(t, d)
			a := storetest.OpenConfig(t, cfg)
			b := storetest.OpenConfig(t, cfg)
			const n = 600
			enqueueN(t, a, n, "race")
			var mu sync.Mutex
			owner := map[int64]int{}
			var wg sync.WaitGroup
			for w := range 8 {
				s := []*store.Store{a, b}[w%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						ms, err := s.ClaimOutbox(context.Background(), store.ChannelTelegram, 7, time.Minute)
						if err != nil {
							t.Error(err)
							return
						}
						if len(ms) == 0 {
							mu.Lock()
							done := len(owner) == n
							mu.Unlock()
							if done {
								return
							}
							continue // others hold what is left; they finish soon
						}
						mu.Lock()
						for _, m := range ms {
							if prev, ok := owner[m.ID]; ok {
								t.Errorf("row %d claimed by %d and %d", m.ID, prev, w)
							}
							owner[m.ID] = w
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(owner) != n {
				t.Errorf("%d of %d rows claimed", len(owner), n)
			}
		})
	}
}

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
