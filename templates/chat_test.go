package templates

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// chatEnv stores real inbound messages and runs HandleChat on them, the
// way the bots router does, then reads the replies from the outbox.
type chatEnv struct {
	t   *testing.T
	ctx context.Context
	s   *store.Store
	seq int
}

// parseCommand mirrors bots.ParseCommand for slash commands.
func parseCommand(text string) (cmd, args string) {
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "/") {
		return "", ""
	}
	word, rest := store.CutWord(t[1:])
	word, _, _ = strings.Cut(word, "@")
	return strings.ToLower(word), rest
}

func (e *chatEnv) staffSays(svc *Service, st *store.Staff, text string) (bool, string) {
	e.t.Helper()
	e.seq++
	account := fmt.Sprint("tg-", st.ID)
	m, _, err := e.s.RecordStaffInbound(e.ctx, &st.ID, store.Inbound{Channel: "telegram", DedupKey: fmt.Sprint("u", e.seq), ChatID: account, Text: text})
	if err != nil {
		e.t.Fatal(err)
	}
	ev := &store.ChatEvent{Message: m, Staff: st, SenderID: account}
	ev.Command, ev.Args = parseCommand(text)
	return e.run(svc, ev, account)
}

func (e *chatEnv) customerSays(svc *Service, id *store.Identity, text string) (bool, string) {
	e.t.Helper()
	e.seq++
	m, _, err := e.s.RecordInbound(e.ctx, id, store.Inbound{Channel: id.Channel, DedupKey: fmt.Sprint("u", e.seq), ChatID: id.ExternalID, Text: text})
	if err != nil {
		e.t.Fatal(err)
	}
	ev := &store.ChatEvent{Message: m, Identity: id, SenderID: id.ExternalID}
	ev.Command, ev.Args = parseCommand(text)
	return e.run(svc, ev, id.ExternalID)
}

// run calls the hook, then claims the outbox like the dispatcher and
// returns the one reply to chatID ("" when none).
func (e *chatEnv) run(svc *Service, ev *store.ChatEvent, chatID string) (bool, string) {
	e.t.Helper()
	handled, err := svc.HandleChat(e.ctx, ev)
	if err != nil {
		e.t.Fatal(err)
	}
	ms, err := e.s.ClaimOutbox(e.ctx, "telegram", 100, time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	var ds []store.Delivery
	var replies []string
	for _, m := range ms {
		ds = append(ds, store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusSent, ProviderMsgID: fmt.Sprint("p", m.ID), Attempted: true})
		if m.ChatID == chatID {
			replies = append(replies, m.Text)
		}
		if ev.Staff != nil && (m.StaffID == nil || *m.StaffID != ev.Staff.ID) {
			e.t.Errorf("reply to staff without its staff id: %+v", m)
		}
		if ev.Identity != nil && (m.CustomerID == nil || *m.CustomerID != ev.Identity.CustomerID) {
			e.t.Errorf("reply to a customer without its customer id: %+v", m)
		}
	}
	if err := e.s.CompleteOutbox(e.ctx, ds); err != nil {
		e.t.Fatal(err)
	}
	if len(replies) > 1 {
		e.t.Fatalf("%d replies: %q", len(replies), replies)
	}
	if len(replies) == 0 {
		return handled, ""
	}
	return handled, replies[0]
}

func TestChatEditing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		e := &chatEnv{t: t, ctx: ctx, s: s}
		// Two replicas: the draft set on one is confirmed on the other.
		a := New(s, Config{BusinessName: "安心家电"})
		b := New(s, Config{BusinessName: "安心家电", StaffLocale: "en"})
		boss, _ := s.CreateStaff(ctx, store.StaffInput{Name: "Meg", Role: store.RoleManager})
		agent, _ := s.CreateStaff(ctx, store.StaffInput{Name: "Ann", Role: store.RoleAgent})
		id, err := s.ResolveIdentity(ctx, store.Contact{Channel: "telegram", ExternalID: "777"})
		if err != nil {
			t.Fatal(err)
		}
		expect := func(handled bool, reply string, want ...string) {
			t.Helper()
			if !handled {
				t.Errorf("not handled; reply %q", reply)
			}
			for _, w := range want {
				if !strings.Contains(reply, w) {
					t.Errorf("reply %q lacks %q", reply, w)
				}
			}
		}
		h, r := e.staffSays(a, boss, "/template list")
		expect(h, r, "birthday — v1 / v1", "task_overdue")
		h, r = e.staffSays(a, boss, "/template show birthday")
		expect(h, r, "birthday（zh-CN）v1", "生日快乐", "/template set birthday")

		h, r = e.staffSays(a, boss, "/template set birthday\n{{.Customer.Nmae}}生日快乐")
		expect(h, r, "⚠️", "line 1", "can't evaluate field Nmae")
		if d, _ := s.TemplateDraftOf(ctx, boss.ID); d != nil {
			t.Fatalf("a broken body left a draft: %+v", d)
		}

		body := "{{with .Customer.Salutation}}{{.}}，{{end}}{{.Business}}祝您生日快乐！"
		h, r = e.staffSays(a, boss, "/template set birthday\n"+body)
		expect(h, r, "预览 birthday（zh-CN）", "王先生，安心家电祝您生日快乐！", "/template confirm")
		if got, _ := a.Render(ctx, "birthday", "zh-CN", render.Data{}); got.Version != 1 {
			t.Errorf("a preview changed the active version: %+v", got)
		}

		h, r = e.staffSays(b, boss, "/template confirm")
		expect(h, r, "now version 2")
		got, err := b.Render(ctx, "birthday", "zh-CN", render.Data{Customer: render.Customer{Name: "李雷"}})
		if err != nil || got.Version != 2 || got.Text != "李雷，安心家电祝您生日快乐！" {
			t.Errorf("after confirm: %+v %v", got, err)
		}
		h, r = e.staffSays(a, boss, "/template confirm")
		expect(h, r, "没有待确认的草稿")

		// A one-line set in English.
		h, r = e.staffSays(a, boss, "/template set winback en We miss you{{with .Customer.Salutation}}, {{.}}{{end}}!")
		expect(h, r, "预览 winback（en）", "We miss you, Ms. Wilson!")
		h, r = e.staffSays(a, boss, "/template cancel")
		expect(h, r, "已丢弃")
		h, r = e.staffSays(a, boss, "/template confirm")
		expect(h, r, "没有待确认的草稿")

		h, r = e.staffSays(a, boss, "/template rollback birthday 1")
		expect(h, r, "已回退到第 1 版")
		if got, _ := a.Render(ctx, "birthday", "zh-CN", render.Data{}); got.Version != 1 {
			t.Errorf("after rollback: %+v", got)
		}
		audit, _, err := s.TemplateAuditLog(ctx, "birthday", store.Page{})
		if err != nil || len(audit) != 2 || audit[1].Source != "chat" || audit[1].Actor != "Meg" || audit[1].StaffID == nil || *audit[1].StaffID != boss.ID {
			t.Errorf("audit = %+v %v", audit, err)
		}

		h, r = e.staffSays(a, agent, "/template set birthday\nhacked")
		expect(h, r, "只有店长或管理员")
		h, r = e.customerSays(a, id, "/template list")
		expect(h, r, "只有店长或管理员")
		if d, _ := s.TemplateDraftOf(ctx, agent.ID); d != nil {
			t.Errorf("an agent left a draft")
		}
		h, r = e.staffSays(a, boss, "/tasks")
		if h || r != "" {
			t.Errorf("/tasks: handled=%v reply %q", h, r)
		}
		h, r = e.staffSays(a, boss, "/template")
		expect(h, r, "/template set")
	})
}
