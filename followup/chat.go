package followup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// staffCommand maps the command words staff use (the router normalises
// them, but raw Chinese words are accepted too) to command names.
func staffCommand(cmd string) string {
	switch cmd {
	case "bind", "绑定":
		return "bind"
	case "tasks", "任务":
		return "tasks"
	case "done", "完成":
		return "done"
	case "reply", "回复":
		return "reply"
	case "campaign", "活动":
		return "campaign"
	}
	return ""
}

// HandleChat is the chat hook (bots.Hook): staff binding and commands,
// task buttons, relays between a complaint's customer and its assignee,
// and complaint detection in customer messages. Customer messages are
// never consumed (handled=false) so later hooks (care's survey answers)
// still see them.
func (s *Service) HandleChat(ctx context.Context, ev *store.ChatEvent) (bool, error) {
	if ev == nil || ev.Message == nil {
		return false, nil
	}
	cmd := staffCommand(ev.Command)
	switch {
	case ev.Staff != nil:
		return true, s.staffChat(ctx, ev, cmd)
	case ev.Identity == nil:
		// An unbound chat account: only /bind gets here.
		if cmd == "bind" {
			return true, s.bind(ctx, ev)
		}
		return true, s.replyStaffKey(ctx, ev, KeyStaffRefused, render.Data{})
	}
	if cmd != "" || strings.HasPrefix(ev.CallbackData, "task:") || strings.HasPrefix(ev.CallbackData, "campaign:") {
		return true, s.refuseCustomer(ctx, ev)
	}
	return false, s.customerMessage(ctx, ev)
}

// ReadsChatFacts tells the router (bots.FactReader) that customerMessage
// takes the open complaint from store.ChatEvent.Facts.
func (s *Service) ReadsChatFacts() {}

// replyStaffKey answers a chat account that is (or is becoming) staff
// with the text of key; the idempotency key makes a reprocessed message
// answer once.
func (s *Service) replyStaffKey(ctx context.Context, ev *store.ChatEvent, key string, d render.Data) error {
	r, err := s.render(ctx, key, d)
	if err != nil {
		return err
	}
	_, err = s.store.Enqueue(ctx, []store.Outbound{r.ReplyTo(ev, fmt.Sprintf("staff_reply:%d", ev.Message.ID))})
	return err
}

func (s *Service) replyError(ctx context.Context, ev *store.ChatEvent, err error) error {
	if store.ErrorCode(err) == store.EINTERNAL {
		return err
	}
	return s.replyStaffKey(ctx, ev, keyStaffError, render.Data{Extra: map[string]string{"error": store.ErrorMessage(err)}})
}

// bind redeems a /bind code, confirms it, and sends the staff member their
// open tasks in one summary. Staff work on Telegram and WeChat: a /bind
// from any other channel is refused like any staff command from a
// non-staff account, and binds nothing.
func (s *Service) bind(ctx context.Context, ev *store.ChatEvent) error {
	if !store.StaffChannel(ev.Message.Channel) {
		return s.replyStaffKey(ctx, ev, KeyStaffRefused, render.Data{})
	}
	st, err := s.store.RedeemBindingCode(ctx, store.BindRequest{Channel: ev.Message.Channel, ExternalID: ev.SenderID, ChatID: ev.Message.ChatID, Code: ev.Args})
	switch {
	case errors.Is(err, store.ErrBindThrottled):
		return s.replyStaffKey(ctx, ev, keyBindThrottled, render.Data{})
	case errors.Is(err, store.ErrBindBadCode) || store.IsCode(err, store.EINVALID):
		return s.replyStaffKey(ctx, ev, keyBindBad, render.Data{})
	case err != nil:
		return err
	}
	ev.Staff = st
	if err := s.replyStaffKey(ctx, ev, keyBindOK, render.Data{Staff: &render.Staff{Name: st.Name}}); err != nil {
		return err
	}
	return s.openTaskSummary(ctx, ev)
}

// openTaskSummary sends a staff member who just bound their chat the open
// tasks assigned to them before (they reached nobody in chat), as one
// message like /tasks, and marks their pending new-task notices sent with
// it: a backlog arrives once, not as a notice per task. Tasks assigned
// from now on get their own notice. If this fails after the binding, the
// pending notices stay pending and NotifyNew sends them one by one.
func (s *Service) openTaskSummary(ctx context.Context, ev *store.ChatEvent) error {
	sum, err := s.store.OpenTasksOf(ctx, ev.Staff.ID, listLimit)
	if err != nil || sum.Open == 0 {
		return err
	}
	r, err := s.render(ctx, keyTaskList, render.Data{Extra: s.taskList(sum)})
	if err != nil {
		return err
	}
	o := r.ReplyTo(ev, fmt.Sprintf("bind_tasks:%d", ev.Message.ID))
	_, err = s.store.ClaimNotices(ctx, ev.Staff.ID, sum.Pending, []store.Outbound{o})
	return err
}

// staffChat handles everything a bound staff member sends.
func (s *Service) staffChat(ctx context.Context, ev *store.ChatEvent, cmd string) error {
	actor := store.ActorStaff(ev.Staff, ev.Message.Channel)
	if data := ev.CallbackData; strings.HasPrefix(data, "task:") {
		parts := strings.Split(data, ":")
		id, err := strconv.ParseInt(parts[1], 10, 64)
		if len(parts) != 3 || err != nil {
			return s.replyStaffKey(ctx, ev, keyStaffHelp, render.Data{})
		}
		switch parts[2] {
		case "done":
			return s.done(ctx, ev, actor, id, "")
		case "snooze":
			return s.snooze(ctx, ev, actor, id)
		case "open":
			return s.open(ctx, ev, actor, id)
		}
		return s.replyStaffKey(ctx, ev, keyStaffHelp, render.Data{})
	}
	if data := ev.CallbackData; strings.HasPrefix(data, "campaign:") {
		parts := strings.Split(data, ":")
		if len(parts) != 3 || parts[2] != "send" {
			return s.replyStaffKey(ctx, ev, keyStaffHelp, render.Data{})
		}
		if _, err := strconv.ParseInt(parts[1], 10, 64); err != nil {
			return s.replyStaffKey(ctx, ev, keyStaffHelp, render.Data{})
		}
		return s.campaignCommand(ctx, ev, "send "+parts[1]+" confirm")
	}
	switch cmd {
	case "campaign":
		return s.campaignCommand(ctx, ev, ev.Args)
	case "bind":
		return s.bind(ctx, ev)
	case "tasks":
		return s.list(ctx, ev)
	case "done":
		idText, note := store.CutWord(ev.Args)
		id, err := strconv.ParseInt(strings.TrimPrefix(idText, "#"), 10, 64)
		if err != nil || id <= 0 {
			return s.replyError(ctx, ev, store.Errorf(store.EINVALID, "%s", s.staffText("用法：/done 任务号 备注（例如 /done 12 已回访）", "usage: /done ID [note]")))
		}
		return s.done(ctx, ev, actor, id, note)
	case "reply":
		idText, text := store.CutWord(ev.Args)
		id, err := strconv.ParseInt(strings.TrimPrefix(idText, "#"), 10, 64)
		if err != nil || id <= 0 || text == "" {
			return s.replyError(ctx, ev, store.Errorf(store.EINVALID, "%s", s.staffText("用法：回复 任务号 内容（例如 回复 12 您好）", "usage: reply TASK_ID text")))
		}
		return s.relayOut(ctx, ev, actor, id, text)
	}
	if ev.ReplyToProviderMsgID != "" {
		id, err := s.taskOfReply(ctx, ev)
		if err != nil {
			return err
		}
		if id > 0 {
			return s.relayOut(ctx, ev, actor, id, ev.Message.Text)
		}
	}
	return s.replyStaffKey(ctx, ev, keyStaffHelp, render.Data{})
}

// task loads a task the actor may act on; others' tasks look missing to
// agents in chat as they do not exist for them.
func (s *Service) task(ctx context.Context, actor store.Actor, id int64) (*store.Task, error) {
	t, err := s.store.TaskByID(ctx, id)
	if store.IsCode(err, store.ENOTFOUND) {
		return nil, store.Errorf(store.ENOTFOUND, s.staffText("没有找到任务 #%d", "task %d not found"), id)
	} else if err != nil {
		return nil, err
	}
	if !store.CanActOnTask(actor, t) {
		return nil, store.Errorf(store.EFORBIDDEN, s.staffText("任务 #%d 不是分配给您的", "task %d is not assigned to you"), id)
	}
	return t, nil
}

func (s *Service) done(ctx context.Context, ev *store.ChatEvent, actor store.Actor, id int64, note string) error {
	return s.change(ctx, ev, actor, id, keyTaskDone, func(*store.Task) store.TaskUpdate {
		st := store.TaskDone
		up := store.TaskUpdate{Status: &st}
		if note != "" {
			up.Note = &note
		}
		return up
	})
}

// snooze moves the due time a day past the later of now and the current
// due time.
func (s *Service) snooze(ctx context.Context, ev *store.ChatEvent, actor store.Actor, id int64) error {
	return s.change(ctx, ev, actor, id, keyTaskSnoozed, func(t *store.Task) store.TaskUpdate {
		base := s.now()
		if t.DueAt != nil && t.DueAt.After(base) {
			base = *t.DueAt
		}
		due := base.Add(24 * time.Hour)
		return store.TaskUpdate{DueAt: &due}
	})
}

// change makes the update up(task) to a task the actor may act on and
// answers with the text of key. The task is checked first for an answer
// in the staff's language; UpdateTask checks again under its lock.
func (s *Service) change(ctx context.Context, ev *store.ChatEvent, actor store.Actor, id int64, key string, up func(*store.Task) store.TaskUpdate) error {
	t, err := s.task(ctx, actor, id)
	if err != nil {
		return s.replyError(ctx, ev, err)
	}
	if t, err = s.store.UpdateTask(ctx, id, up(t), actor); err != nil {
		return s.replyError(ctx, ev, err)
	}
	return s.replyStaffKey(ctx, ev, key, render.Data{Task: render.TaskOf(t, "")})
}

func (s *Service) open(ctx context.Context, ev *store.ChatEvent, actor store.Actor, id int64) error {
	t, err := s.task(ctx, actor, id)
	if err != nil {
		return s.replyError(ctx, ev, err)
	}
	d := render.Data{Task: render.TaskOf(t, ""), Extra: map[string]string{}}
	if s.cfg.ConsoleURL != "" {
		d.Extra["url"] = strings.TrimRight(s.cfg.ConsoleURL, "/") + "/console/#/tasks/" + strconv.FormatInt(id, 10)
	} else if card, err := s.store.CustomerCard(ctx, t.CustomerID, 3); err == nil {
		d.Task.CustomerSummary = s.summary(card)
	}
	return s.replyStaffKey(ctx, ev, keyTaskOpen, d)
}

// listLimit is how many tasks /tasks and the /bind summary show.
const listLimit = 30

// list answers /tasks with the staff member's open tasks, most urgent
// first.
func (s *Service) list(ctx context.Context, ev *store.ChatEvent) error {
	sum, err := s.store.OpenTasksOf(ctx, ev.Staff.ID, listLimit)
	if err != nil {
		return err
	}
	return s.replyStaffKey(ctx, ev, keyTaskList, render.Data{Extra: s.taskList(sum)})
}

// taskList is a task list as the staff_task_list text gets it: "list",
// one line per task with its due time (⏰ when overdue), and "more", how
// many open tasks the list leaves out (absent when none).
func (s *Service) taskList(sum *store.TaskSummary) map[string]string {
	var b strings.Builder
	for _, t := range sum.Top {
		due := ""
		if t.DueAt != nil {
			due = " · " + s.fmtTime(*t.DueAt)
			if t.DueAt.Before(s.now()) {
				due += " ⏰"
			}
		}
		fmt.Fprintf(&b, "#%d [%s] %s%s\n", t.ID, t.Priority, store.Clip(t.Title, 80), due)
	}
	x := map[string]string{"list": strings.TrimSpace(b.String())}
	if more := sum.Open - int64(len(sum.Top)); more > 0 {
		x["more"] = strconv.FormatInt(more, 10)
	}
	return x
}

// relayOut sends a staff member's answer to the task's customer on the
// customer's own channel; the queued row is the conversation's record.
func (s *Service) relayOut(ctx context.Context, ev *store.ChatEvent, actor store.Actor, id int64, text string) error {
	text = strings.TrimSpace(text)
	if text == "" {
		return s.replyStaffKey(ctx, ev, keyStaffHelp, render.Data{})
	}
	t, err := s.task(ctx, actor, id)
	if err != nil {
		return s.replyError(ctx, ev, err)
	}
	ident, err := s.store.ReplyIdentity(ctx, t.CustomerID)
	if err != nil {
		return s.replyError(ctx, ev, err)
	}
	cid, iid := t.CustomerID, ident.ID
	n, err := s.store.Enqueue(ctx, []store.Outbound{{
		CustomerID: &cid, IdentityID: &iid, Channel: ident.Channel, ChatID: ident.ExternalID, Text: text,
		IdempotencyKey: fmt.Sprintf("relay_out:%d", ev.Message.ID),
	}})
	if err != nil {
		return err
	}
	if n == 1 {
		if err := s.store.AddTaskEvent(ctx, t.ID, actor, "relayed_out", text); err != nil {
			return err
		}
	}
	c, err := s.store.CustomerByID(ctx, t.CustomerID)
	if err != nil {
		return err
	}
	return s.replyStaffKey(ctx, ev, keyRelaySent, render.Data{Task: render.TaskOf(t, ""), Customer: subject(c)})
}

// refuseCustomer answers a customer who tried a staff command.
func (s *Service) refuseCustomer(ctx context.Context, ev *store.ChatEvent) error {
	c, err := s.store.CustomerByID(ctx, ev.Identity.CustomerID)
	if err != nil {
		return err
	}
	return s.replyCustomer(ctx, ev, c, KeyStaffRefused, fmt.Sprintf("staff_refused:%d", ev.Message.ID))
}

// replyCustomer answers customer c, in their locale, on the chat ev came
// from, with the text of key, once per idempotency key.
func (s *Service) replyCustomer(ctx context.Context, ev *store.ChatEvent, c *store.Customer, key, idempotencyKey string) error {
	r, err := s.o.Templates.Render(ctx, key, c.Locale, render.Data{Customer: render.CustomerOf(c)})
	if err != nil {
		return err
	}
	_, err = s.store.Enqueue(ctx, []store.Outbound{r.ReplyTo(ev, idempotencyKey)})
	return err
}

// isComplaint reports whether text contains a complaint word.
func (s *Service) isComplaint(text string) bool {
	t := strings.ToLower(text)
	return slices.ContainsFunc(s.words, func(w string) bool { return w != "" && strings.Contains(t, w) })
}

// customerMessage opens a complaint task for a complaining message, and
// forwards the customer's messages to the assignee of their open
// complaint or recovery task.
func (s *Service) customerMessage(ctx context.Context, ev *store.ChatEvent) error {
	m := ev.Message
	if m.Kind == "event" || m.Kind == "callback" {
		return nil
	}
	cid := ev.Identity.CustomerID
	var t *store.Task
	var err error
	if ev.Facts != nil {
		t = ev.Facts.OpenComplaint // read for the router's batch
	} else if t, err = s.store.OpenComplaintTask(ctx, cid); err != nil {
		return err
	}
	if t == nil {
		if m.Kind != "text" || !s.isComplaint(m.Text) {
			return nil
		}
		c, err := s.store.CustomerByID(ctx, cid)
		if err != nil {
			return err
		}
		due := s.now().Add(s.cfg.ComplaintDue)
		nt, created, err := s.store.CreateTask(ctx, store.TaskInput{
			CustomerID: cid, Kind: store.TaskComplaint, Priority: store.PriorityHigh,
			Title:  store.Clip(fmt.Sprintf(s.staffText("%s 投诉：%s", "Complaint from %s: %s"), customerName(c), m.Text), 120),
			Detail: m.Text, DueAt: &due, Source: "complaint",
			DedupKey: fmt.Sprintf("complaint:msg:%d", m.ID),
		})
		if err != nil {
			return err
		}
		if created || nt.DedupKey != nil && *nt.DedupKey == fmt.Sprintf("complaint:msg:%d", m.ID) {
			if err := s.ackComplaint(ctx, ev, c); err != nil {
				return err
			}
			// The new task's notice carries this message in its card;
			// send it now rather than on the next tick.
			_, err := s.notifyTask(ctx, nt)
			return err
		}
		t = nt
	}
	return s.relayIn(ctx, t, m)
}

// relayIn forwards one customer message to the task's assignee, once.
func (s *Service) relayIn(ctx context.Context, t *store.Task, m *store.Message) error {
	if t.AssigneeID == nil {
		return nil
	}
	chat, err := s.store.StaffChat(ctx, *t.AssigneeID)
	if err != nil || chat == nil {
		return err
	}
	c, err := s.store.CustomerByID(ctx, t.CustomerID)
	if err != nil {
		return err
	}
	r, err := s.render(ctx, KeyRelayToStaff, render.Data{Task: render.TaskOf(t, ""), Customer: subject(c), Extra: map[string]string{"text": messageText(m)}})
	if err != nil {
		return err
	}
	n, err := s.store.Enqueue(ctx, []store.Outbound{s.toStaff(*t.AssigneeID, chat, r, fmt.Sprintf("relay:%d:%d", t.ID, m.ID))})
	if err != nil || n == 0 {
		return err
	}
	return s.store.AddTaskEvent(ctx, t.ID, store.SystemActor(), "relayed_in", messageText(m))
}

// taskOfReply finds the task whose relayed message the staff member
// answered. The platform's id of a message we sent is recorded just after
// the platform accepts it, so a reply can (rarely) arrive first: look again
// for up to a second before treating it as an ordinary message.
func (s *Service) taskOfReply(ctx context.Context, ev *store.ChatEvent) (int64, error) {
	for try := 0; ; try++ {
		key, err := s.store.StaffMessageKey(ctx, ev.Staff.ID, ev.Message.Channel, ev.ReplyToProviderMsgID)
		if id := taskOfKey(key); err != nil || id > 0 || try == 5 {
			return id, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// taskOfKey is the task a message to staff was about, read from its
// idempotency key: the task notices' "task:ID:..." and the relays'
// "relay:ID:...". It is 0 for any other key.
func taskOfKey(key string) int64 {
	kind, rest, _ := strings.Cut(key, ":")
	idText, _, _ := strings.Cut(rest, ":")
	if kind != "task" && kind != "relay" {
		return 0
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// ackComplaint tells the customer, on the channel they wrote from, that a
// person will follow up: silence after a complaint makes it worse.
func (s *Service) ackComplaint(ctx context.Context, ev *store.ChatEvent, c *store.Customer) error {
	return s.replyCustomer(ctx, ev, c, KeyComplaintReceived, fmt.Sprintf("complaint_ack:%d", ev.Message.ID))
}
