// Package followup puts follow-up tasks in front of staff in chat: new-task
// notices with the customer's card, complaint tasks and the relay between
// customer and assignee, overdue reminders, escalation to managers and the
// managers' daily digest. It writes outbox rows (store.Enqueue) and never
// talks to a platform; the bots dispatcher delivers them.
package followup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// Options are the service's collaborators.
type Options struct {
	Store *store.Store
	// Templates renders every text (required).
	Templates render.Renderer
	// Location is the business time zone (digest time, dates in texts).
	Location *time.Location
	// Now is the clock; default the store's.
	Now func() time.Time
	// WindowMonths is the window of the figures the customer card shows
	// (analytics.window_months; default 12).
	WindowMonths int
	Logger       *slog.Logger
	// Figures, when set, gives a business day's key figures for the
	// digest (cmd wires the reports); nil leaves them out.
	Figures func(ctx context.Context, day time.Time) (*DayFigures, error)
	// Campaigns answers managers' /campaign commands (nil: unavailable).
	Campaigns Campaigns
}

// DayFigures are the key figures of a day the digest quotes.
type DayFigures struct {
	NewCustomers, MessagesIn, MessagesOut int64
	Revenue                               store.Money
	CSAT                                  int64 // basis points
	Responses                             int64
	ComplaintsOpen                        int64
	// Campaigns: messages sent that day, replies and revenue attributed
	// to them; points issued and redeemed, vouchers used. A line for each
	// shows only on a day that had some.
	CampaignSent, CampaignReplies int64
	CampaignRevenue               store.Money
	PointsIssued, PointsRedeemed  int64
	VouchersUsed                  int64
}

// Service is the follow-up engine. It is safe for concurrent use, and
// several processes may run it on one database: every notice is claimed
// with a conditional UPDATE and backed by an outbox idempotency key.
type Service struct {
	cfg   Config
	o     Options
	store *store.Store
	loc   *time.Location
	log   *slog.Logger
	words []string
}

// batch bounds the tasks one pass handles.
const batch = 200

// New builds the service.
func New(cfg Config, o Options) (*Service, error) {
	if o.Store == nil || o.Templates == nil {
		return nil, errors.New("followup: a store and templates are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.StaffLocale = cmp.Or(cfg.StaffLocale, store.LocaleZH)
	cfg.Interval = cmp.Or(cfg.Interval, DefaultConfig().Interval)
	if cfg.DigestTime != "" {
		// "9:00" and "09:00" alike; Tick compares zero-padded strings.
		t, _ := time.Parse("15:04", cfg.DigestTime)
		cfg.DigestTime = t.Format("15:04")
	}
	o.Location = cmp.Or(o.Location, time.UTC)
	if o.Now == nil {
		o.Now = o.Store.Now
	}
	o.Logger = cmp.Or(o.Logger, slog.Default())
	s := &Service{cfg: cfg, o: o, store: o.Store, loc: o.Location, log: o.Logger}
	for _, w := range cfg.ComplaintWords {
		s.words = append(s.words, strings.ToLower(strings.TrimSpace(w)))
	}
	return s, nil
}

func (s *Service) now() time.Time { return s.o.Now().UTC() }

// Run works until ctx ends: every Interval it sends new-task notices,
// overdue reminders, escalations and (once a day) the digest. A failing
// pass is logged and retried on the next tick; only ctx stops the loop.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("follow-up pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick runs one pass of every job at the service's current time.
func (s *Service) Tick(ctx context.Context) error {
	_, err1 := s.NotifyNew(ctx)
	_, err2 := s.RemindOverdue(ctx)
	_, err3 := s.Escalate(ctx)
	var err4 error
	if s.cfg.DigestTime != "" {
		local := s.now().In(s.loc)
		if local.Format("15:04") >= s.cfg.DigestTime {
			_, err4 = s.SendDigest(ctx, local)
		}
	}
	return errors.Join(err1, err2, err3, err4)
}

// taskKeyboard is the Telegram inline keyboard of a task notice: done and
// snooze, then open, labelled by staff_task_buttons.
func (s *Service) taskKeyboard(ctx context.Context, t *store.Task) (*store.Extras, error) {
	l, err := render.Labels(ctx, s.o.Templates, "staff_task_buttons", s.cfg.StaffLocale, render.Data{Task: render.TaskOf(t, "")}, 3)
	if err != nil {
		return nil, err
	}
	sid := strconv.FormatInt(t.ID, 10)
	return &store.Extras{Keyboard: [][]store.Button{
		{{Text: l[0], Data: "task:" + sid + ":done"}, {Text: l[1], Data: "task:" + sid + ":snooze"}},
		{{Text: l[2], Data: "task:" + sid + ":open"}},
	}}, nil
}

// NotifyNew sends each open task's assignee the new-task notice with the
// customer's card, once per assignment (a reassigned task is new to its new
// assignee). It returns how many went out.
func (s *Service) NotifyNew(ctx context.Context) (int, error) {
	ts, err := s.store.TasksNeedingNotice(ctx, batch)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, t := range ts {
		ok, err := s.notifyTask(ctx, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("task %d: %w", t.ID, err))
		} else if ok {
			n++
		}
	}
	return n, errors.Join(errs...)
}

func (s *Service) notifyTask(ctx context.Context, t *store.Task) (bool, error) {
	if t.AssigneeID == nil {
		return false, nil
	}
	if store.IsComplaintKind(t.Kind) && t.DueAt == nil {
		// Recovery tasks opened by care carry no due time; the complaint
		// policy gives them one. Deterministic, so replicas agree.
		due := t.CreatedAt.Add(s.cfg.ComplaintDue)
		up, err := s.store.UpdateTask(ctx, t.ID, store.TaskUpdate{DueAt: &due}, store.SystemActor())
		if err != nil {
			return false, err
		}
		t = up
	}
	// One key per assignment, not per assignee: a task that comes back to
	// an earlier assignee is news to them again.
	o, err := s.assigneeNotice(ctx, t, KeyTaskAssigned, fmt.Sprintf("task:%d:assigned:%d:%d", t.ID, *t.AssigneeID, t.AssignSeq), true)
	if err != nil || o == nil {
		return false, err
	}
	return s.store.MarkTaskNotified(ctx, t, []store.Outbound{*o})
}

// assigneeNotice is the text of key about t for its assignee, with the
// task's buttons on Telegram, or nil when the assignee has no chat. With
// card the text shows the customer's card.
func (s *Service) assigneeNotice(ctx context.Context, t *store.Task, key, idempotencyKey string, card bool) (*store.Outbound, error) {
	if t.AssigneeID == nil {
		return nil, nil
	}
	chat, err := s.store.StaffChat(ctx, *t.AssigneeID)
	if err != nil || chat == nil {
		return nil, err
	}
	st, err := s.store.StaffByID(ctx, *t.AssigneeID)
	if err != nil {
		return nil, err
	}
	d := render.Data{Task: render.TaskOf(t, ""), Staff: &render.Staff{Name: st.Name}}
	if card {
		cc, err := s.store.CustomerCard(ctx, t.CustomerID, 3)
		if err != nil {
			return nil, err
		}
		d.Customer, d.Task.CustomerSummary = subject(cc.Customer), s.summary(cc)
	} else {
		c, err := s.store.CustomerByID(ctx, t.CustomerID)
		if err != nil {
			return nil, err
		}
		d.Customer = subject(c)
	}
	r, err := s.render(ctx, key, d)
	if err != nil {
		return nil, err
	}
	o := s.toStaff(st.ID, chat, r, idempotencyKey)
	if chat.Channel == store.ChannelTelegram {
		if o.Extras, err = s.taskKeyboard(ctx, t); err != nil {
			return nil, err
		}
	}
	return &o, nil
}

func (s *Service) toStaff(staffID int64, chat *store.StaffIdentity, r render.Rendered, key string) store.Outbound {
	id := staffID
	return store.Outbound{
		StaffID: &id, Channel: chat.Channel, ChatID: chat.ChatID, Text: r.Text,
		IdempotencyKey: key, TemplateKey: r.Key, TemplateVersion: r.Version,
	}
}

// RemindOverdue reminds the assignee of each task past its due time, once
// per task and due time.
func (s *Service) RemindOverdue(ctx context.Context) (int, error) {
	ts, err := s.store.TasksOverdue(ctx, s.now(), batch)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, t := range ts {
		o, err := s.assigneeNotice(ctx, t, KeyTaskOverdue, fmt.Sprintf("task:%d:overdue:%d", t.ID, t.DueAt.Unix()), false)
		if err != nil {
			errs = append(errs, fmt.Errorf("task %d: %w", t.ID, err))
			continue
		}
		var out []store.Outbound
		if o != nil {
			out = append(out, *o)
		}
		// Claimed even with nobody to tell, so it is not looked at again.
		ok, err := s.store.MarkTaskOverdue(ctx, t, out)
		if err != nil {
			errs = append(errs, err)
		} else if ok && len(out) > 0 {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// managers are the staff who get escalations and digests: active managers
// with a chat binding, or, when there are none, admins.
func (s *Service) managers(ctx context.Context) ([]store.StaffContact, error) {
	ms, err := s.store.StaffContacts(ctx, store.RoleManager)
	if err != nil || len(ms) > 0 {
		return ms, err
	}
	return s.store.StaffContacts(ctx, store.RoleAdmin)
}

// Escalate tells the managers about each task still open EscalateAfter
// past its due time, once per task and due time.
func (s *Service) Escalate(ctx context.Context) (int, error) {
	ts, err := s.store.TasksToEscalate(ctx, s.now().Add(-s.cfg.EscalateAfter), batch)
	if err != nil || len(ts) == 0 {
		return 0, err
	}
	ms, err := s.managers(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, t := range ts {
		c, err := s.store.CustomerByID(ctx, t.CustomerID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		assignee := "—"
		if t.AssigneeID != nil {
			if st, err := s.store.StaffByID(ctx, *t.AssigneeID); err == nil {
				assignee = st.Name
			}
		}
		r, err := s.render(ctx, KeyTaskEscalated, render.Data{Task: render.TaskOf(t, ""), Customer: subject(c), Staff: &render.Staff{Name: assignee}})
		var kb *store.Extras
		if err == nil {
			kb, err = s.taskKeyboard(ctx, t)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("task %d: %w", t.ID, err))
			continue
		}
		var out []store.Outbound
		for _, m := range ms {
			o := s.toStaff(m.Staff.ID, m.Chat, r, fmt.Sprintf("task:%d:escalated:%d:%d", t.ID, t.DueAt.Unix(), m.Staff.ID))
			if m.Chat.Channel == store.ChannelTelegram {
				o.Extras = kb
			}
			out = append(out, o)
		}
		ok, err := s.store.MarkTaskEscalated(ctx, t, out)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			n += len(out)
		}
	}
	return n, errors.Join(errs...)
}

// SendDigest sends the managers the digest of the business day containing
// day (open, overdue, done that day, per assignee), once per manager and
// day. It returns how many digests were queued.
func (s *Service) SendDigest(ctx context.Context, day time.Time) (int, error) {
	local := day.In(s.loc)
	date := local.Format("2006-01-02")
	ms, err := s.managers(ctx)
	if err != nil || len(ms) == 0 {
		return 0, err
	}
	keys := make([]string, len(ms))
	for i, m := range ms {
		keys[i] = fmt.Sprintf("digest:%s:%d", date, m.Staff.ID)
	}
	sent, err := s.store.SentKeys(ctx, keys)
	if err != nil {
		return 0, err
	}
	if len(sent) == len(keys) {
		return 0, nil
	}
	from := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, s.loc)
	loads, err := s.store.TaskDigest(ctx, s.now(), from, from.AddDate(0, 0, 1))
	if err != nil {
		return 0, err
	}
	digest := s.digestLines(loads)
	if s.o.Figures != nil {
		// Yesterday's figures head the digest; without them it still goes.
		if f, err := s.o.Figures(ctx, from.AddDate(0, 0, -1)); err != nil {
			s.log.Warn("followup: digest figures", "err", err)
		} else if f != nil {
			digest = s.figureLines(from.AddDate(0, 0, -1).Format("01-02"), f) + "\n" + digest
		}
	}
	r, err := s.render(ctx, KeyTaskDigest, render.Data{Extra: map[string]string{"date": date, "digest": digest}})
	if err != nil {
		return 0, err
	}
	var out []store.Outbound
	for i, m := range ms {
		if !sent[keys[i]] {
			out = append(out, s.toStaff(m.Staff.ID, m.Chat, r, keys[i]))
		}
	}
	return s.store.Enqueue(ctx, out)
}

// figureLines are the key figures of the day before, in the staff's
// language.
func (s *Service) figureLines(day string, f *DayFigures) string {
	csat := s.staffText("无评价", "no answers")
	if f.Responses > 0 {
		csat = fmt.Sprintf(s.staffText("%d.%02d%%（%d 条）", "%d.%02d%% (%d)"), f.CSAT/100, f.CSAT%100, f.Responses)
	}
	out := fmt.Sprintf(s.staffText("%s：新客户 %d，消息 收 %d / 发 %d，营收 ¥%s，满意度 %s，未结投诉 %d",
		"%s: new customers %d, messages in %d / out %d, revenue ¥%s, CSAT %s, complaints open %d"),
		day, f.NewCustomers, f.MessagesIn, f.MessagesOut, f.Revenue.String(), csat, f.ComplaintsOpen)
	if f.CampaignSent > 0 || f.CampaignReplies > 0 || !f.CampaignRevenue.IsZero() {
		out += fmt.Sprintf(s.staffText("\n营销活动：发送 %d，回复 %d，带来营收 ¥%s", "\ncampaigns: sent %d, replies %d, revenue ¥%s"),
			f.CampaignSent, f.CampaignReplies, f.CampaignRevenue.String())
	}
	if f.PointsIssued > 0 || f.PointsRedeemed > 0 || f.VouchersUsed > 0 {
		out += fmt.Sprintf(s.staffText("\n积分：发放 %d，兑换 %d，用券 %d", "\npoints: issued %d, redeemed %d, vouchers used %d"),
			f.PointsIssued, f.PointsRedeemed, f.VouchersUsed)
	}
	return out
}

func (s *Service) digestLines(loads []store.AgentLoad) string {
	line := s.staffText("• %s：待办 %d，逾期 %d，今日完成 %d", "• %s: open %d, overdue %d, done today %d")
	var open, overdue, done int64
	var lines []string
	for _, a := range loads {
		open, overdue, done = open+a.Open, overdue+a.Overdue, done+a.DoneToday
		name := a.Name
		if a.StaffID == 0 {
			name = s.staffText("（未分配）", "(unassigned)")
		}
		lines = append(lines, fmt.Sprintf(line, name, a.Open, a.Overdue, a.DoneToday))
	}
	head := fmt.Sprintf(s.staffText("待办 %d，逾期 %d，今日完成 %d", "Open %d, overdue %d, done today %d"), open, overdue, done)
	return head + "\n" + strings.Join(lines, "\n")
}
