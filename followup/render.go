package followup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// Template keys of the follow-up texts (templates/defaults), all in the
// staff locale but complaint_received and a customer's staff_refused.
const (
	KeyTaskAssigned  = "task_assigned"
	KeyTaskOverdue   = "task_overdue"
	KeyTaskEscalated = "task_escalated"
	KeyTaskDigest    = "task_digest"
	KeyRelayToStaff  = "relay_to_staff"
	KeyStaffRefused  = "staff_refused"
	// KeyComplaintReceived answers the customer whose message opened a
	// complaint task, in the customer's locale.
	KeyComplaintReceived = "complaint_received"

	keyBindOK        = "staff_bind_ok"
	keyBindBad       = "staff_bind_bad"
	keyBindThrottled = "staff_bind_throttled"
	keyTaskDone      = "staff_task_done"
	keyTaskSnoozed   = "staff_task_snoozed"
	keyTaskList      = "staff_task_list"
	keyTaskOpen      = "staff_task_open"
	keyRelaySent     = "staff_relay_sent"
	keyStaffError    = "staff_error"
	keyStaffHelp     = "staff_help"
)

// render renders key in the staff locale. A text that fails to render
// is an error: the notice is tried again on the next pass, a chat
// message is processed again later.
func (s *Service) render(ctx context.Context, key string, d render.Data) (render.Rendered, error) {
	return s.o.Templates.Render(ctx, key, s.cfg.StaffLocale, d)
}

// subject is a customer as staff texts name them: "#ID" when nameless.
func subject(c *store.Customer) render.Customer {
	rc := render.CustomerOf(c)
	rc.Name = customerName(c)
	return rc
}

// staffText picks the staff-locale variant of a text.
func (s *Service) staffText(zh, en string) string { return render.Pick(s.cfg.StaffLocale, zh, en) }

// stageName is a lifecycle stage as staff read it in Chinese.
func stageName(st store.Stage) string {
	switch {
	case st == store.StagePotential:
		return "潜在客户"
	case st == store.StageNew:
		return "新客户"
	case st == store.StageActive:
		return "活跃"
	case st == store.StageAtRisk:
		return "有流失风险"
	case st == store.StageChurned:
		return "已流失"
	}
	return string(st)
}

// summary is the customer card as text.
func (s *Service) summary(card *store.CustomerCard) string {
	c := card.Customer
	var b strings.Builder
	fmt.Fprintf(&b, s.staffText("👤 %s · %s级 · %s", "👤 %s · tier %s · %s"), customerName(c), c.Tier, s.staffText(stageName(c.Stage), string(c.Stage)))
	if c.Phone != "" {
		fmt.Fprintf(&b, " · %s", c.Phone)
	}
	s.figures(&b, c)
	if card.SurveyScore != nil {
		fmt.Fprintf(&b, s.staffText("\n最近评分：%d/5", "\nLast survey: %d/5"), *card.SurveyScore)
	}
	fmt.Fprintf(&b, s.staffText("\n待办任务：%d", "\nOpen tasks: %d"), card.OpenTasks)
	for _, m := range card.Recent {
		arrow := "←"
		if m.Direction == store.DirectionOut {
			arrow = "→"
		}
		fmt.Fprintf(&b, "\n%s %s %s", arrow, m.CreatedAt.In(s.loc).Format("01-02 15:04"), store.Clip(messageText(m), 200))
	}
	return b.String()
}

// figures writes the customer's figures for the card: spend and orders in
// the window (visits, for a service business), the last order, the RFM
// segment and the churn risk with its reasons. Nothing for a customer
// with no orders and no risk.
func (s *Service) figures(b *strings.Builder, c *store.Customer) {
	st := c.Stats
	if st != nil && st.LifetimeOrders > 0 {
		fmt.Fprintf(b, s.staffText("\n消费（近 %d 个月）：¥%s · %d 单/次 · 累计 ¥%s", "\nSpend (%d months): ¥%s · %d orders/visits · lifetime ¥%s"),
			s.windowMonths(), st.Spend, st.Orders, st.LifetimeSpend)
		if st.LastOrderAt != nil {
			fmt.Fprintf(b, s.staffText(" · 最近 %s", " · last %s"), st.LastOrderAt.In(s.loc).Format("2006-01-02"))
		}
	}
	if c.RFM != nil {
		for _, seg := range store.RFMSegments {
			if seg.Key == c.RFM.Segment {
				fmt.Fprintf(b, "\nRFM %d-%d-%d · %s", c.RFM.R, c.RFM.F, c.RFM.M, s.staffText(seg.Chinese, seg.English))
			}
		}
	}
	if c.ChurnRisk > 0 {
		fmt.Fprintf(b, s.staffText("\n流失风险 %d/100", "\nChurn risk %d/100"), c.ChurnRisk)
		if len(c.ChurnReasons) > 0 {
			fmt.Fprintf(b, s.staffText("（%s）", " (%s)"), store.Clip(strings.Join(c.ChurnReasons, s.staffText("；", "; ")), 200))
		}
	}
}

// windowMonths is the figures' window (analytics.window_months).
func (s *Service) windowMonths() int {
	if s.o.WindowMonths > 0 {
		return s.o.WindowMonths
	}
	return 12
}

func customerName(c *store.Customer) string {
	if strings.TrimSpace(c.Name) != "" {
		return c.Name
	}
	return fmt.Sprintf("#%d", c.ID)
}

func messageText(m *store.Message) string {
	if strings.TrimSpace(m.Text) != "" {
		return m.Text
	}
	return "[" + m.Kind + "]"
}

// fmtTime is a time in the business zone for chat texts.
func (s *Service) fmtTime(t time.Time) string { return t.In(s.loc).Format("2006-01-02 15:04") }
