package followup_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/followup"
	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
)

// start is a Monday 10:00 in Shanghai.
var start = time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC)

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

type env struct {
	t     *testing.T
	ctx   context.Context
	s     *store.Store
	clock *storetest.Clock
	svc   *followup.Service
	cfg   store.Config
	seq   int
	// sent collects delivered rows by the fake dispatcher.
	sent []*store.Message
}

func eachEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			clock := storetest.NewClock(start)
			cfg := storetest.Config(t, d)
			s := storetest.OpenConfig(t, cfg, store.WithClock(clock.Now))
			e := &env{t: t, ctx: context.Background(), s: s, clock: clock, cfg: cfg}
			e.svc = e.newService(s)
			fn(t, e)
		})
	}
}

func (e *env) newService(s *store.Store) *followup.Service {
	e.t.Helper()
	c := followup.DefaultConfig()
	c.StaffLocale = "en"
	svc, err := followup.New(c, followup.Options{Store: s, Templates: texts(s), Location: shanghai})
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// texts is the shipped templates service, in the business zone.
func texts(s *store.Store) *templates.Service {
	return templates.New(s, templates.Config{Location: shanghai})
}

// staff creates a staff member bound to a Telegram account "tg-NAME".
func (e *env) staff(name string, role store.Role) *store.Staff {
	e.t.Helper()
	st, err := e.s.CreateStaff(e.ctx, store.StaffInput{Name: name, Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	code, _, err := e.s.CreateBindingCode(e.ctx, st.ID, store.SystemActor())
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.RedeemBindingCode(e.ctx, store.BindRequest{Channel: "telegram", ExternalID: "tg-" + name, Code: code}); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// customer creates a customer with a Telegram identity "c-NAME".
func (e *env) customer(name string) *store.Identity {
	e.t.Helper()
	id, err := e.s.ResolveIdentity(e.ctx, store.Contact{Channel: "telegram", ExternalID: "c-" + name, DisplayName: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// say stores a customer message and runs the hook on it.
func (e *env) say(id *store.Identity, text string) (handled bool) {
	e.t.Helper()
	e.seq++
	m, _, err := e.s.RecordInbound(e.ctx, id, store.Inbound{Channel: id.Channel, DedupKey: fmt.Sprint("in-", e.seq), ChatID: id.ExternalID, Text: text})
	if err != nil {
		e.t.Fatal(err)
	}
	ev := &store.ChatEvent{Message: m, Identity: id, SenderID: id.ExternalID}
	ev.Command, ev.Args = parse(text)
	h, err := e.svc.HandleChat(e.ctx, ev)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// staffSays stores a staff message (st nil: an unbound account) and runs
// the hook on it.
func (e *env) staffSays(st *store.Staff, account, text, replyTo, callback string) {
	e.t.Helper()
	e.seq++
	var sid *int64
	if st != nil {
		sid = &st.ID
	}
	m, _, err := e.s.RecordStaffInbound(e.ctx, sid, store.Inbound{Channel: "telegram", DedupKey: fmt.Sprint("in-", e.seq), ChatID: account, Text: text})
	if err != nil {
		e.t.Fatal(err)
	}
	ev := &store.ChatEvent{Message: m, Staff: st, SenderID: account, ReplyToProviderMsgID: replyTo, CallbackData: callback}
	ev.Command, ev.Args = parse(text)
	handled, err := e.svc.HandleChat(e.ctx, ev)
	if err != nil {
		e.t.Fatal(err)
	}
	if !handled {
		e.t.Errorf("staff message %q not handled", text)
	}
}

// parse is the router's command split, simplified.
func parse(text string) (string, string) {
	if !strings.HasPrefix(text, "/") {
		return "", ""
	}
	w, rest, _ := strings.Cut(text[1:], " ")
	return w, strings.TrimSpace(rest)
}

// deliver plays the dispatcher: claims every due row and marks it sent
// with provider id "p<ID>". It returns the rows delivered now.
func (e *env) deliver() []*store.Message {
	e.t.Helper()
	var out []*store.Message
	for _, ch := range []string{"telegram", "wechat"} {
		ms, err := e.s.ClaimOutbox(e.ctx, ch, 500, time.Minute)
		if err != nil {
			e.t.Fatal(err)
		}
		var ds []store.Delivery
		for _, m := range ms {
			m.ProviderMsgID = fmt.Sprint("p", m.ID)
			ds = append(ds, store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusSent, ProviderMsgID: m.ProviderMsgID, Attempted: true})
		}
		if err := e.s.CompleteOutbox(e.ctx, ds); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, ms...)
	}
	e.sent = append(e.sent, out...)
	return out
}

func to(ms []*store.Message, chatID string) []*store.Message {
	var out []*store.Message
	for _, m := range ms {
		if m.ChatID == chatID {
			out = append(out, m)
		}
	}
	return out
}

func key(m *store.Message) string {
	if m.IdempotencyKey == nil {
		return ""
	}
	return *m.IdempotencyKey
}

func TestNoticeOnceAcrossReplicas(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		agent := e.staff("ann", store.RoleAgent)
		id := e.customer("Wang")
		e.say(id, "hello")
		e.say(id, "my order?")
		e.say(id, "thanks")
		e.say(id, "bye")
		tk, _, err := e.s.CreateTask(e.ctx, store.TaskInput{CustomerID: id.CustomerID, Kind: "revisit", Title: "Call Wang", DedupKey: "r:1"})
		if err != nil {
			t.Fatal(err)
		}
		// A second replica: its own store handle on the same database.
		s2 := storetest.OpenConfig(t, e.cfg, store.WithClock(e.clock.Now))
		svc2 := e.newService(s2)
		if total := e.notifyAcrossReplicas(svc2); total != 1 {
			t.Errorf("notices claimed %d times, want 1", total)
		}
		got := to(e.deliver(), "tg-ann")
		if len(got) != 1 {
			t.Fatalf("agent got %d messages, want 1", len(got))
		}
		m := got[0]
		if want := fmt.Sprintf("task:%d:assigned:%d:1", tk.ID, agent.ID); key(m) != want || m.StaffID == nil || *m.StaffID != agent.ID {
			t.Errorf("notice key %q staff %v", key(m), m.StaffID)
		}
		for _, want := range []string{"Call Wang", "Wang", "tier C", "my order?", "thanks", "bye"} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("notice lacks %q:\n%s", want, m.Text)
			}
		}
		if strings.Contains(m.Text, "hello") {
			t.Errorf("notice shows more than the last three messages:\n%s", m.Text)
		}
		if !strings.Contains(m.Payload, fmt.Sprintf(`"data":"task:%d:done"`, tk.ID)) || !strings.Contains(m.Payload, "Done") {
			t.Errorf("payload %s", m.Payload)
		}
		// Nothing more on later passes.
		if n, _ := svc2.NotifyNew(e.ctx); n != 0 {
			t.Errorf("second pass sent %d", n)
		}
		// Reassigning notifies the new assignee.
		bob := e.staff("bob", store.RoleAgent)
		if _, err := e.s.UpdateTask(e.ctx, tk.ID, store.TaskUpdate{AssigneeID: &bob.ID}, store.SystemActor()); err != nil {
			t.Fatal(err)
		}
		if n, err := e.svc.NotifyNew(e.ctx); n != 1 || err != nil {
			t.Errorf("reassigned: %d %v", n, err)
		}
	})
}

func TestOverdueEscalationDigest(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ann := e.staff("ann", store.RoleAgent)
		e.staff("boss", store.RoleManager)
		id := e.customer("Li")
		due := start.Add(time.Hour)
		tk, _, err := e.s.CreateTask(e.ctx, store.TaskInput{CustomerID: id.CustomerID, Kind: "manual", Title: "Ring Li", DueAt: &due})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Tick(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.deliver() // the new-task notice
		// Not yet due: nothing.
		e.clock.Set(due.Add(-time.Minute))
		if err := e.svc.Tick(e.ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.deliver(); len(got) != 0 {
			t.Errorf("before due: %d messages", len(got))
		}
		// Overdue: one reminder to the assignee, however many passes.
		e.clock.Set(due.Add(time.Minute))
		for i := 0; i < 3; i++ {
			if err := e.svc.Tick(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
		got := e.deliver()
		if len(got) != 1 || got[0].ChatID != "tg-ann" || !strings.HasPrefix(key(got[0]), fmt.Sprintf("task:%d:overdue:", tk.ID)) || got[0].TemplateKey != "task_overdue" {
			t.Fatalf("overdue: %+v", got)
		}
		// Escalation after the grace, to the manager only.
		e.clock.Set(due.Add(24*time.Hour - time.Minute))
		e.svc.Tick(e.ctx)
		if got := e.deliver(); len(got) != 0 {
			t.Errorf("before grace: %d messages", len(got))
		}
		e.clock.Set(due.Add(24*time.Hour + time.Minute))
		e.svc.Tick(e.ctx)
		e.svc.Tick(e.ctx)
		got = e.deliver()
		if len(got) != 1 || got[0].ChatID != "tg-boss" || got[0].TemplateKey != "task_escalated" || !strings.Contains(got[0].Text, "ann") {
			t.Fatalf("escalated: %+v", got)
		}
		// Snoozing moves the due time; the next overdue gets its own reminder.
		e.staffSays(ann, "tg-ann", "", "", fmt.Sprintf("task:%d:snooze", tk.ID))
		e.deliver()
		e.clock.Advance(25 * time.Hour)
		e.svc.Tick(e.ctx)
		if got := to(e.deliver(), "tg-ann"); len(got) != 1 || got[0].TemplateKey != "task_overdue" {
			t.Errorf("after snooze: %+v", got)
		}
		// Digest at 18:00 Shanghai, once per manager and day.
		if _, err := e.s.UpdateTask(e.ctx, tk.ID, store.TaskUpdate{Status: ptr("done")}, store.SystemActor()); err != nil {
			t.Fatal(err)
		}
		other, _, _ := e.s.CreateTask(e.ctx, store.TaskInput{CustomerID: id.CustomerID, Kind: "manual", Title: "Other", DueAt: &due})
		_ = other
		day := time.Date(2027, 3, 3, 17, 59, 0, 0, shanghai)
		e.clock.Set(day)
		e.svc.Tick(e.ctx)
		for _, m := range e.deliver() {
			if m.TemplateKey == "task_digest" {
				t.Errorf("digest before 18:00")
			}
		}
		e.clock.Set(day.Add(2 * time.Minute))
		e.svc.Tick(e.ctx)
		e.svc.Tick(e.ctx)
		var digests []*store.Message
		for _, m := range e.deliver() {
			if m.TemplateKey == "task_digest" {
				digests = append(digests, m)
			}
		}
		if len(digests) != 1 || digests[0].ChatID != "tg-boss" || key(digests[0]) != fmt.Sprintf("digest:2027-03-03:%d", *digests[0].StaffID) {
			t.Fatalf("digests: %+v", digests)
		}
		for _, want := range []string{"2027-03-03", "ann: open 1, overdue 1, done today 1", "Open 1, overdue 1, done today 1"} {
			if !strings.Contains(digests[0].Text, want) {
				t.Errorf("digest lacks %q:\n%s", want, digests[0].Text)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestComplaintRelay(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ann := e.staff("ann", store.RoleAgent)
		bob := e.staff("bob", store.RoleAgent)
		id := e.customer("Zhou")
		other := e.customer("Qian")
		// An ordinary message opens nothing and is not consumed.
		if e.say(id, "hi there") {
			t.Error("customer message consumed")
		}
		// A complaint opens a high-priority task due in 2h, noticed at once.
		e.say(id, "I want a REFUND now")
		tasks, _, _ := e.s.ListTasks(e.ctx, store.TaskFilter{CustomerID: &id.CustomerID}, store.Page{})
		if len(tasks) != 1 || tasks[0].Kind != "complaint" || tasks[0].Priority != "high" || !tasks[0].DueAt.Equal(start.Add(2*time.Hour)) || *tasks[0].AssigneeID != ann.ID {
			t.Fatalf("complaint task: %+v", tasks)
		}
		tk := tasks[0]
		delivered := e.deliver()
		got := to(delivered, "tg-ann")
		if len(got) != 1 || got[0].TemplateKey != "task_assigned" || !strings.Contains(got[0].Text, "REFUND") {
			t.Fatalf("notice: %+v", got)
		}
		// The customer hears at once that a person will follow up.
		if ack := to(delivered, "c-Zhou"); len(ack) != 1 || ack[0].TemplateKey != followup.KeyComplaintReceived || ack[0].CustomerID == nil {
			t.Errorf("complaint acknowledgement: %+v", ack)
		}
		// Another complaint while one is open: no second task; relayed.
		e.say(id, "still waiting, 投诉!")
		got = to(e.deliver(), "tg-ann")
		if len(got) != 1 || got[0].TemplateKey != "relay_to_staff" || !strings.Contains(got[0].Text, "still waiting") {
			t.Fatalf("relay: %+v", got)
		}
		forwarded := got[0]
		if n, _, _ := e.s.ListTasks(e.ctx, store.TaskFilter{CustomerID: &id.CustomerID}, store.Page{}); len(n) != 1 {
			t.Errorf("tasks: %d", len(n))
		}
		// Another customer's chatter is not relayed.
		e.say(other, "hello")
		if got := e.deliver(); len(got) != 0 {
			t.Errorf("unrelated relay: %+v", got)
		}
		// The assignee replies to the forwarded message: the customer gets it.
		e.staffSays(ann, "tg-ann", "We are on it, refund today", forwarded.ProviderMsgID, "")
		got = e.deliver()
		toCustomer := to(got, "c-Zhou")
		if len(toCustomer) != 1 || toCustomer[0].Text != "We are on it, refund today" || toCustomer[0].CustomerID == nil || *toCustomer[0].CustomerID != id.CustomerID {
			t.Fatalf("to customer: %+v", toCustomer)
		}
		if ack := to(got, "tg-ann"); len(ack) != 1 || !strings.Contains(ack[0].Text, "Zhou") {
			t.Errorf("ack: %+v", ack)
		}
		// It is in the customer's conversation.
		conv, _, _ := e.s.ListMessages(e.ctx, id.CustomerID, store.Page{})
		if last := conv[len(conv)-1]; last.Direction != "out" || last.Text != "We are on it, refund today" {
			t.Errorf("conversation ends with %+v", last)
		}
		// Bob may not answer or close Ann's complaint.
		e.staffSays(bob, "tg-bob", fmt.Sprintf("/reply %d sneaky", tk.ID), "", "")
		e.staffSays(bob, "tg-bob", fmt.Sprintf("/done %d", tk.ID), "", "")
		got = e.deliver()
		if len(to(got, "c-Zhou")) != 0 || len(to(got, "tg-bob")) != 2 || !strings.Contains(to(got, "tg-bob")[0].Text, "not assigned to you") {
			t.Errorf("bob: %+v", got)
		}
		// Done with the button, with the outcome via /done note first.
		e.staffSays(ann, "tg-ann", fmt.Sprintf("/done %d refunded 20 yuan", tk.ID), "", "")
		final, err := e.s.TaskByID(e.ctx, tk.ID)
		if err != nil || final.Status != "done" || final.Outcome != "refunded 20 yuan" {
			t.Fatalf("final: %+v %v", final, err)
		}
		var actions []string
		for _, ev := range final.Events {
			actions = append(actions, ev.Action)
		}
		if want := "created assigned notified relayed_in relayed_out status"; strings.Join(actions, " ") != want {
			t.Errorf("history %v, want %s", actions, want)
		}
		if got := to(e.deliver(), "tg-ann"); len(got) != 1 || !strings.Contains(got[0].Text, "done") {
			t.Errorf("done reply: %+v", got)
		}
		// Closed: no more relays.
		e.say(id, "thanks!")
		if got := to(e.deliver(), "tg-ann"); len(got) != 0 {
			t.Errorf("relay after close: %+v", got)
		}
	})
}

func TestStaffCommands(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		mgr := e.staff("boss", store.RoleManager)
		id := e.customer("Sun")
		// A customer trying staff commands is refused politely.
		if !e.say(id, "/tasks") {
			t.Error("customer /tasks not handled")
		}
		got := e.deliver()
		if len(got) != 1 || got[0].ChatID != "c-Sun" || got[0].TemplateKey != "staff_refused" {
			t.Fatalf("refusal: %+v", got)
		}
		// Binding from an unbound account: a wrong code, then a right one.
		st, _ := e.s.CreateStaff(e.ctx, store.StaffInput{Name: "carl", Role: store.RoleAgent})
		e.staffSays(nil, "tg-carl", "/bind NOPE1234", "", "")
		code, _, _ := e.s.CreateBindingCode(e.ctx, st.ID, store.SystemActor())
		e.staffSays(nil, "tg-carl", "/bind "+strings.ToLower(code), "", "")
		got = to(e.deliver(), "tg-carl")
		if len(got) != 2 || !strings.Contains(got[0].Text, "unknown") || !strings.Contains(got[1].Text, "carl") {
			t.Fatalf("bind replies: %+v", got)
		}
		bound, err := e.s.StaffByIdentity(e.ctx, "telegram", "tg-carl")
		if err != nil || bound == nil || bound.ID != st.ID {
			t.Fatalf("bound: %+v %v", bound, err)
		}
		// /tasks lists own open tasks; a manager may close anyone's.
		tk, _, _ := e.s.CreateTask(e.ctx, store.TaskInput{CustomerID: id.CustomerID, Kind: "manual", Title: "Visit Sun", AssigneeID: &st.ID})
		e.staffSays(bound, "tg-carl", "/tasks", "", "")
		if got := to(e.deliver(), "tg-carl"); len(got) != 1 || !strings.Contains(got[0].Text, "#"+strconv.FormatInt(tk.ID, 10)+" [normal] Visit Sun") {
			t.Errorf("/tasks: %+v", got)
		}
		e.staffSays(mgr, "tg-boss", "", "", fmt.Sprintf("task:%d:done", tk.ID))
		if done, _ := e.s.TaskByID(e.ctx, tk.ID); done.Status != "done" || *done.ClosedBy != mgr.ID {
			t.Errorf("manager done: %+v", done)
		}
		// Bad input answers with usage, never fails.
		e.staffSays(bound, "tg-carl", "/done abc", "", "")
		e.staffSays(bound, "tg-carl", "/done 99999", "", "")
		e.staffSays(bound, "tg-carl", "just chatting", "", "")
		got = to(e.deliver(), "tg-carl")
		if len(got) != 3 || !strings.Contains(got[0].Text, "usage") || !strings.Contains(got[1].Text, "not found") || !strings.Contains(got[2].Text, "/tasks") {
			t.Errorf("bad input replies: %+v", got)
		}
	})
}

func TestWeChatStaffAndSurveyRecovery(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		st, err := e.s.CreateStaff(e.ctx, store.StaffInput{Name: "wen", Role: store.RoleAgent})
		if err != nil {
			t.Fatal(err)
		}
		code, _, _ := e.s.CreateBindingCode(e.ctx, st.ID, store.SystemActor())
		if _, err := e.s.RedeemBindingCode(e.ctx, store.BindRequest{Channel: "wechat", ExternalID: "o-wen", Code: code}); err != nil {
			t.Fatal(err)
		}
		id := e.customer("Hu")
		score := 1
		if _, err := e.s.CreateSurveys(e.ctx, []store.Survey{{CustomerID: id.CustomerID, Key: "sv:1", Channel: "telegram", ChatID: "c-Hu", ExpiresAt: start.Add(72 * time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		sv, _ := e.s.OpenSurvey(e.ctx, id.CustomerID)
		if _, err := e.s.AnswerSurvey(e.ctx, sv.ID, score, "slow"); err != nil {
			t.Fatal(err)
		}
		// What care does on a low score: a recovery task with no due time.
		tk, _, err := e.s.CreateTask(e.ctx, store.TaskInput{CustomerID: id.CustomerID, Kind: "survey_recovery", Priority: "high", Title: "Low survey score 1 from Hu", Source: "care:survey", DedupKey: "survey:1"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Tick(e.ctx); err != nil {
			t.Fatal(err)
		}
		got := to(e.deliver(), "o-wen")
		if len(got) != 1 || got[0].Channel != "wechat" || got[0].Payload != "" || !strings.Contains(got[0].Text, "Last survey: 1/5") {
			t.Fatalf("wechat notice: %+v", got)
		}
		if tk, _ = e.s.TaskByID(e.ctx, tk.ID); tk.DueAt == nil || !tk.DueAt.Equal(start.Add(2*time.Hour)) {
			t.Errorf("recovery due: %v", tk.DueAt)
		}
		// The customer writes again: forwarded to WeChat; answered with 回复.
		e.say(id, "nobody called me")
		if got := to(e.deliver(), "o-wen"); len(got) != 1 || !strings.Contains(got[0].Text, "nobody called me") {
			t.Fatalf("relay: %+v", got)
		}
		wechatSays := func(text string) {
			e.seq++
			m, _, err := e.s.RecordStaffInbound(e.ctx, &st.ID, store.Inbound{Channel: "wechat", DedupKey: fmt.Sprint("in-", e.seq), ChatID: "o-wen", Text: text})
			if err != nil {
				t.Fatal(err)
			}
			cmd, args, _ := strings.Cut(text, " ")
			ev := &store.ChatEvent{Message: m, Staff: st, SenderID: "o-wen", Command: cmd, Args: args}
			if h, err := e.svc.HandleChat(e.ctx, ev); err != nil || !h {
				t.Fatalf("%q: %v %v", text, h, err)
			}
		}
		wechatSays(fmt.Sprintf("回复 %d 抱歉，马上安排", tk.ID))
		got = e.deliver()
		if c := to(got, "c-Hu"); len(c) != 1 || c[0].Text != "抱歉，马上安排" || c[0].Channel != "telegram" {
			t.Fatalf("to customer: %+v", got)
		}
		wechatSays("任务")
		if got := to(e.deliver(), "o-wen"); len(got) != 1 || !strings.Contains(got[0].Text, fmt.Sprintf("#%d [high]", tk.ID)) {
			t.Errorf("任务: %+v", got)
		}
		wechatSays(fmt.Sprintf("完成 %d 已回电", tk.ID))
		if done, _ := e.s.TaskByID(e.ctx, tk.ID); done.Status != "done" || done.Outcome != "已回电" {
			t.Errorf("完成: %+v", done)
		}
	})
}

// notices counts the new-task notices among ms by recipient chat.
func notices(ms []*store.Message) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		if m.TemplateKey == followup.KeyTaskAssigned {
			out[m.ChatID]++
		}
	}
	return out
}

// notifyAcrossReplicas runs NotifyNew four times at once on two replicas
// and returns how many notices they claimed in all.
func (e *env) notifyAcrossReplicas(svc2 *followup.Service) int {
	e.t.Helper()
	var wg sync.WaitGroup
	counts := make([]int, 4)
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := e.svc
			if i%2 == 1 {
				svc = svc2
			}
			n, err := svc.NotifyNew(e.ctx)
			if err != nil {
				e.t.Error(err)
			}
			counts[i] = n
		}()
	}
	wg.Wait()
	return counts[0] + counts[1] + counts[2] + counts[3]
}

func TestDeactivationReassigns(t *testing.T) {
	cases := []struct {
		name    string
		others  []string // other active staff, agents unless named boss (a manager)
		liOwner string   // owner of customer Li; Wang's owner is ann
		by      string   // who deactivates; "" = an admin token tied to no staff
		want    []string // new assignee of ann's three tasks; "" = nobody
	}{
		// Wang's owner is ann (inactive now): the least-loaded agent, ties
		// to the lowest id. Li's owner bob is active: bob.
		{"spread by the rule", []string{"bob", "cat"}, "bob", "", []string{"bob", "bob", "cat"}},
		{"no agent left, a manager is", []string{"boss"}, "", "boss", []string{"boss", "boss", "boss"}},
		{"nobody left", nil, "", "", []string{"", "", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachEnv(t, func(t *testing.T, e *env) {
				ann := e.staff("ann", store.RoleAgent)
				byName := map[string]*store.Staff{"ann": ann}
				for _, n := range tc.others {
					role := store.RoleAgent
					if n == "boss" {
						role = store.RoleManager
					}
					byName[n] = e.staff(n, role)
				}
				wang, li := e.customer("Wang"), e.customer("Li")
				if _, err := e.s.UpdateCustomer(e.ctx, wang.CustomerID, store.CustomerInput{OwnerStaffID: &ann.ID}); err != nil {
					t.Fatal(err)
				}
				if tc.liOwner != "" {
					if _, err := e.s.UpdateCustomer(e.ctx, li.CustomerID, store.CustomerInput{OwnerStaffID: &byName[tc.liOwner].ID}); err != nil {
						t.Fatal(err)
					}
				}
				var tasks []*store.Task
				for i, c := range []*store.Identity{wang, li, wang} {
					tk, _, err := e.s.CreateTask(e.ctx, store.TaskInput{CustomerID: c.CustomerID, Kind: "manual", Title: fmt.Sprint("task ", i), AssigneeID: &ann.ID})
					if err != nil || tk.AssigneeID == nil || *tk.AssigneeID != ann.ID {
						t.Fatalf("task %d: %+v %v", i, tk, err)
					}
					tasks = append(tasks, tk)
				}
				if n, err := e.svc.NotifyNew(e.ctx); n != 3 || err != nil {
					t.Fatalf("first notices: %d %v", n, err)
				}
				e.deliver()

				by := store.Actor{Role: store.RoleAdmin, Via: store.ViaAPI}
				if tc.by != "" {
					by = store.ActorOf(&store.Principal{Role: byName[tc.by].Role, StaffID: &byName[tc.by].ID})
				}
				if _, err := e.s.UpdateStaff(e.ctx, ann.ID, store.StaffUpdate{Active: ptr(false)}, by); err != nil {
					t.Fatal(err)
				}

				wantNotices := map[string]int{}
				for i, tk := range tasks {
					got, err := e.s.TaskByID(e.ctx, tk.ID)
					if err != nil {
						t.Fatal(err)
					}
					wantID := ""
					if n := tc.want[i]; n != "" {
						wantID = strconv.FormatInt(byName[n].ID, 10)
						wantNotices["tg-"+n]++
					}
					if gotID := idOf(got.AssigneeID); gotID != wantID {
						t.Errorf("task %d: assignee %q, want %q (%s)", i, gotID, wantID, tc.want[i])
					}
					last := got.Events[len(got.Events)-1]
					if last.Action != "reassigned" || last.From != strconv.FormatInt(ann.ID, 10) || last.To != wantID ||
						last.Note != "assignee deactivated" || last.Via != "api" || idOf(last.StaffID) != idOf(by.StaffID) {
						t.Errorf("task %d: last event %+v", i, last)
					}
				}
				// The customer keeps their (now inactive) owner.
				if c, _ := e.s.CustomerByID(e.ctx, wang.CustomerID); c.OwnerStaffID == nil || *c.OwnerStaffID != ann.ID {
					t.Errorf("wang's owner: %v", c.OwnerStaffID)
				}
				// Ann's chat account is no longer staff.
				if st, err := e.s.StaffByIdentity(e.ctx, "telegram", "tg-ann"); st != nil || err != nil {
					t.Errorf("ann still staff in chat: %+v %v", st, err)
				}

				// Each new assignee is told once, however often and wherever
				// the notifier runs.
				s2 := storetest.OpenConfig(t, e.cfg, store.WithClock(e.clock.Now))
				total := 0
				for _, n := range wantNotices {
					total += n
				}
				if n := e.notifyAcrossReplicas(e.newService(s2)); n != total {
					t.Errorf("notices claimed %d, want %d", n, total)
				}
				if got := notices(e.deliver()); fmt.Sprint(got) != fmt.Sprint(wantNotices) {
					t.Errorf("notices %v, want %v", got, wantNotices)
				}
				if n, err := e.svc.NotifyNew(e.ctx); n != 0 || err != nil {
					t.Errorf("second pass: %d %v", n, err)
				}
				if got := e.deliver(); len(got) != 0 {
					t.Errorf("second pass delivered %d", len(got))
				}
			})
		})
	}
}

func idOf(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}

func TestReassignNotifiesEachAssignment(t *testing.T) {
	cases := []struct {
		name string
		// steps are the assignees after the first (ann), "-" unassigns;
		// notify runs the notifier after each step.
		steps  []string
		notify bool
		want   []string // notices in order, after the first to ann
	}{
		{"A B A", []string{"bob", "ann"}, true, []string{"tg-bob", "tg-ann"}},
		{"A B A before the notifier runs", []string{"bob", "ann"}, false, []string{"tg-ann"}},
		{"A none A", []string{"-", "ann"}, true, []string{"tg-ann"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachEnv(t, func(t *testing.T, e *env) {
				byName := map[string]*store.Staff{"ann": e.staff("ann", store.RoleAgent), "bob": e.staff("bob", store.RoleAgent)}
				id := e.customer("Wang")
				tk, _, err := e.s.CreateTask(e.ctx, store.TaskInput{CustomerID: id.CustomerID, Kind: "manual", Title: "Call Wang", AssigneeID: &byName["ann"].ID})
				if err != nil {
					t.Fatal(err)
				}
				s2 := storetest.OpenConfig(t, e.cfg, store.WithClock(e.clock.Now))
				svc2 := e.newService(s2)
				if n := e.notifyAcrossReplicas(svc2); n != 1 {
					t.Fatalf("first notice claimed %d times", n)
				}
				e.deliver()
				mgr := store.Actor{Role: store.RoleManager, Via: store.ViaAPI}
				var got []*store.Message
				for _, step := range tc.steps {
					var to int64
					if step != "-" {
						to = byName[step].ID
					}
					if _, err := e.s.UpdateTask(e.ctx, tk.ID, store.TaskUpdate{AssigneeID: &to}, mgr); err != nil {
						t.Fatal(err)
					}
					if tc.notify {
						e.notifyAcrossReplicas(svc2)
						got = append(got, e.deliver()...)
					}
				}
				// Later passes, on either replica, send nothing more.
				for range 2 {
					e.notifyAcrossReplicas(svc2)
				}
				got = append(got, e.deliver()...)
				var chats []string
				keys := map[string]bool{}
				for _, m := range got {
					if m.TemplateKey != followup.KeyTaskAssigned || !strings.Contains(m.Text, "Call Wang") || !strings.Contains(m.Text, "tier C") {
						t.Errorf("not a task notice with the card: %+v", m)
					}
					chats = append(chats, m.ChatID)
					if keys[key(m)] {
						t.Errorf("key %q twice", key(m))
					}
					keys[key(m)] = true
				}
				if fmt.Sprint(chats) != fmt.Sprint(tc.want) {
					t.Errorf("notices to %v, want %v", chats, tc.want)
				}
			})
		})
	}
}

// staffView finds a staff member in the API's staff list.
func (e *env) staffView(id int64) *store.StaffView {
	e.t.Helper()
	vs, _, err := e.s.ListStaff(e.ctx, store.Page{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, v := range vs {
		if v.ID == id {
			return v
		}
	}
	e.t.Fatalf("staff %d not listed", id)
	return nil
}

// TestBindSendsOpenTasksOnce: tasks assigned before a staff member binds
// their chat reach them at /bind as one summary, most urgent first, and not
// again one notice each; tasks assigned afterwards get their own notice.
// Until then the API shows that chat does not reach them.
func TestBindSendsOpenTasksOnce(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		id := e.customer("Zhao")
		st, _ := e.s.CreateStaff(e.ctx, store.StaffInput{Name: "dora", Role: store.RoleAgent})
		task := func(title, priority string, due *time.Time) *store.Task {
			t.Helper()
			tk, _, err := e.s.CreateTask(e.ctx, store.TaskInput{CustomerID: id.CustomerID, Kind: "manual", Title: title, Priority: priority, DueAt: due, AssigneeID: &st.ID})
			if err != nil {
				t.Fatal(err)
			}
			return tk
		}
		yesterday, tomorrow := start.Add(-24*time.Hour), start.Add(24*time.Hour)
		someday := task("Someday", "high", nil)
		soon := task("Soon", "normal", &tomorrow)
		late := task("Late", "low", &yesterday)
		if n, err := e.svc.NotifyNew(e.ctx); n != 0 || err != nil {
			t.Fatalf("notices to an unbound assignee: %d %v", n, err)
		}
		if v := e.staffView(st.ID); v.ChatBound || v.OpenTasks != 3 {
			t.Errorf("before /bind: chat_bound %v open_tasks %d, want false and 3", v.ChatBound, v.OpenTasks)
		}
		if err := e.s.NoteChatBound(e.ctx, late); err != nil || late.AssigneeChatBound {
			t.Errorf("before /bind: assignee_chat_bound %v %v", late.AssigneeChatBound, err)
		}

		code, _, _ := e.s.CreateBindingCode(e.ctx, st.ID, store.SystemActor())
		e.staffSays(nil, "tg-dora", "/bind "+code, "", "")
		if n, err := e.svc.NotifyNew(e.ctx); n != 0 || err != nil {
			t.Errorf("notices after the summary: %d %v", n, err)
		}
		got := to(e.deliver(), "tg-dora")
		if len(got) != 2 || !strings.Contains(got[0].Text, "Bound to dora") {
			t.Fatalf("after /bind: %d messages %+v, want the confirmation and one summary", len(got), got)
		}
		want := fmt.Sprintf("Open tasks:\n#%d [low] Late · 2027-02-28 10:00 ⏰\n#%d [normal] Soon · 2027-03-02 10:00\n#%d [high] Someday",
			late.ID, soon.ID, someday.ID)
		if got[1].Text != want {
			t.Errorf("summary:\n%s\nwant\n%s", got[1].Text, want)
		}
		if v := e.staffView(st.ID); !v.ChatBound || v.OpenTasks != 3 {
			t.Errorf("after /bind: chat_bound %v open_tasks %d", v.ChatBound, v.OpenTasks)
		}
		if err := e.s.NoteChatBound(e.ctx, late); err != nil || !late.AssigneeChatBound {
			t.Errorf("after /bind: assignee_chat_bound %v %v", late.AssigneeChatBound, err)
		}

		// The next task is news of its own.
		next := task("Next", "normal", nil)
		if n, err := e.svc.NotifyNew(e.ctx); n != 1 || err != nil {
			t.Errorf("new task after /bind: %d notices %v", n, err)
		}
		if got := to(e.deliver(), "tg-dora"); len(got) != 1 || !strings.Contains(got[0].Text, fmt.Sprintf("New task #%d", next.ID)) {
			t.Errorf("new task after /bind: %+v", got)
		}
		// /tasks lists the same way, most urgent first.
		bound, _ := e.s.StaffByIdentity(e.ctx, "telegram", "tg-dora")
		e.staffSays(bound, "tg-dora", "/tasks", "", "")
		if got := to(e.deliver(), "tg-dora"); len(got) != 1 || !strings.HasPrefix(got[0].Text, fmt.Sprintf("Open tasks:\n#%d [low] Late", late.ID)) {
			t.Errorf("/tasks: %+v", got)
		}
	})
}

// TestBindSummaryCapped: a long backlog is one message of the most urgent
// tasks and a count of the rest, and none of them is announced again.
func TestBindSummaryCapped(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		id := e.customer("Qian")
		st, _ := e.s.CreateStaff(e.ctx, store.StaffInput{Name: "eve", Role: store.RoleAgent})
		for i := range 45 {
			if _, _, err := e.s.CreateTask(e.ctx, store.TaskInput{CustomerID: id.CustomerID, Kind: "manual", Title: fmt.Sprint("T", i), AssigneeID: &st.ID}); err != nil {
				t.Fatal(err)
			}
		}
		code, _, _ := e.s.CreateBindingCode(e.ctx, st.ID, store.SystemActor())
		e.staffSays(nil, "tg-eve", "/bind "+code, "", "")
		if n, err := e.svc.NotifyNew(e.ctx); n != 0 || err != nil {
			t.Errorf("notices after the summary: %d %v", n, err)
		}
		got := to(e.deliver(), "tg-eve")
		if len(got) != 2 || strings.Count(got[1].Text, "\n#") != 30 || !strings.HasSuffix(got[1].Text, "… and 15 more") {
			t.Fatalf("after /bind: %+v", got)
		}
	})
}

// TestBindOnlyWhereStaffWork: /bind with a valid code from web chat binds
// nothing: the router treats it as the visitor's message (a customer, the
// message in their conversation) and the answer is the polite refusal any
// staff command from a customer gets. The same code then works on Telegram.
func TestBindOnlyWhereStaffWork(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		st, _ := e.s.CreateStaff(e.ctx, store.StaffInput{Name: "fay", Role: store.RoleAgent})
		code, _, _ := e.s.CreateBindingCode(e.ctx, st.ID, store.SystemActor())
		r := bots.NewRouter(e.s, bots.RouterOptions{Hooks: []bots.Hook{e.svc}, Renderer: texts(e.s)})
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan struct{})
		go func() { defer close(done); r.Run(ctx) }()
		defer func() { cancel(); <-done }()
		// await waits until chat has n outbound rows and returns them.
		await := func(channel, chat string, n int) []*store.Message {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				var got []*store.Message
				ms, err := e.s.ClaimOutbox(e.ctx, channel, 100, time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range ms {
					if m.ChatID == chat {
						got = append(got, m)
					}
				}
				if len(got) >= n || time.Now().After(deadline) {
					return got
				}
			}
		}

		in := bots.Inbound{Channel: store.ChannelWebChat, SenderID: "visitor-1", DedupKey: "wc-1", Kind: "text", Text: "/bind " + code}
		if err := r.Receive(e.ctx, in); err != nil {
			t.Fatal(err)
		}
		got := await(store.ChannelWebChat, "visitor-1", 1)
		if len(got) != 1 || got[0].TemplateKey != followup.KeyStaffRefused || got[0].CustomerID == nil {
			t.Fatalf("web chat /bind answered %+v, want the customer's staff_refused reply", got)
		}
		if bound, err := e.s.StaffByIdentity(e.ctx, store.ChannelWebChat, "visitor-1"); bound != nil || err != nil {
			t.Errorf("web chat account bound to %+v (%v)", bound, err)
		}
		ms, _, err := e.s.ListMessages(e.ctx, *got[0].CustomerID, store.Page{Limit: 10})
		if err != nil || len(ms) == 0 || ms[0].Direction != "in" || ms[0].Text != "/bind "+code {
			t.Errorf("visitor's conversation: %+v %v", ms, err)
		}

		in = bots.Inbound{Channel: store.ChannelTelegram, SenderID: "tg-fay", DedupKey: "tg-1", Kind: "text", Text: "/bind " + code}
		if err := r.Receive(e.ctx, in); err != nil {
			t.Fatal(err)
		}
		if got := await(store.ChannelTelegram, "tg-fay", 1); len(got) != 1 || !strings.Contains(got[0].Text, "Bound to fay") {
			t.Errorf("telegram /bind with the same code: %+v", got)
		}
		// The store refuses a web chat binding whoever asks.
		code2, _, _ := e.s.CreateBindingCode(e.ctx, st.ID, store.SystemActor())
		if _, err := e.s.RedeemBindingCode(e.ctx, store.BindRequest{Channel: store.ChannelWebChat, ExternalID: "visitor-2", Code: code2}); !store.IsCode(err, store.EINVALID) {
			t.Errorf("store bind on web chat: %v", err)
		}
	})
}

// failing fails every render of key while on, and renders as next does
// otherwise.
type failing struct {
	next render.Renderer
	key  string
	on   atomic.Bool
}

func (f *failing) Render(ctx context.Context, key, locale string, d render.Data) (render.Rendered, error) {
	if key == f.key && f.on.Load() {
		return render.Rendered{}, fmt.Errorf("render %s: over budget", key)
	}
	return f.next.Render(ctx, key, locale, d)
}

// TestRenderErrorRetried: a notice or answer whose text fails to render is
// not sent with another text; the pass (or the chat hook) fails, and the
// next one sends the template's text, once.
func TestRenderErrorRetried(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		fail := &failing{next: texts(e.s), key: followup.KeyTaskAssigned}
		fail.on.Store(true)
		c := followup.DefaultConfig()
		c.StaffLocale = "en"
		svc, err := followup.New(c, followup.Options{Store: e.s, Templates: fail, Location: shanghai})
		if err != nil {
			t.Fatal(err)
		}
		ann := e.staff("ann", store.RoleAgent)
		id := e.customer("Wang")
		tk, _, err := e.s.CreateTask(e.ctx, store.TaskInput{CustomerID: id.CustomerID, Kind: "revisit", Title: "Call Wang", AssigneeID: &ann.ID, DedupKey: "r:1"})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := svc.NotifyNew(e.ctx); n != 0 || err == nil {
			t.Errorf("NotifyNew with a failing text = %d, %v; want 0 and the error", n, err)
		}
		if got := e.deliver(); len(got) != 0 {
			t.Fatalf("sent %+v while the text fails", got)
		}
		// A staff answer that fails is the hook's error (the router
		// processes the message again later).
		fail.key = "staff_help"
		m, _, err := e.s.RecordStaffInbound(e.ctx, &ann.ID, store.Inbound{Channel: "telegram", DedupKey: "in-help", ChatID: "tg-ann", Text: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		if h, err := svc.HandleChat(e.ctx, &store.ChatEvent{Message: m, Staff: ann, SenderID: "tg-ann"}); !h || err == nil {
			t.Errorf("staff answer with a failing text: handled %v, err %v; want the error", h, err)
		}

		fail.on.Store(false)
		if n, err := svc.NotifyNew(e.ctx); n != 1 || err != nil {
			t.Fatalf("NotifyNew = %d, %v", n, err)
		}
		got := e.deliver()
		if len(got) != 1 || got[0].TemplateKey != followup.KeyTaskAssigned || got[0].TemplateVersion != 1 || !strings.Contains(got[0].Text, fmt.Sprintf("New task #%d", tk.ID)) {
			t.Errorf("notice = %+v", got)
		}
	})
}

// TestCardShowsFigures: the card on a new-task notice shows spend and
// orders in the window, the last order, the RFM segment and the churn
// risk with its reasons.
func TestCardShowsFigures(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		e.staff("ann", store.RoleAgent)
		id := e.customer("Zhao")
		first, last := start.AddDate(0, -8, 0), start.AddDate(0, -4, 0)
		st := &store.CustomerStats{CustomerID: id.CustomerID, Orders: 3, Spend: store.Fen(1280050), LifetimeOrders: 5,
			LifetimeSpend: store.Fen(2000000), FirstOrderAt: &first, LastOrderAt: &last, R: 2, F: 4, M: 5,
			Segment: "important_keep", ChurnRisk: 55, TierComputed: store.TierA, StageComputed: store.StageAtRisk, FiguresAt: start}
		st.SetReasons([]string{"overdue 2.3× typical interval", "last survey score 2/5"})
		if _, err := e.s.WriteFigures(e.ctx, store.FigureWrite{Stats: []*store.CustomerStats{st}, At: start}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.s.CreateTask(e.ctx, store.TaskInput{CustomerID: id.CustomerID, Kind: "winback", Title: "Win back Zhao", DedupKey: "w:1"}); err != nil {
			t.Fatal(err)
		}
		if n, err := e.svc.NotifyNew(e.ctx); n != 1 || err != nil {
			t.Fatalf("notify: %d %v", n, err)
		}
		got := to(e.deliver(), "tg-ann")
		if len(got) != 1 {
			t.Fatalf("agent got %d messages", len(got))
		}
		for _, want := range []string{
			"Spend (12 months): ¥12800.50 · 3 orders/visits · lifetime ¥20000.00 · last 2026-11-01",
			"RFM 2-4-5 · Important to keep",
			"Churn risk 55/100 (overdue 2.3× typical interval; last survey score 2/5)",
		} {
			if !strings.Contains(got[0].Text, want) {
				t.Errorf("card lacks %q:\n%s", want, got[0].Text)
			}
		}
	})
}

// The digest opens with yesterday's key figures when they are wired in,
// and goes without them when they fail.
func TestDigestKeyFigures(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		e.staff("boss", store.RoleManager)
		var asked []string
		fail := false
		c := followup.DefaultConfig()
		c.StaffLocale = "en"
		svc, err := followup.New(c, followup.Options{Store: e.s, Templates: texts(e.s), Location: shanghai,
			Figures: func(_ context.Context, day time.Time) (*followup.DayFigures, error) {
				asked = append(asked, day.In(shanghai).Format(time.DateOnly))
				if fail {
					return nil, errors.New("no figures")
				}
				return &followup.DayFigures{NewCustomers: 3, MessagesIn: 5, MessagesOut: 7, Revenue: store.Fen(1234),
					CSAT: 6667, Responses: 3, ComplaintsOpen: 1, CampaignSent: 40, CampaignReplies: 6, CampaignRevenue: store.Fen(99900),
					PointsIssued: 1200, PointsRedeemed: 500}, nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		for i, day := range []time.Time{time.Date(2027, 3, 3, 18, 1, 0, 0, shanghai), time.Date(2027, 3, 4, 18, 1, 0, 0, shanghai)} {
			fail = i == 1
			e.clock.Set(day)
			if _, err := svc.SendDigest(e.ctx, day); err != nil {
				t.Fatal(err)
			}
			var digest *store.Message
			for _, m := range e.deliver() {
				if m.TemplateKey == "task_digest" {
					digest = m
				}
			}
			if digest == nil {
				t.Fatalf("%s: no digest", day)
			}
			line := "03-02: new customers 3, messages in 5 / out 7, revenue ¥12.34, CSAT 66.67% (3), complaints open 1"
			if has := strings.Contains(digest.Text, line); has == fail {
				t.Errorf("%s: figures shown %v, want %v:\n%s", day, has, !fail, digest.Text)
			}
			for _, more := range []string{"campaigns: sent 40, replies 6, revenue ¥999.00", "points: issued 1200, redeemed 500, vouchers used 0"} {
				if has := strings.Contains(digest.Text, more); has == fail {
					t.Errorf("%s: %q shown %v, want %v:\n%s", day, more, has, !fail, digest.Text)
				}
			}
			if !strings.Contains(digest.Text, "Open 0, overdue 0") {
				t.Errorf("task lines lost:\n%s", digest.Text)
			}
		}
		if diff := cmp.Diff([]string{"2027-03-02", "2027-03-03"}, asked); diff != "" {
			t.Errorf("days asked (-want +got):\n%s", diff)
		}
	})
}
