package telegram_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/telegram/telegramtest"
	"github.com/rapport-crm/rapport/importer"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// web posts a web chat visitor's message through the router.
func (h *harness) web(t *testing.T, visitor, text string) {
	t.Helper()
	n := webSeq.Add(1)
	err := h.r.Receive(context.Background(), bots.Inbound{Channel: store.ChannelWebChat, SenderID: visitor,
		DedupKey: fmt.Sprintf("web-%d", n), Kind: bots.KindText, Text: text})
	if err != nil {
		t.Fatal(err)
	}
}

// webSeq numbers web chat messages (their dedup keys).
var webSeq atomic.Int64

// account is the customer behind a chat account.
func (h *harness) account(t *testing.T, channel, id string) *store.Customer {
	t.Helper()
	ident, err := h.s.IdentityByExternal(context.Background(), channel, id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.s.CustomerByID(context.Background(), ident.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// replies waits for n replies in a customer's conversation and returns
// the texts of all of them.
func (h *harness) replies(t *testing.T, customerID int64, n int) []string {
	t.Helper()
	var out []string
	telegramtest.WaitFor(t, fmt.Sprintf("%d replies", n), 10*time.Second, func() bool {
		out = nil
		for _, m := range h.messages(t, customerID) {
			if m.Direction == store.DirectionOut {
				out = append(out, m.Text)
			}
		}
		return len(out) >= n
	})
	return out
}

var code6 = regexp.MustCompile(`\b\d{6}\b`)

// An anonymous web chat visitor types a Telegram customer's phone number:
// no merge, the same answer as for a number nobody has, nothing of the
// customer's reaches the visitor, and the customer's replies still go to
// their own Telegram (where a code tells them someone tried).
func TestPhoneClaimFromWebChatRevealsNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := telegramtest.New(t)
		h := setup(t, s, f, setupOpts{})
		const victim = 777
		h.post(textUpdate(1, victim, "hello"), nil)
		v := h.customerOf(t, victim)
		if _, err := s.UpdateCustomer(ctx, v.ID, store.CustomerInput{Name: ptr("Wang Fang"), Phone: ptr("13800138000")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AdjustPoints(ctx, store.SystemActor(), v.ID, store.PointsAdjustment{Points: 120, Reason: "gift"}); err != nil {
			t.Fatal(err)
		}

		h.web(t, "evil", "手机 138-0013-8000")
		h.web(t, "control", "手机 139-0013-9000")
		attacker, control := h.account(t, store.ChannelWebChat, "evil"), h.account(t, store.ChannelWebChat, "control")
		got, want := h.replies(t, attacker.ID, 1), h.replies(t, control.ID, 1)
		if len(got) != 1 || got[0] != want[0] || !strings.Contains(got[0], "/verify") {
			t.Fatalf("reply to the claimant %q, to a claim of a free number %q: must be one text", got, want)
		}

		// The code goes to the holder's own Telegram, not to the claimant.
		telegramtest.WaitFor(t, "code to the holder", 10*time.Second, func() bool { return len(f.SentTo(fmt.Sprint(victim))) == 1 })
		notice := f.SentTo(fmt.Sprint(victim))[0]
		if !strings.Contains(notice, "138****8000") || code6.FindString(notice) == "" {
			t.Fatalf("code message %q", notice)
		}

		// /points answers the claimant's own profile.
		h.web(t, "evil", "积分")
		if r := h.replies(t, attacker.ID, 2)[1]; strings.Contains(r, "120") {
			t.Fatalf("claimant sees the holder's points: %q", r)
		}
		// A guess does nothing.
		h.web(t, "evil", "验证 000000")
		if r := h.replies(t, attacker.ID, 3)[2]; !strings.Contains(r, "验证码不正确") {
			t.Fatalf("wrong code reply %q", r)
		}

		// An agent's reply to the customer still goes to their Telegram.
		if _, err := s.SendToCustomer(ctx, v.ID, "Mrs Wang, your order is ready"); err != nil {
			t.Fatal(err)
		}
		telegramtest.WaitFor(t, "agent reply on Telegram", 10*time.Second, func() bool { return len(f.SentTo(fmt.Sprint(victim))) == 2 })

		v2, err := s.CustomerByID(ctx, v.ID)
		if err != nil || len(v2.Identities) != 1 || v2.Identities[0].Channel != store.ChannelTelegram || v2.Points != 120 || !v2.PhoneVerified {
			t.Fatalf("holder after the claim: %+v, %v", v2, err)
		}
		a2 := h.account(t, store.ChannelWebChat, "evil")
		if a2.ID == v.ID || a2.Name != "" || a2.Points != 0 || a2.Phone != "" {
			t.Fatalf("claimant became %+v", a2)
		}
		for _, m := range h.messages(t, a2.ID) {
			for _, secret := range []string{"Wang", "120", "order is ready", "8000"} {
				if strings.Contains(m.Text, secret) && m.Direction == store.DirectionOut {
					t.Errorf("claimant was sent %q", m.Text)
				}
			}
		}
		// The claimed number is unproved: saved on the control visitor
		// alone, not on record.
		if c := h.account(t, store.ChannelWebChat, "control"); c.Phone != "+8613900139000" || c.PhoneVerified {
			t.Errorf("control visitor %q verified=%v", c.Phone, c.PhoneVerified)
		}
	})
}

// The holder, writing from the web chat, echoes the code their Telegram
// got: the two profiles become one.
func TestPhoneClaimProvedByCode(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := telegramtest.New(t)
		h := setup(t, s, f, setupOpts{})
		const holder = 777
		h.post(textUpdate(1, holder, "hello"), nil)
		v := h.customerOf(t, holder)
		if _, err := s.UpdateCustomer(ctx, v.ID, store.CustomerInput{Name: ptr("Wang Fang"), Phone: ptr("13800138000")}); err != nil {
			t.Fatal(err)
		}
		h.web(t, "me", "phone 13800138000")
		telegramtest.WaitFor(t, "code", 10*time.Second, func() bool { return len(f.SentTo(fmt.Sprint(holder))) == 1 })
		code := code6.FindString(f.SentTo(fmt.Sprint(holder))[0])
		h.web(t, "me", "验证"+code)
		telegramtest.WaitFor(t, "merge", 10*time.Second, func() bool {
			// The identity alone: its customer may be merged away between
			// two reads.
			id, err := s.IdentityByExternal(ctx, store.ChannelWebChat, "me")
			return err == nil && id.CustomerID == v.ID
		})
		kept := h.customerOf(t, holder)
		if len(kept.Identities) != 2 || kept.Name != "Wang Fang" {
			t.Fatalf("kept %+v", kept)
		}
		if r := h.replies(t, kept.ID, 3); !strings.Contains(r[len(r)-1], "Verified!") {
			t.Fatalf("replies %q", r)
		}
	})
}

// On Telegram /phone offers a button to share one's own number; that
// contact proves it (merging with the imported customer who has it) and
// the keyboard goes away. Someone else's contact proves nothing.
func TestPhoneProvedByTelegramContact(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := telegramtest.New(t)
		h := setup(t, s, f, setupOpts{})
		if _, err := importer.Customers(ctx, s, strings.NewReader("name,phone\nImported,13800138000\n"), false); err != nil {
			t.Fatal(err)
		}
		imported, _, _ := s.ListCustomers(ctx, store.CustomerFilter{Q: "Imported"})
		const user = 888
		h.post(textUpdate(1, user, "/phone 13800138000"), nil)
		telegramtest.WaitFor(t, "phone reply", 10*time.Second, func() bool { return len(f.Sends()) == 1 })
		if b := f.Sends()[0].ContactButton(); b != "📱 Share my phone number" {
			t.Fatalf("contact button %q in %q", b, f.Sends()[0].ReplyMarkup)
		}
		if h.customerOf(t, user).ID == imported[0].ID {
			t.Fatal("merged on a claim")
		}

		// Someone else's contact card: nothing.
		contact := func(key string, from int64, c bots.SharedContact) {
			t.Helper()
			err := h.r.Receive(ctx, bots.Inbound{Channel: store.ChannelTelegram, SenderID: fmt.Sprint(from), DedupKey: key,
				Kind: "contact", Text: c.Name, Contact: &c})
			if err != nil {
				t.Fatal(err)
			}
		}
		contact("c1", user, bots.SharedContact{Phone: "8613800138000", UserID: "777", Name: "a friend"})
		contact("c2", user, bots.SharedContact{Phone: "8613800138000", Name: "no user id"})
		time.Sleep(200 * time.Millisecond)
		if c := h.customerOf(t, user); c.ID == imported[0].ID || c.PhoneVerified {
			t.Fatalf("another's contact proved the number: %+v", c)
		}

		contact("c3", user, bots.SharedContact{Phone: "8613800138000", UserID: fmt.Sprint(user), Name: "Li"})
		telegramtest.WaitFor(t, "verified reply", 10*time.Second, func() bool { return len(f.Sends()) == 2 })
		last := f.Sends()[1]
		if !last.RemovesKeyboard() || !strings.Contains(last.Text, "验证成功") { // the kept, imported profile is zh-CN
			t.Fatalf("reply to the contact %+v", last)
		}
		c := h.customerOf(t, user)
		if c.ID != imported[0].ID || !c.PhoneVerified || c.Name != "Imported" {
			t.Fatalf("after the contact: %+v", c)
		}
		// The staff task to call the number is not needed any more.
		tasks, _, err := s.ListTasks(ctx, store.TaskFilter{CustomerID: &c.ID}, store.Page{})
		if err != nil || len(tasks) != 1 || tasks[0].Kind != store.TaskVerifyPhone || tasks[0].Status != store.TaskCancelled {
			t.Fatalf("tasks %+v, %v", tasks, err)
		}
	})
}
