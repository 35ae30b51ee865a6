package care

import (
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
)

func (e *env) pinTier(c *store.Customer, tr store.Tier) {
	e.t.Helper()
	if _, err := e.s.UpdateCustomer(e.ctx, c.ID, store.CustomerInput{Tier: store.PinTo(tr)}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) pinStage(c *store.Customer, st store.Stage) {
	e.t.Helper()
	if _, err := e.s.UpdateCustomer(e.ctx, c.ID, store.CustomerInput{Stage: store.PinTo(st)}); err != nil {
		e.t.Fatal(err)
	}
}

func phone(p string) custOpt { return func(in *store.CustomerInput) { in.Phone = &p } }

// taskDetails lists the customer's tasks as "kind: detail".
func (e *env) taskDetails(c *store.Customer) []string {
	e.t.Helper()
	id := c.ID
	ts, _, err := e.s.ListTasks(e.ctx, store.TaskFilter{CustomerID: &id}, store.Page{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, t := range ts {
		out = append(out, t.Kind+": "+t.Detail)
	}
	return out
}

func texts(ms []*store.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Workflow+" "+m.Text)
	}
	return out
}

// TestLifecycleReactions: a promotion to tier A brings the VIP greeting
// and a revisit task at once, a new customer the welcome series on day 1
// and day 7 — each once, however many runs and replicas see the change;
// quiet hours defer, opted-out customers get nothing, and a customer who
// moved on since is skipped.
func TestLifecycleReactions(t *testing.T) {
	each(t, at("2027-03-01 10:00"), func(t *testing.T, e *env) {
		vip := e.customer("VIP")
		newbie := e.customer("Newbie")
		out := e.customer("Out", optOut())
		demoted := e.customer("Demoted")
		e.pinTier(vip, store.TierA)
		e.pinStage(newbie, store.StageNew)
		e.pinTier(out, store.TierA)
		e.pinTier(demoted, store.TierA)
		e.pinTier(demoted, store.TierB)

		r := e.run("lifecycle", "2027-03-01", false)
		if r.Queued != 1 || r.Tasks != 1 || r.SkipReasons["opted out"] != 1 || r.SkipReasons["no longer tier:A"] != 1 {
			t.Fatalf("run = %+v", r)
		}
		if diff := cmp.Diff([]string{"lifecycle vip_greeting|zh-CN|VIP|day0"}, texts(e.wantMessages(vip, 1))); diff != "" {
			t.Errorf("vip messages (-want +got):\n%s", diff)
		}
		if got := e.tasks(vip); got != "revisit" {
			t.Errorf("vip tasks = %q", got)
		}
		for _, c := range []*store.Customer{newbie, out, demoted} {
			e.wantMessages(c, 0)
			if got := e.tasks(c); got != "" {
				t.Errorf("%s tasks = %q", c.Name, got)
			}
		}
		// Again the same day: nothing new.
		if r := e.run("lifecycle", "2027-03-01", false); r.Queued != 1 || r.Tasks != 1 || r.Duplicates != 1 {
			t.Errorf("rerun = %+v", r)
		}

		// The next day, on two replicas at once: the welcome (day 1) goes
		// once; the VIP greeting (its change is yesterday's, still in the
		// day-0 window) is not repeated.
		e.clock.Set(at("2027-03-02 10:00"))
		other := e.opts
		other.Holder = "replica-b"
		b, err := New(e.cfg, other)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, svc := range []*Service{e.svc, b, e.svc, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := svc.Run(e.ctx, "lifecycle", at("2027-03-02 10:00"), false, false); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		e.run("lifecycle", "2027-03-02", false)
		if diff := cmp.Diff([]string{"lifecycle welcome_series|zh-CN|Newbie|day1"}, texts(e.wantMessages(newbie, 1))); diff != "" {
			t.Errorf("newbie messages (-want +got):\n%s", diff)
		}
		e.wantMessages(vip, 1)

		// Day 7, at night: the second welcome waits for the end of quiet
		// hours.
		e.opts.QuietHours = QuietHours{Start: "21:00", End: "09:00"}
		e.rebuild()
		e.clock.Set(at("2027-03-08 22:00"))
		if r := e.run("lifecycle", "2027-03-08", false); r.Queued != 1 {
			t.Fatalf("day 7 run = %+v", r)
		}
		ms := e.wantMessages(newbie, 2)
		if ms[1].Text != "welcome_series|zh-CN|Newbie|day7" {
			t.Errorf("day 7 text = %q", ms[1].Text)
		}
		full, err := e.s.MessageByID(e.ctx, ms[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := at("2027-03-09 09:00"); full.NextAttemptAt == nil || !full.NextAttemptAt.Equal(want) {
			t.Errorf("day 7 next attempt = %v, want %v", full.NextAttemptAt, want)
		}
		e.wantMessages(out, 0)
	})
}

// TestLifecycleWinback: becoming at-risk starts win-back at once, under
// win-back's own key, so the weekly win-back run does not repeat it.
func TestLifecycleWinback(t *testing.T) {
	each(t, at("2027-03-01 10:00"), func(t *testing.T, e *env) {
		c := e.customer("Lapsing")
		e.pinStage(c, store.StageAtRisk)
		if r := e.run("lifecycle", "2027-03-01", false); r.Queued != 1 || r.Tasks != 1 {
			t.Fatalf("lifecycle run = %+v", r)
		}
		if diff := cmp.Diff([]string{"winback winback|zh-CN|Lapsing"}, texts(e.wantMessages(c, 1))); diff != "" {
			t.Errorf("messages (-want +got):\n%s", diff)
		}
		if r := e.run("winback", "2027-03-01", false); r.Queued != 0 || r.Duplicates != 1 || r.Tasks != 0 {
			t.Errorf("winback run = %+v", r)
		}
		e.wantMessages(c, 1)
		if got := e.tasks(c); got != "winback" {
			t.Errorf("tasks = %q", got)
		}
	})
}

// TestWinbackReadsStage: win-back reaches customers whose stage is at-risk
// (and churned when configured), leaves stages as they are, skips one who
// wrote lately, and acts once per inactivity episode.
func TestWinbackReadsStage(t *testing.T) {
	each(t, at("2026-01-01 10:00"), func(t *testing.T, e *env) {
		gone := e.customer("Gone")
		idle := e.customer("Idle") // quiet for a year, but computed active
		talker := e.customer("Talker")
		churned := e.customer("Churned")
		e.pinStage(gone, store.StageAtRisk)
		e.pinStage(idle, store.StageActive)
		e.pinStage(talker, store.StageAtRisk)
		e.pinStage(churned, store.StageChurned)
		e.clock.Set(at("2027-03-01 10:00"))
		e.inbound(talker, "hi")
		history := func(c *store.Customer) int {
			cs, _, err := e.s.ListStageChanges(e.ctx, c.ID, store.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return len(cs)
		}
		before := history(idle)

		r := e.run("winback", "2027-03-01", false)
		if r.Planned != 2 || r.Queued != 1 || r.Tasks != 1 || r.SkipReasons["in touch"] != 1 {
			t.Fatalf("run = %+v", r)
		}
		e.wantMessages(gone, 1)
		for _, c := range []*store.Customer{idle, talker, churned} {
			e.wantMessages(c, 0)
		}
		if c, _ := e.s.CustomerByID(e.ctx, idle.ID); c.Stage != store.StageActive || history(idle) != before {
			t.Errorf("idle: stage %s, %d history rows (was %d): win-back must not set stages", c.Stage, history(idle), before)
		}
		// A week later: same episode, nothing new.
		e.clock.Set(at("2027-03-08 10:00"))
		if r := e.run("winback", "2027-03-08", false); r.Queued != 0 || r.Tasks != 0 {
			t.Errorf("next week = %+v", r)
		}
		// Churned customers too, when configured.
		e.cfg.Winback.Stages = []store.Stage{store.StageAtRisk, store.StageChurned}
		e.rebuild()
		e.clock.Set(at("2027-03-15 10:00"))
		if r := e.run("winback", "2027-03-15", false); r.Queued != 1 {
			t.Errorf("with churned = %+v", r)
		}
		e.wantMessages(churned, 1)
		e.wantMessages(gone, 1)
	})
}

// TestUnreachable: a customer care cannot reach in chat gets, under
// unreachable: task, one call task for the owner with the text to say;
// under skip nothing; opted out never anything.
func TestUnreachable(t *testing.T) {
	each(t, at("2027-02-06 10:00"), func(t *testing.T, e *env) {
		imported := e.customer("Imported", noIdentity(), phone("+8613800138001"))
		noPhone := e.customer("NoPhone", noIdentity())
		stopped := e.customer("Stopped", noIdentity(), phone("+8613800138002"), optOut())
		for _, c := range []*store.Customer{imported, noPhone, stopped} {
			if _, err := e.s.CreateAsset(e.ctx, c.ID, store.AssetInput{Name: "Boiler", NextServiceDue: "2027-02-10"}, shanghai); err != nil {
				t.Fatal(err)
			}
		}
		r := e.run("maintenance", "2027-02-06", false)
		want := map[string]int{"no chat identity: call task": 1, "no chat identity, no phone": 1, "opted out": 1}
		if diff := cmp.Diff(want, r.SkipReasons); diff != "" || r.Tasks != 1 || r.Queued != 0 {
			t.Errorf("maintenance run %+v; reasons (-want +got):\n%s", r, diff)
		}
		tasks := e.taskDetails(imported)
		if len(tasks) != 1 || !strings.HasPrefix(tasks[0], "call: ") || !strings.Contains(tasks[0], "+8613800138001") ||
			!strings.Contains(tasks[0], "maintenance|zh-CN|Imported|Boiler@2027-02-10") {
			t.Errorf("imported tasks = %q, want one call task with the phone and the text", tasks)
		}
		for _, c := range []*store.Customer{noPhone, stopped} {
			if got := e.tasks(c); got != "" {
				t.Errorf("%s tasks = %q", c.Name, got)
			}
		}
		// Next day, same occurrence: no second call task.
		e.clock.Set(at("2027-02-07 10:00"))
		if r := e.run("maintenance", "2027-02-07", false); r.Tasks != 0 {
			t.Errorf("next day = %+v", r)
		}
		if got := e.tasks(imported); got != "call" {
			t.Errorf("tasks after next day = %q", got)
		}
		// Holiday greetings skip (the default for holiday).
		if r := e.run("holiday", "2027-02-06", false); r.Tasks != 0 || r.SkipReasons["no chat identity"] != 2 {
			t.Errorf("holiday run = %+v", r)
		}
		// Win-back has its own task: the text to say goes into it.
		e.pinStage(imported, store.StageAtRisk)
		if r := e.run("winback", "2027-02-07", false); r.Tasks != 1 {
			t.Errorf("winback run = %+v", r)
		}
		tasks = e.taskDetails(imported)
		if len(tasks) != 2 || !strings.HasPrefix(tasks[0], "winback: ") || !strings.Contains(tasks[0], "winback|zh-CN|Imported") {
			t.Errorf("tasks = %q, want the winback task with the text", tasks)
		}
	})
}

func TestLifecycleConfig(t *testing.T) {
	cases := []struct {
		r   Reaction
		err string
	}{
		{Reaction{On: "tier:A", Template: "vip_greeting"}, ""},
		{Reaction{On: "stage:at-risk", Workflow: "winback"}, ""},
		{Reaction{On: "tier:D", Template: "x"}, "care.lifecycle.reactions[0].on: "},
		{Reaction{On: "stage", Template: "x"}, "care.lifecycle.reactions[0].on: "},
		{Reaction{On: "stage:new"}, "care.lifecycle.reactions[0]: set template, task or workflow"},
		{Reaction{On: "stage:new", Template: "Bad Key"}, "care.lifecycle.reactions[0].template: "},
		{Reaction{On: "stage:new", Task: "complaint"}, "care.lifecycle.reactions[0].task: "},
		{Reaction{On: "stage:new", Template: "x", Days: []int{1, 1}}, "care.lifecycle.reactions[0].days[1]: 1 is listed twice"},
		{Reaction{On: "stage:new", Template: "x", Days: []int{-1}}, "care.lifecycle.reactions[0].days[0]: "},
		{Reaction{On: "stage:new", Workflow: "birthday"}, "care.lifecycle.reactions[0].workflow: "},
		{Reaction{On: "stage:new", Workflow: "winback", Template: "x"}, "care.lifecycle.reactions[0].workflow: "},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		cfg.Lifecycle.Reactions = []Reaction{c.r}
		err := cfg.Validate()
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.HasPrefix(err.Error(), c.err)) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.err)
		}
	}
	cfg := DefaultConfig()
	cfg.Maintenance.Unreachable = "call"
	if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), "care.maintenance.unreachable: ") {
		t.Errorf("unreachable: call: %v", err)
	}
	cfg = DefaultConfig()
	cfg.Winback.Stages = []store.Stage{store.StageNew}
	if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), "care.winback.stages[0]: ") {
		t.Errorf("winback stages new: %v", err)
	}
}
