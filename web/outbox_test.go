package web_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// failed writes an outbound message and fails it, as the dispatcher does
// after an answer that can never succeed.
func failed(t *testing.T, s *store.Store, channel, text string) int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Enqueue(ctx, []store.Outbound{{Channel: channel, ChatID: "c1", Text: text, IdempotencyKey: text}}); err != nil {
		t.Fatal(err)
	}
	ms, err := s.ClaimOutbox(ctx, channel, 1, time.Minute)
	if err != nil || len(ms) != 1 {
		t.Fatalf("claim: %v %v", ms, err)
	}
	err = s.CompleteOutbox(ctx, []store.Delivery{{ID: ms[0].ID, ClaimedBy: ms[0].ClaimedBy, Status: store.StatusFailed, Reason: "telegram 502", Attempted: true}})
	if err != nil {
		t.Fatal(err)
	}
	return ms[0].ID
}

func TestRequeueAPI(t *testing.T) {
	day := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			clock := storetest.NewClock(day)
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			srv := newServer(t, s)
			admin := client{t, srv, adminToken}
			manager := client{t, srv, tokenFor(t, s, store.RoleManager, nil)}
			agent := client{t, srv, tokenFor(t, s, store.RoleAgent, nil)}

			tg1 := failed(t, s, store.ChannelTelegram, "tg-1")
			wx := failed(t, s, store.ChannelWeChat, "wx-1")
			clock.Advance(24 * time.Hour)
			tg2 := failed(t, s, store.ChannelTelegram, "tg-2")

			refused := []struct {
				name  string
				c     client
				body  string
				code  int
				field string
			}{
				{"agent", agent, `{"channel":"telegram"}`, 403, ""},
				{"no token", client{t, srv, ""}, `{"channel":"telegram"}`, 401, ""},
				{"no filter", admin, `{}`, 422, "filter"},
				{"empty body", admin, ``, 400, ""},
				{"unknown field", admin, `{"chanel":"telegram"}`, 400, ""},
				{"ids of the wrong type", admin, `{"ids":"1,2"}`, 400, ""},
				{"unknown channel", admin, `{"channel":"sms"}`, 422, "channel"},
				{"bad date", admin, `{"from":"2026-13-01"}`, 422, "from"},
				{"empty range", admin, `{"from":"2026-11-21","to":"2026-11-20"}`, 422, "to"},
				{"bad id", admin, `{"ids":[-1]}`, 422, "ids"},
			}
			for _, r := range refused {
				code, out := r.c.do("POST", "/api/v1/outbox/requeue", r.body)
				if code != r.code {
					t.Errorf("%s: %d %v, want %d", r.name, code, out, r.code)
				}
				if e, _ := out["error"].(map[string]any); r.field != "" && (e == nil || e["field"] != r.field) {
					t.Errorf("%s: error %v, want field %s", r.name, out, r.field)
				}
			}

			status := func(id int64) string {
				m, err := s.MessageByID(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				return m.Status
			}
			steps := []struct {
				c      client
				body   string
				n      float64
				queued []int64
			}{
				// The first day (to is inclusive), Telegram only.
				{manager, `{"channel":"telegram","from":"2026-11-20","to":"2026-11-20"}`, 1, []int64{tg1}},
				{admin, fmt.Sprintf(`{"ids":[%d,%d]}`, wx, tg1), 1, []int64{tg1, wx}},
				{admin, `{"from":"2026-11-21T00:00:00Z"}`, 1, []int64{tg1, wx, tg2}},
				{admin, `{"channel":"telegram"}`, 0, []int64{tg1, wx, tg2}},
			}
			for _, st := range steps {
				code, out := st.c.do("POST", "/api/v1/outbox/requeue", st.body)
				if code != 200 || out["requeued"] != st.n {
					t.Fatalf("%s: %d %v, want requeued %v", st.body, code, out, st.n)
				}
				queued := map[int64]bool{}
				for _, id := range st.queued {
					queued[id] = true
				}
				for _, id := range []int64{tg1, wx, tg2} {
					if want := map[bool]string{true: store.StatusQueued, false: store.StatusFailed}[queued[id]]; status(id) != want {
						t.Errorf("after %s: message %d is %s, want %s", st.body, id, status(id), want)
					}
				}
			}
		})
	}
}
