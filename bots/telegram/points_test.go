package telegram_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/bots/telegram/telegramtest"
	"github.com/rapport-crm/rapport/points"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// The loop of issue 13 in chat: a customer buys, sees the points in
// /points, redeems a 维修券 with a button pressed twice (one voucher),
// sees its code in /vouchers; staff mark it used; ledger, balance and
// vouchers agree.
func TestPointsInChat(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		s.OnPoints(points.Rules(points.DefaultConfig(), time.UTC))
		f := telegramtest.New(t)
		h := setup(t, s, f, setupOpts{})
		const user = 5151
		chat := fmt.Sprint(user)
		n := int64(100)
		post := func(body string) {
			t.Helper()
			if got := h.post(body, nil).Code; got != 200 {
				t.Fatalf("status %d", got)
			}
		}
		say := func(text string) { t.Helper(); n++; post(textUpdate(n, user, text)) }
		k := 0
		expect := func(want string) telegramtest.Sent {
			t.Helper()
			k++
			telegramtest.WaitFor(t, "reply "+want, 10*time.Second, func() bool { return len(f.SentTo(chat)) >= k })
			var mine []telegramtest.Sent
			for _, m := range f.Sends() {
				if m.ChatID == chat {
					mine = append(mine, m)
				}
			}
			if got := mine[k-1].Text; !strings.Contains(got, want) {
				t.Fatalf("reply %d = %q, want it to contain %q", k, got, want)
			}
			return mine[k-1]
		}
		say("/start")
		expect("Welcome")
		c := h.customerOf(t, user)
		at := time.Now().Add(-time.Hour)
		if _, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: c.ID, Kind: store.OrderService, Amount: store.Fen(68000), OccurredAt: &at, OrderRef: "SV-1"}, time.UTC); err != nil {
			t.Fatal(err)
		}
		say("/points")
		expect("You have 680 points")
		cheap, err := s.CreateReward(ctx, store.RewardInput{Name: ptr("维修券"), Points: ptr(int64(500)), Value: ptr(store.Fen(5000)), Kind: ptr("repair")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateReward(ctx, store.RewardInput{Name: ptr("精品券"), Points: ptr(int64(900)), Value: ptr(store.Fen(10000))}); err != nil {
			t.Fatal(err)
		}
		say("/redeem")
		list := expect(fmt.Sprintf("%d. 维修券 · 500 points", cheap.ID))
		if strings.Contains(list.Text, "精品券") {
			t.Fatalf("lists an unaffordable reward: %q", list.Text)
		}
		var kb struct {
			InlineKeyboard [][]struct {
				Text string `json:"text"`
				Data string `json:"callback_data"`
			} `json:"inline_keyboard"`
		}
		if err := json.Unmarshal([]byte(list.ReplyMarkup), &kb); err != nil || len(kb.InlineKeyboard) != 1 {
			t.Fatalf("keyboard %q: %v", list.ReplyMarkup, err)
		}
		data := kb.InlineKeyboard[0][0].Data
		for i := range 2 { // a double tap
			post(fmt.Sprintf(`{"update_id":%d,"callback_query":{"id":"cb-%d","from":{"id":%d,"is_bot":false,"first_name":"Li","language_code":"en"},"chat_instance":"x","data":%q,
				"message":{"message_id":%d,"date":1767225600,"chat":{"id":%d,"type":"private"},"text":"You can redeem"}}}`, 900+i, i, user, data, list.MessageID, user))
		}
		done := expect("Redeemed: 维修券 (¥50.00), code ")
		expect("Redeemed")
		vs, err := s.CustomerVouchers(ctx, store.SystemActor(), c.ID, true)
		if err != nil || len(vs) != 1 || !strings.Contains(done.Text, vs[0].Code) {
			t.Fatalf("vouchers %+v, %v; reply %q", vs, err, done.Text)
		}
		if got := h.customerOf(t, user).Points; got != 180 {
			t.Fatalf("balance %d after one redemption, want 180", got)
		}
		say("/vouchers")
		expect(vs[0].Code)
		if _, err := s.UseVoucher(ctx, store.SystemActor(), vs[0].Code, nil); err != nil {
			t.Fatal(err)
		}
		say("/vouchers")
		expect("no vouchers")
		say("/redeem")
		expect("not yet enough")
		sum, err := s.PointsSum(ctx, c.ID)
		if err != nil || sum != 180 {
			t.Fatalf("ledger sum %d, %v", sum, err)
		}
	})
}
