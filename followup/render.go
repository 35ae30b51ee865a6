package followup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// Text keys. The first six are the template keys managers can edit; the
// others are short chat answers with built-in texts, rendered through the
// templates service too when it knows them.
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

// Notice is what a follow-up text is rendered from.
type Notice struct {
	Task *store.Task
	// DueAt is the task's due time in the business zone, formatted.
	DueAt           string
	CustomerName    string
	CustomerSummary string
	// Customer is set for texts to the customer (complaint_received).
	Customer  *store.Customer
	StaffName string
	// Extra carries the rest: "text" (relayed message), "digest" (lines),
	// "date", "error", "list", "url".
	Extra map[string]string
}

// Rendered is a rendered text and the template version it came from (0 for
// a built-in text).
type Rendered struct {
	Key     string
	Version int
	Text    string
}

// Renderer renders texts; cmd adapts the templates service to it. An
// error (an unknown key, say) falls back to the built-in text.
type Renderer interface {
	Render(ctx context.Context, key, locale string, n Notice) (Rendered, error)
}

// render renders key through the renderer, falling back to built-ins.
func (s *Service) render(ctx context.Context, key string, n Notice) Rendered {
	locale := s.cfg.StaffLocale
	return s.renderLocale(ctx, key, locale, n)
}

func (s *Service) renderLocale(ctx context.Context, key, locale string, n Notice) Rendered {
	if n.Extra == nil {
		n.Extra = map[string]string{}
	}
	if n.Task != nil && n.DueAt == "" && n.Task.DueAt != nil {
		n.DueAt = n.Task.DueAt.In(s.loc).Format("2006-01-02 15:04")
	}
	if s.o.Templates != nil {
		r, err := s.o.Templates.Render(ctx, key, locale, n)
		if err == nil && strings.TrimSpace(r.Text) != "" {
			r.Key = key
			return r
		}
		if err != nil && !strings.HasPrefix(key, "staff_") {
			s.log.Warn("follow-up template failed; using the built-in text", "key", key, "err", err)
		}
	}
	return Rendered{Key: key, Text: builtin(key, locale, n)}
}

// builtin is the shipped text of key, Chinese first unless locale is en.
func builtin(key, locale string, n Notice) string {
	en := strings.HasPrefix(locale, "en")
	pick := func(zh, e string) string {
		if en {
			return e
		}
		return zh
	}
	var t store.Task
	if n.Task != nil {
		t = *n.Task
	}
	due := n.DueAt
	if due == "" {
		due = pick("无", "none")
	}
	x := n.Extra
	switch key {
	case KeyTaskAssigned:
		return fmt.Sprintf(pick("🆕 新任务 #%d [%s]\n%s\n截止：%s\n%s\n%s\n回复本消息即可回复客户；完成：/done %d 备注",
			"🆕 New task #%d [%s]\n%s\nDue: %s\n%s\n%s\nReply to this message to answer the customer; finish with /done %d note"),
			t.ID, t.Priority, t.Title, due, t.Detail, n.CustomerSummary, t.ID)
	case KeyTaskOverdue:
		return fmt.Sprintf(pick("⏰ 任务 #%d 已逾期（截止 %s）：%s\n客户：%s", "⏰ Task #%d is overdue (due %s): %s\nCustomer: %s"),
			t.ID, due, t.Title, n.CustomerName)
	case KeyTaskEscalated:
		return fmt.Sprintf(pick("🚨 升级：任务 #%d 逾期未处理（截止 %s，负责人 %s）：%s\n客户：%s", "🚨 Escalated: task #%d is still open past due (due %s, assignee %s): %s\nCustomer: %s"),
			t.ID, due, n.StaffName, t.Title, n.CustomerName)
	case KeyTaskDigest:
		return fmt.Sprintf(pick("📋 每日任务汇总 %s\n%s", "📋 Daily task digest %s\n%s"), x["date"], x["digest"])
	case KeyRelayToStaff:
		return fmt.Sprintf(pick("💬 %s（任务 #%d）：\n%s\n\n回复本消息即可回复客户（微信：回复 %d 内容）", "💬 %s (task #%d):\n%s\n\nReply to this message to answer (WeChat: reply %d text)"),
			n.CustomerName, t.ID, x["text"], t.ID)
	case KeyComplaintReceived:
		return pick("非常抱歉给您带来了不好的体验。您的反馈我们已经收到，负责的同事会尽快联系您。",
			"We are very sorry about this experience. We have your message, and a colleague will contact you shortly.")
	case KeyStaffRefused:
		return pick("抱歉，这是员工专用指令。", "Sorry, that command is for staff only.")
	case keyBindOK:
		return fmt.Sprintf(pick("✅ 已绑定：%s。新任务会发到这里。", "✅ Bound to %s. New tasks will arrive here."), n.StaffName)
	case keyBindBad:
		return pick("绑定码无效、已使用或已过期。请向管理员索取新的绑定码。", "That binding code is unknown, used or expired. Ask an admin for a new one.")
	case keyBindThrottled:
		return pick("尝试次数过多，请一小时后再试。", "Too many attempts; try again in an hour.")
	case keyTaskDone:
		return fmt.Sprintf(pick("✅ 任务 #%d 已完成。", "✅ Task #%d done."), t.ID)
	case keyTaskSnoozed:
		return fmt.Sprintf(pick("💤 任务 #%d 推迟到 %s。", "💤 Task #%d snoozed until %s."), t.ID, due)
	case keyTaskList:
		if x["list"] == "" {
			return pick("没有待办任务。", "No open tasks.")
		}
		return pick("待办任务：\n", "Open tasks:\n") + x["list"]
	case keyTaskOpen:
		if x["url"] != "" {
			return x["url"]
		}
		return fmt.Sprintf("#%d [%s/%s] %s\n%s\n%s", t.ID, t.Kind, t.Priority, t.Title, t.Detail, n.CustomerSummary)
	case keyRelaySent:
		return fmt.Sprintf(pick("↪️ 已发送给 %s。", "↪️ Sent to %s."), n.CustomerName)
	case keyStaffError:
		return "⚠️ " + x["error"]
	case keyStaffHelp:
		return pick("指令：/tasks 查看任务，/done ID 备注 完成任务，回复转发的消息即可回复客户。",
			"Commands: /tasks lists your tasks, /done ID note completes one; reply to a forwarded message to answer the customer.")
	}
	return key
}

// staffText picks the staff-locale variant of a text.
func (s *Service) staffText(zh, en string) string {
	if strings.HasPrefix(s.cfg.StaffLocale, "en") {
		return en
	}
	return zh
}

// stageName is a lifecycle stage as staff read it in Chinese.
func stageName(st store.Stage) string {
	switch st {
	case store.StagePotential:
		return "潜在客户"
	case store.StageNew:
		return "新客户"
	case store.StageActive:
		return "活跃"
	case store.StageAtRisk:
		return "有流失风险"
	case store.StageChurned:
		return "已流失"
	}
	return string(st)
}

// summary is the customer card as text.
func (s *Service) summary(card *store.CustomerCard) string {
	c := card.Customer
	en := strings.HasPrefix(s.cfg.StaffLocale, "en")
	var b strings.Builder
	name := customerName(c)
	if en {
		fmt.Fprintf(&b, "👤 %s · tier %s · %s", name, c.Tier, c.Stage)
	} else {
		fmt.Fprintf(&b, "👤 %s · %s级 · %s", name, c.Tier, stageName(c.Stage))
	}
	if c.Phone != "" {
		fmt.Fprintf(&b, " · %s", c.Phone)
	}
	if card.SurveyScore != nil {
		if en {
			fmt.Fprintf(&b, "\nLast survey: %d/5", *card.SurveyScore)
		} else {
			fmt.Fprintf(&b, "\n最近评分：%d/5", *card.SurveyScore)
		}
	}
	if en {
		fmt.Fprintf(&b, "\nOpen tasks: %d", card.OpenTasks)
	} else {
		fmt.Fprintf(&b, "\n待办任务：%d", card.OpenTasks)
	}
	for _, m := range card.Recent {
		arrow := "←"
		if m.Direction == store.DirectionOut {
			arrow = "→"
		}
		fmt.Fprintf(&b, "\n%s %s %s", arrow, m.CreatedAt.In(s.loc).Format("01-02 15:04"), clip(messageText(m), 200))
	}
	return b.String()
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

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// fmtTime is a time in the business zone for chat texts.
func (s *Service) fmtTime(t time.Time) string { return t.In(s.loc).Format("2006-01-02 15:04") }
