package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/followup"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/templates"
)

// A manager lists, shows and sends a campaign in chat: the send asks for
// confirmation with the count (and a button on Telegram) and is audited;
// an agent is refused.
func TestCampaignChat(t *testing.T) {
	eachCampaign(t, campaignStart, func(t *testing.T, e *campaignEnv) {
		r := e.replica("a")
		e.customers(r.st, 4)
		c := e.campaign(r, `{"city":"上海"}`, store.CampaignInput{})
		fc := followup.DefaultConfig()
		fc.StaffLocale = "en"
		fu, err := followup.New(fc, followup.Options{Store: r.st, Templates: templates.New(r.st, templates.Config{Location: testShanghai}),
			Location: testShanghai, Campaigns: r.svc, Logger: quietTestLog})
		if err != nil {
			t.Fatal(err)
		}
		seq := 0
		staff := func(name string, role store.Role) *store.Staff {
			st, err := r.st.CreateStaff(e.ctx, store.StaffInput{Name: name, Role: role})
			if err != nil {
				t.Fatal(err)
			}
			code, _, err := r.st.CreateBindingCode(e.ctx, st.ID, store.SystemActor())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.st.RedeemBindingCode(e.ctx, store.BindRequest{Channel: "telegram", ExternalID: "tg-" + name, Code: code}); err != nil {
				t.Fatal(err)
			}
			return st
		}
		// says runs the hook on a staff message and answers the reply.
		says := func(st *store.Staff, text, callback string) *store.Message {
			t.Helper()
			seq++
			m, _, err := r.st.RecordStaffInbound(e.ctx, &st.ID, store.Inbound{Channel: "telegram", DedupKey: fmt.Sprint("s", seq), ChatID: "tg-" + st.Name, Text: text})
			if err != nil {
				t.Fatal(err)
			}
			ev := &store.ChatEvent{Message: m, Staff: st, SenderID: "tg-" + st.Name, CallbackData: callback}
			if w, rest, ok := strings.Cut(strings.TrimPrefix(text, "/"), " "); ok || w != "" {
				ev.Command, ev.Args = w, strings.TrimSpace(rest)
			}
			if h, err := fu.HandleChat(e.ctx, ev); err != nil || !h {
				t.Fatalf("%q: handled %v, %v", text, h, err)
			}
			ms, err := r.st.ClaimOutbox(e.ctx, "telegram", 50, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			var ds []store.Delivery
			var reply *store.Message
			for _, o := range ms {
				ds = append(ds, store.Delivery{ID: o.ID, ClaimedBy: o.ClaimedBy, Status: store.StatusSent, Attempted: true})
				if o.StaffID != nil && *o.StaffID == st.ID {
					reply = o
				}
			}
			if err := r.st.CompleteOutbox(e.ctx, ds); err != nil {
				t.Fatal(err)
			}
			if reply == nil {
				t.Fatalf("%q: no reply", text)
			}
			return reply
		}
		boss, agent := staff("boss", store.RoleManager), staff("ann", store.RoleAgent)
		if m := says(agent, "/campaign list", ""); !strings.Contains(m.Text, "only managers") {
			t.Errorf("agent: %q", m.Text)
		}
		if m := says(boss, "/campaign list", ""); !strings.Contains(m.Text, fmt.Sprintf("#%d promo [draft]", c.ID)) {
			t.Errorf("list: %q", m.Text)
		}
		m := says(boss, fmt.Sprintf("/campaign send %d", c.ID), "")
		x, _ := m.Extras()
		if !strings.Contains(m.Text, "goes to 2 customers") || len(x.Keyboard) != 1 {
			t.Errorf("confirmation: %q %+v", m.Text, x)
		}
		if got, _ := r.st.CampaignByID(e.ctx, c.ID); got.Status != store.CampaignDraft {
			t.Fatalf("sent before confirmation: %s", got.Status)
		}
		if m := says(boss, "", x.Keyboard[0][0].Data); !strings.Contains(m.Text, "is sending") {
			t.Errorf("button: %q", m.Text)
		}
		e.tick(r)
		if m := says(boss, fmt.Sprintf("/campaign show %d", c.ID), ""); !strings.Contains(m.Text, "[done]") || !strings.Contains(m.Text, "queued 2") {
			t.Errorf("show: %q", m.Text)
		}
		evs, _, _ := r.st.ListAudit(e.ctx, store.AuditFilter{Page: store.Page{Limit: 10}})
		if len(evs) == 0 || evs[0].Action != "campaign.send" || evs[0].Via != store.AuditViaChat {
			t.Errorf("audit %+v", evs)
		}
	})
}
