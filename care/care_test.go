package care

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

var shanghai = mustLoc("Asia/Shanghai")

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// env is one service on a fresh store with a settable clock.
type env struct {
	t     *testing.T
	ctx   context.Context
	s     *store.Store
	clock *storetest.Clock
	svc   *Service
	cfg   Config
	opts  Options
}

// each runs fn on SQLite and MySQL with a clock at start (Shanghai time).
func each(t *testing.T, start time.Time, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			clock := storetest.NewClock(start)
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			e := &env{t: t, ctx: context.Background(), s: s, clock: clock, cfg: DefaultConfig(),
				opts: Options{Store: s, Templates: testRenderer(t), Location: shanghai, BatchSize: 7, Logger: quietLog}}
			e.cfg.Holiday.Dates = map[string]string{"2027-02-06": "spring_festival"}
			e.rebuild()
			fn(t, e)
		})
	}
}

// rebuild makes a new service after cfg/opts changed.
func (e *env) rebuild() {
	e.t.Helper()
	svc, err := New(e.cfg, e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
}

type custOpt func(*store.CustomerInput)

func birthday(b string) custOpt { return func(in *store.CustomerInput) { in.Birthday = &b } }
func optOut() custOpt {
	return func(in *store.CustomerInput) { v := true; in.OptOut = &v }
}
func locale(l string) custOpt    { return func(in *store.CustomerInput) { in.Locale = &l } }
func tier(tr store.Tier) custOpt { return func(in *store.CustomerInput) { in.Tier = store.PinTo(tr) } }
func noIdentity() custOpt        { return func(in *store.CustomerInput) { in.Identities = nil } }
func on(channel string) custOpt {
	return func(in *store.CustomerInput) { in.Identities[0].Channel = channel }
}

var seq int

// customer creates a customer with a Telegram identity by default.
func (e *env) customer(name string, opts ...custOpt) *store.Customer {
	e.t.Helper()
	seq++
	in := store.CustomerInput{Name: &name, Identities: []store.IdentityRef{{Channel: store.ChannelTelegram, ExternalID: fmt.Sprintf("%d", 1000+seq)}}}
	for _, o := range opts {
		o(&in)
	}
	c, err := e.s.CreateCustomer(e.ctx, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// inbound records a message from the customer's first identity at the
// clock's time.
func (e *env) inbound(c *store.Customer, text string) *store.ChatEvent {
	e.t.Helper()
	id, err := e.s.IdentityByExternal(e.ctx, c.Identities[0].Channel, c.Identities[0].ExternalID)
	if err != nil {
		e.t.Fatal(err)
	}
	seq++
	m, _, err := e.s.RecordInbound(e.ctx, id, store.Inbound{Channel: id.Channel, DedupKey: fmt.Sprintf("in-%d", seq), ChatID: id.ExternalID, Text: text})
	if err != nil {
		e.t.Fatal(err)
	}
	return &store.ChatEvent{Message: m, Identity: id, SenderID: id.ExternalID}
}

func (e *env) run(workflow, date string, dry bool) *store.CareRun {
	e.t.Helper()
	d, err := e.svc.ParseDate(date)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := e.svc.Run(e.ctx, workflow, d, dry, false)
	if err != nil {
		e.t.Fatalf("run %s %s: %v", workflow, date, err)
	}
	return r
}

// outbound lists the customer's outbound messages.
func (e *env) outbound(c *store.Customer) []*store.Message {
	e.t.Helper()
	ms, _, err := e.s.ListMessages(e.ctx, c.ID, store.Page{Limit: 500})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*store.Message
	for _, m := range ms {
		if m.Direction == store.DirectionOut {
			out = append(out, m)
		}
	}
	return out
}

func (e *env) wantMessages(c *store.Customer, n int) []*store.Message {
	e.t.Helper()
	ms := e.outbound(c)
	if len(ms) != n {
		var texts []string
		for _, m := range ms {
			texts = append(texts, m.Workflow+":"+m.Text)
		}
		e.t.Fatalf("customer %s: %d outbound messages %q, want %d", c.Name, len(ms), texts, n)
	}
	return ms
}

// tasks lists the kinds of the customer's tasks.
func (e *env) tasks(c *store.Customer) string {
	e.t.Helper()
	id := c.ID
	ts, _, err := e.s.ListTasks(e.ctx, store.TaskFilter{CustomerID: &id}, store.Page{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	var kinds []string
	for _, t := range ts {
		kinds = append(kinds, t.Kind)
	}
	return strings.Join(kinds, ",")
}

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, shanghai)
	if err != nil {
		panic(err)
	}
	return t
}

func TestBirthday(t *testing.T) {
	each(t, at("2027-02-28 10:00"), func(t *testing.T, e *env) {
		today := e.customer("Today", birthday("1990-02-28"))
		leap := e.customer("Leap", birthday("02-29"))
		other := e.customer("Other", birthday("1990-03-01"))
		out := e.customer("Out", birthday("02-28"), optOut())
		imported := e.customer("Imported", birthday("02-28"), noIdentity())
		en := e.customer("English", birthday("02-28"), locale("en"))

		r := e.run("birthday", "2027-02-28", false)
		if r.Planned != 5 || r.Queued != 3 || r.Skipped != 2 || r.Status != store.RunDone {
			t.Fatalf("run = %+v, want planned 5 queued 3 skipped 2 done", r)
		}
		if r.SkipReasons["opted out"] != 1 || r.SkipReasons["no chat identity"] != 1 {
			t.Errorf("skip reasons = %v", r.SkipReasons)
		}
		m := e.wantMessages(today, 1)[0]
		if m.Workflow != "birthday" || m.TemplateKey != "birthday" || m.TemplateVersion != 1 || m.Status != store.StatusQueued {
			t.Errorf("message = %+v", m)
		}
		if m.Text != "birthday|zh-CN|Today" {
			t.Errorf("text = %q", m.Text)
		}
		e.wantMessages(leap, 1)
		e.wantMessages(other, 0)
		e.wantMessages(out, 0)
		e.wantMessages(imported, 0)
		if got := e.wantMessages(en, 1)[0].Text; got != "birthday|en|English" {
			t.Errorf("en text = %q", got)
		}

		// Running the same workflow and date again sends nothing new and
		// answers the existing run.
		again := e.run("birthday", "2027-02-28", false)
		if again.ID != r.ID || again.Queued != 3 {
			t.Errorf("re-run = %+v, want run %d", again, r.ID)
		}
		e.wantMessages(today, 1)

		// A customer who became due after the run (added later that day):
		// the cron tick and start-up catch-up leave a done run alone, a
		// manual run picks them up and still sends nobody anything twice.
		late := e.customer("Late", birthday("02-28"))
		if r, err := e.svc.scheduled(e.ctx, "birthday", at("2027-02-28 00:00"), false); err != nil || r.Queued != 3 {
			t.Errorf("scheduled re-run = %+v, %v; want the done run untouched", r, err)
		}
		e.wantMessages(late, 0)
		if r := e.run("birthday", "2027-02-28", false); r.ID != again.ID || r.Queued != 4 || r.Duplicates != 3 {
			t.Errorf("manual re-run = %+v, want queued 4 (cumulative), duplicates 3", r)
		}
		e.wantMessages(late, 1)
		e.wantMessages(today, 1)

		// In a leap year Feb 29 birthdays wait for Feb 29.
		e.clock.Set(at("2028-02-28 10:00"))
		if r := e.run("birthday", "2028-02-28", false); r.Queued != 3 {
			t.Errorf("2028-02-28 queued %d, want 3 (Today, Late, English)", r.Queued)
		}
		e.wantMessages(leap, 1)
		e.clock.Set(at("2028-02-29 10:00"))
		if r := e.run("birthday", "2028-02-29", false); r.Queued != 1 {
			t.Errorf("2028-02-29 queued %d, want 1", r.Queued)
		}
		e.wantMessages(leap, 2)
	})
}

func TestDateEdges(t *testing.T) {
	each(t, at("2027-01-01 00:30"), func(t *testing.T, e *env) {
		nye := e.customer("NYE", birthday("12-31"))
		ny := e.customer("NY", birthday("01-01"))
		// 00:30 in Shanghai is still Dec 31 in UTC: the business date wins.
		now := e.clock.Now().In(shanghai)
		r, err := e.svc.Run(e.ctx, "birthday", now, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if r.Date != "2027-01-01" || r.Queued != 1 {
			t.Fatalf("run = %s queued %d, want 2027-01-01 queued 1", r.Date, r.Queued)
		}
		e.wantMessages(ny, 1)
		e.wantMessages(nye, 0)
		// Today() is the business date too.
		if got := e.svc.Today().Format("2006-01-02"); got != "2027-01-01" {
			t.Errorf("Today = %s", got)
		}
		// Year end: Dec 31 of two years are two occurrences.
		e.clock.Set(at("2027-12-31 10:00"))
		e.run("birthday", "2026-12-31", false)
		e.run("birthday", "2027-12-31", false)
		e.wantMessages(nye, 2)
	})
}

func TestQuietHoursAndCap(t *testing.T) {
	each(t, at("2027-02-06 22:30"), func(t *testing.T, e *env) {
		e.opts.QuietHours = QuietHours{Start: "21:00", End: "09:00"}
		e.rebuild()
		a := e.customer("A", birthday("02-06"))
		busy := e.customer("Busy", birthday("02-06"))
		// Busy already got two proactive messages this week.
		for i, day := range []string{"2027-02-03", "2027-02-05"} {
			cid := busy.ID
			_, err := e.s.Enqueue(e.ctx, []store.Outbound{{CustomerID: &cid, Channel: "telegram", ChatID: "x", Text: "hi",
				Workflow: "maintenance", IdempotencyKey: fmt.Sprintf("maintenance:%d:%d:%s", busy.ID, i, day)}})
			if err != nil {
				t.Fatal(err)
			}
		}
		r := e.run("birthday", "2027-02-06", false)
		if r.Queued != 1 || r.SkipReasons["cap: 2 messages in 7 days"] != 1 {
			t.Fatalf("run = %+v", r)
		}
		m := e.wantMessages(a, 1)[0]
		want := at("2027-02-07 09:00")
		full, err := e.s.MessageByID(e.ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if full.NextAttemptAt == nil || !full.NextAttemptAt.Equal(want) {
			t.Errorf("next attempt = %v, want %v (end of quiet hours)", full.NextAttemptAt, want)
		}
		// The holiday run the same evening hits the cap for A? No: A has
		// one message, cap is 2, so A gets the greeting; Busy does not.
		r = e.run("holiday", "2027-02-06", false)
		if r.Queued != 1 || r.Planned != 2 {
			t.Errorf("holiday = %+v", r)
		}
		e.wantMessages(a, 2)
		e.wantMessages(busy, 2)
	})
}

func TestQuietWindow(t *testing.T) {
	cases := []struct {
		start, end, now, want string
	}{
		{"21:00", "09:00", "2027-02-06 20:59", ""},
		{"21:00", "09:00", "2027-02-06 21:00", "2027-02-07 09:00"},
		{"21:00", "09:00", "2027-12-31 23:00", "2028-01-01 09:00"},
		{"21:00", "09:00", "2027-02-07 08:59", "2027-02-07 09:00"},
		{"21:00", "09:00", "2027-02-07 09:00", ""},
		{"12:00", "14:00", "2027-02-07 13:00", "2027-02-07 14:00"},
		{"", "", "2027-02-07 23:00", ""},
	}
	for _, c := range cases {
		q, err := parseQuiet(QuietHours{c.start, c.end})
		if err != nil {
			t.Fatal(err)
		}
		got := q.deferUntil(at(c.now).UTC(), shanghai)
		var want time.Time
		if c.want != "" {
			want = at(c.want)
		}
		if !got.Equal(want) {
			t.Errorf("%s-%s at %s: %v, want %v", c.start, c.end, c.now, got, want)
		}
	}
}

func TestHolidaySegmentAndDryRun(t *testing.T) {
	each(t, at("2027-02-06 10:00"), func(t *testing.T, e *env) {
		e.cfg.Holiday.Segment = store.Segment{Tier: store.TierA}
		e.cfg.Holiday.Names = map[string]string{"spring_festival": "春节"}
		e.rebuild()
		var vips []*store.Customer
		for i := 0; i < 9; i++ {
			vips = append(vips, e.customer(fmt.Sprintf("VIP%d", i), tier(store.TierA)))
		}
		plain := e.customer("Plain")

		dry := e.run("holiday", "2027-02-06", true)
		if !dry.DryRun || dry.Planned != 9 || dry.WouldQueue != 9 || dry.Queued != 0 || len(dry.Sample) != 9 {
			t.Fatalf("dry run = %+v", dry)
		}
		found := false
		for _, s := range dry.Sample {
			found = found || (s.Text == "holiday|zh-CN|VIP0|春节" && s.Action == "message" && s.CustomerID == vips[0].ID)
		}
		if !found {
			t.Errorf("sample = %+v, want VIP0's greeting", dry.Sample)
		}
		e.wantMessages(vips[0], 0)

		r := e.run("holiday", "2027-02-06", false)
		if r.ID == dry.ID || r.Queued != 9 {
			t.Fatalf("run = %+v", r)
		}
		e.wantMessages(plain, 0)
		e.clock.Set(at("2027-02-07 10:00"))
		if r := e.run("holiday", "2027-02-07", false); r.Planned != 0 {
			t.Errorf("not a holiday: %+v", r)
		}
	})
}

func TestReRunAfterCancelAndTakeOver(t *testing.T) {
	each(t, at("2027-02-06 10:00"), func(t *testing.T, e *env) {
		var cs []*store.Customer
		for i := 0; i < 30; i++ {
			cs = append(cs, e.customer(fmt.Sprintf("C%d", i), birthday("02-06")))
		}
		// Kill the run after two batches (7 each).
		ctx, cancel := context.WithCancel(e.ctx)
		e.svc.afterBatch = func(_ *store.CareRun, n int) {
			if n == 2 {
				cancel()
			}
		}
		d, _ := e.svc.ParseDate("2027-02-06")
		r, err := e.svc.Run(ctx, "birthday", d, false, false)
		if err == nil || r.Status != store.RunFailed || r.Queued != 14 {
			t.Fatalf("cancelled run = %+v, %v; want failed after 14", r, err)
		}
		e.svc.afterBatch = nil
		r2 := e.run("birthday", "2027-02-06", false)
		if r2.ID != r.ID || r2.Status != store.RunDone || r2.Queued != 30 || r2.Attempts != 2 {
			t.Fatalf("resumed run = %+v", r2)
		}
		for _, c := range cs {
			e.wantMessages(c, 1)
		}

		// A process that claimed a run and died: the run stays "running"
		// until its lease expires, then another process takes it over.
		if _, claimed, err := e.s.ClaimCareRun(e.ctx, "holiday", "2027-02-06", false, false, "dead-process", 2*time.Minute); err != nil || !claimed {
			t.Fatal(claimed, err)
		}
		if r := e.run("holiday", "2027-02-06", false); r.Status != store.RunRunning || r.Queued != 0 {
			t.Fatalf("run held by a live claim = %+v", r)
		}
		e.clock.Advance(3 * time.Minute)
		r3 := e.run("holiday", "2027-02-06", false)
		if r3.Status != store.RunDone || r3.Queued != 30 || r3.Planned != 30 {
			t.Fatalf("taken-over run = %+v", r3)
		}
		// The dead process waking up cannot write to the run any more.
		stale := *r3
		stale.ClaimedBy = "dead-process:0000000000"
		stale.Status = store.RunRunning
		if err := e.s.ProgressCareRun(e.ctx, &stale, time.Minute); err != store.ErrRunClaimLost {
			t.Errorf("stale progress: %v", err)
		}
	})
}

// TestTwoReplicas runs the same (workflow, date) from two services on one
// MySQL database at once: every message is queued exactly once.
func TestTwoReplicas(t *testing.T) {
	clock := storetest.NewClock(at("2027-02-06 10:00"))
	cfg := storetest.Config(t, store.MySQL)
	s1 := storetest.OpenConfig(t, cfg, store.WithClock(clock.Now))
	s2 := storetest.OpenConfig(t, cfg, store.WithClock(clock.Now))
	ctx := context.Background()
	const n = 60
	var ids []int64 // not 1..n: a Galera cluster steps ids by its size
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("C%d", i)
		c, err := s1.CreateCustomer(ctx, store.CustomerInput{Name: &name,
			Identities: []store.IdentityRef{{Channel: "telegram", ExternalID: fmt.Sprint(i)}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	c := DefaultConfig()
	c.Holiday.Dates = map[string]string{"2027-02-06": "spring_festival"}
	var svcs []*Service
	for i, s := range []*store.Store{s1, s2, s1, s2} {
		svc, err := New(c, Options{Store: s, Templates: testRenderer(t), Location: shanghai, BatchSize: 5, Logger: quietLog, Holder: fmt.Sprintf("replica-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
	}
	date := at("2027-02-06 09:00")
	var wg sync.WaitGroup
	errs := make(chan error, len(svcs))
	for _, svc := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.Run(ctx, "holiday", date, false, false)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	runs, _, err := s1.ListCareRuns(ctx, store.CareRunFilter{Workflow: "holiday"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Queued != n || runs[0].Status != store.RunDone {
		t.Fatalf("runs = %+v", runs)
	}
	for _, id := range ids {
		ms, _, err := s1.ListMessages(ctx, id, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 1 {
			t.Errorf("customer %d: %d messages", id, len(ms))
		}
	}
}

func TestWeChatWindow(t *testing.T) {
	each(t, at("2027-02-06 10:00"), func(t *testing.T, e *env) {
		fresh := e.customer("Fresh", birthday("02-06"), on(store.ChannelWeChat))
		stale := e.customer("Stale", birthday("02-06"), on(store.ChannelWeChat))
		e.clock.Set(at("2027-02-03 10:00"))
		e.inbound(stale, "hello")
		e.clock.Set(at("2027-02-06 08:00"))
		e.inbound(fresh, "hello")
		e.clock.Set(at("2027-02-06 10:00"))

		r := e.run("birthday", "2027-02-06", false)
		if r.Queued != 1 || r.SkipReasons["wechat 48h window closed: staff task"] != 1 {
			t.Fatalf("run = %+v", r)
		}
		e.wantMessages(stale, 0)
		if got := e.tasks(stale); got != "reach_out" {
			t.Errorf("stale tasks = %q, want reach_out", got)
		}
		if m := e.wantMessages(fresh, 1)[0]; m.Channel != store.ChannelWeChat {
			t.Errorf("channel = %s", m.Channel)
		}

		// With a template message configured the greeting goes out.
		// The adapter picks the template id; care only asks whether the
		// workflow has one.
		e.opts.HasWeChatTemplate = func(wf string) bool { return wf == "birthday" }
		e.rebuild()
		e.clock.Set(at("2028-02-06 10:00"))
		e.run("birthday", "2028-02-06", false)
		m := e.wantMessages(stale, 1)[0]
		if full, _ := e.s.MessageByID(e.ctx, m.ID); full.Workflow != "birthday" || full.Status != store.StatusQueued || full.Payload != "" {
			t.Errorf("message = %+v, want a queued birthday message with no payload", full)
		}
	})
}

func TestMaintenance(t *testing.T) {
	each(t, at("2027-03-01 10:00"), func(t *testing.T, e *env) {
		c := e.customer("Car owner")
		last := at("2026-09-05 15:00")
		a, err := e.s.CreateAsset(e.ctx, c.ID, store.AssetInput{Name: "Model 3", LastServiceAt: &last, ServiceIntervalDays: 180}, shanghai)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.NextServiceDue.Format("2006-01-02"); got != "2027-03-04" {
			t.Fatalf("due = %s", got)
		}
		far, _ := e.s.CreateAsset(e.ctx, c.ID, store.AssetInput{Name: "Bike", NextServiceDue: "2027-06-01"}, shanghai)
		_ = far
		r := e.run("maintenance", "2027-03-01", false)
		if r.Queued != 1 {
			t.Fatalf("run = %+v", r)
		}
		if m := e.wantMessages(c, 1)[0]; m.Text != "maintenance|zh-CN|Car owner|Model 3@2027-03-04" {
			t.Errorf("text = %q", m.Text)
		}
		// The next day's run is the same cycle: nothing new.
		e.clock.Set(at("2027-03-02 10:00"))
		if r := e.run("maintenance", "2027-03-02", false); r.Queued != 0 || r.Duplicates != 1 {
			t.Errorf("same cycle = %+v", r)
		}
		// A service moves the due date by the interval.
		e.clock.Set(at("2027-03-03 12:00"))
		svcAt := at("2027-03-03 11:00")
		if _, err := e.s.CreateOrder(e.ctx, store.OrderInput{CustomerID: c.ID, Kind: "service", OccurredAt: &svcAt, AssetID: &a.ID}, shanghai); err != nil {
			t.Fatal(err)
		}
		a, _ = e.s.AssetByID(e.ctx, a.ID)
		if got := a.NextServiceDue.Format("2006-01-02"); got != "2027-08-30" {
			t.Errorf("due after service = %s", got)
		}
		e.clock.Set(at("2027-08-25 10:00"))
		if r := e.run("maintenance", "2027-08-25", false); r.Queued != 1 {
			t.Errorf("next cycle = %+v", r)
		}
		e.wantMessages(c, 2)
	})
}

func TestSurvey(t *testing.T) {
	each(t, at("2027-03-01 10:00"), func(t *testing.T, e *env) {
		tg := e.customer("Tg")
		wx := e.customer("Wx", on(store.ChannelWeChat))
		late := e.customer("Late")
		for _, c := range []*store.Customer{tg, wx, late} {
			if c != late {
				e.inbound(c, "hi")
			}
			ordered := at("2027-03-01 23:30") // business date Mar 1 (15:30 UTC)
			for i := 0; i < 2; i++ {          // two orders, one survey
				if _, err := e.s.CreateOrder(e.ctx, store.OrderInput{CustomerID: c.ID, Kind: "purchase", Amount: store.Fen(1000), OccurredAt: &ordered}, shanghai); err != nil {
					t.Fatal(err)
				}
			}
		}
		e.clock.Set(at("2027-03-02 11:00"))
		r := e.run("survey", "2027-03-02", false)
		if r.Planned != 3 || r.Queued != 3 {
			t.Fatalf("run = %+v", r)
		}
		m := e.wantMessages(tg, 1)[0]
		full, _ := e.s.MessageByID(e.ctx, m.ID)
		p, err := full.Extras()
		if err != nil || len(p.Keyboard) != 1 || len(p.Keyboard[0]) != 5 {
			t.Fatalf("payload = %q", full.Payload)
		}
		for i, b := range p.Keyboard[0] {
			if !strings.HasPrefix(b.Text, fmt.Sprint(i+1)) || !strings.HasPrefix(b.Data, "sv:") || !strings.HasSuffix(b.Data, fmt.Sprintf(":%d", i+1)) {
				t.Errorf("button %d = %+v", i, b)
			}
		}
		if full := e.wantMessages(wx, 1)[0]; full.Payload != "" {
			t.Errorf("wechat payload = %q", full.Payload)
		}

		// Telegram: a button press.
		ev := e.inbound(tg, p.Keyboard[0][1].Data)
		ev.CallbackData = p.Keyboard[0][1].Data
		if h, err := e.svc.HandleChat(e.ctx, ev); !h || err != nil {
			t.Fatal(h, err)
		}
		// A later text within the window is the comment.
		if _, err := e.svc.HandleChat(e.ctx, e.inbound(tg, "快递太慢了")); err != nil {
			t.Fatal(err)
		}
		// WeChat: a digit with a comment.
		if h, err := e.svc.HandleChat(e.ctx, e.inbound(wx, "5，很好")); !h || err != nil {
			t.Fatal(h, err)
		}
		// A second digit does not change the score.
		if h, _ := e.svc.HandleChat(e.ctx, e.inbound(wx, "1")); h {
			t.Errorf("second digit handled")
		}
		// After 3 days the survey no longer accepts answers.
		e.clock.Set(at("2027-03-05 11:01"))
		if h, _ := e.svc.HandleChat(e.ctx, e.inbound(late, "4")); h {
			t.Errorf("expired survey answered")
		}
		resp, _, err := e.s.ListSurveyResponses(e.ctx, store.SurveyFilter{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]string{}
		for _, r := range resp {
			got[r.CustomerID] = fmt.Sprintf("%d %s", r.Score, r.Comment)
		}
		want := map[int64]string{tg.ID: "2 快递太慢了", wx.ID: "5 很好"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("responses = %v, want %v", got, want)
		}
		// Thanks were queued once each.
		if ms := e.wantMessages(tg, 2); ms[1].TemplateKey != "survey_thanks" {
			t.Errorf("thanks = %+v", ms[1])
		}
		e.wantMessages(wx, 2)
		if got := e.tasks(tg); got != "survey_recovery" {
			t.Errorf("tg tasks = %q, want a survey_recovery task for score 2", got)
		}
		if got := e.tasks(wx); got != "" {
			t.Errorf("wx tasks = %q", got)
		}
		sum, err := e.s.SummarizeSurveys(e.ctx, store.SurveyFilter{}, "", shanghai)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Total.Responses != 2 || sum.Total.CSAT != 0.5 || sum.Total.Scores[2] != 1 || len(sum.Channels) != 2 {
			t.Errorf("summary = %+v", sum)
		}
	})
}

func TestParseScore(t *testing.T) {
	cases := []struct {
		in      string
		score   int
		comment string
		ok      bool
	}{
		{"4", 4, "", true}, {"5 great", 5, "great", true}, {"5，很好", 5, "很好", true}, {"2分 太慢", 2, "太慢", true},
		{"３", 3, "", true}, {"45", 0, "", false}, {"3.5", 0, "", false}, {"6", 0, "", false}, {"4u", 0, "", false}, {"hello", 0, "", false},
	}
	for _, c := range cases {
		s, cm, ok := parseScore(c.in)
		if s != c.score || cm != c.comment || ok != c.ok {
			t.Errorf("parseScore(%q) = %d %q %v", c.in, s, cm, ok)
		}
	}
}

func TestRevisit(t *testing.T) {
	each(t, at("2026-12-01 10:00"), func(t *testing.T, e *env) {
		first := e.customer("First")
		repeat := e.customer("Repeat")
		vip := e.customer("VIP", tier(store.TierA))
		served := e.customer("Served", tier(store.TierA))
		old := at("2026-12-02 10:00")
		e.clock.Set(at("2027-03-01 10:00"))
		e.s.CreateOrder(e.ctx, store.OrderInput{CustomerID: repeat.ID, Kind: "purchase", OccurredAt: &old}, shanghai)
		bought := at("2027-02-26 15:00")
		for _, c := range []*store.Customer{first, repeat} {
			if _, err := e.s.CreateOrder(e.ctx, store.OrderInput{CustomerID: c.ID, Kind: "purchase", OccurredAt: &bought}, shanghai); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.s.SendToCustomer(e.ctx, served.ID, "How is everything?"); err != nil {
			t.Fatal(err)
		}
		r := e.run("revisit", "2027-03-01", false)
		if r.Tasks != 2 || r.Queued != 0 {
			t.Fatalf("run = %+v", r)
		}
		for c, want := range map[*store.Customer]string{first: "revisit", repeat: "", vip: "revisit", served: ""} {
			if got := e.tasks(c); got != want {
				t.Errorf("%s tasks = %q, want %q", c.Name, got, want)
			}
		}
		e.wantMessages(first, 0)
		// The next day: the tier-A cycle has not turned, nothing new.
		e.clock.Set(at("2027-03-02 10:00"))
		if r := e.run("revisit", "2027-03-02", false); r.Tasks != 0 {
			t.Errorf("next day = %+v", r)
		}
	})
}

// TestCapHoldsAcrossConcurrentRuns: birthday and holiday greetings on the
// same morning, on two replicas at once, with a cap of one message a week:
// every customer gets exactly one of them.
func TestCapHoldsAcrossConcurrentRuns(t *testing.T) {
	each(t, at("2027-02-06 10:00"), func(t *testing.T, e *env) {
		e.cfg.Cap.Messages, e.cfg.Cap.Days = 1, 7
		var cs []*store.Customer
		for i := range 40 {
			cs = append(cs, e.customer(fmt.Sprintf("C%d", i), birthday("02-06")))
		}
		replica := func(holder string) *Service {
			o := e.opts
			o.Holder, o.BatchSize = holder, 3
			svc, err := New(e.cfg, o)
			if err != nil {
				t.Fatal(err)
			}
			return svc
		}
		day, _ := e.svc.ParseDate("2027-02-06")
		var wg sync.WaitGroup
		runs := make([]*store.CareRun, 2)
		for i, w := range []string{"birthday", "holiday"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := replica(fmt.Sprintf("replica-%d", i)).Run(e.ctx, w, day, false, false)
				if err != nil {
					t.Error(err)
				}
				runs[i] = r
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		for _, c := range cs {
			if got := len(e.outbound(c)); got != 1 {
				t.Errorf("%s got %d messages, want 1 (cap 1 per 7 days)", c.Name, got)
			}
		}
		if q := runs[0].Queued + runs[1].Queued; q != len(cs) {
			t.Errorf("queued %d + %d, want %d in all", runs[0].Queued, runs[1].Queued, len(cs))
		}
	})
}

// strictText renders "{{.name}}，生日快乐！" with missingkey=error from the
// customer's fields, as a manager's template may: a customer without a
// name has no "name" entry, so their text fails at send time.
type strictText struct{ t *template.Template }

func (r strictText) Render(_ context.Context, key, locale string, d render.Data) (render.Rendered, error) {
	vars := map[string]string{}
	if d.Customer.Name != "" {
		vars["name"] = d.Customer.Name
	}
	var b strings.Builder
	if err := r.t.Execute(&b, vars); err != nil {
		return render.Rendered{}, err
	}
	return render.Rendered{Key: key, Locale: locale, Version: 2, Text: b.String()}, nil
}

// TestRenderErrorSkipsCustomer: a template that fails for one customer
// skips that customer with the reason; the run goes on for the others.
func TestRenderErrorSkipsCustomer(t *testing.T) {
	each(t, at("2027-02-28 10:00"), func(t *testing.T, e *env) {
		e.opts.Templates = strictText{template.Must(template.New("birthday").Option("missingkey=error").Parse("{{.name}}，生日快乐！"))}
		e.rebuild()
		first := e.customer("Ann", birthday("02-28"))
		nameless := e.customer("", birthday("02-28"), func(in *store.CustomerInput) {
			phone := "13800138000"
			in.Name, in.Phone = nil, &phone
		})
		last := e.customer("Zoe", birthday("02-28"))
		r := e.run("birthday", "2027-02-28", false)
		if r.Planned != 3 || r.Queued != 2 || r.Failed != 1 || r.SkipReasons["render error"] != 1 || r.Status != store.RunDone {
			t.Errorf("run = %+v, want 3 planned, 2 queued, 1 render error, done", r)
		}
		e.wantMessages(nameless, 0)
		if got := e.wantMessages(first, 1)[0].Text; got != "Ann，生日快乐！" {
			t.Errorf("text = %q", got)
		}
		e.wantMessages(last, 1)
	})
}
