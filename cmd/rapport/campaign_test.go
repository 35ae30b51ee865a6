package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/campaign"
	"github.com/rapport-crm/rapport/care"
	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
)

// campaignReplica is one process's campaign service over its own store
// handle on the shared database.
type campaignReplica struct {
	st   *store.Store
	care *care.Service
	svc  *campaign.Service
	// wrap, when set, wraps each delivery (to crash or cancel mid-way).
	wrap func(d *campaign.Delivery)
}

type wrappingDeliverer struct{ r *campaignReplica }

func (w wrappingDeliverer) Deliver(ctx context.Context, d campaign.Delivery) (*store.CareRun, error) {
	if w.r.wrap != nil {
		w.r.wrap(&d)
	}
	return careDeliverer{w.r.care}.Deliver(ctx, d)
}

var (
	testShanghai, _ = time.LoadLocation("Asia/Shanghai")
	quietTestLog    = slog.New(slog.NewTextHandler(io.Discard, nil))
)

// campaignEnv is a shared database with a clock, seen by replicas.
type campaignEnv struct {
	t     *testing.T
	ctx   context.Context
	cfg   store.Config
	clock *storetest.Clock
	quiet care.QuietHours
	cap   care.Cap
}

func eachCampaign(t *testing.T, start time.Time, fn func(t *testing.T, e *campaignEnv)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			fn(t, &campaignEnv{t: t, ctx: context.Background(), cfg: storetest.Config(t, d), clock: storetest.NewClock(start), cap: care.Cap{Messages: 0}})
		})
	}
}

func (e *campaignEnv) replica(name string) *campaignReplica {
	e.t.Helper()
	st := storetest.OpenConfig(e.t, e.cfg, store.WithClock(e.clock.Now))
	tpl := templates.New(st, templates.Config{Location: testShanghai, Logger: quietTestLog})
	cc := care.DefaultConfig()
	cc.Cap = e.cap
	cs, err := care.New(cc, care.Options{Store: st, Templates: tpl, Location: testShanghai, QuietHours: e.quiet,
		Logger: quietTestLog, Holder: name, BatchSize: 4, Lease: time.Minute})
	if err != nil {
		e.t.Fatal(err)
	}
	r := &campaignReplica{st: st, care: cs}
	r.svc, err = campaign.New(campaign.DefaultConfig(), campaign.Options{Store: st, Deliver: wrappingDeliverer{r},
		Inline: func(b map[string]string) (render.Renderer, error) { return tpl.Inline(b) }, CheckTemplate: templates.CheckCampaignTemplate,
		Location: testShanghai, Logger: quietTestLog, Holder: name, Lease: time.Minute})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// customers makes n customers on Telegram, cities alternating 上海/北京.
func (e *campaignEnv) customers(st *store.Store, n int) []int64 {
	e.t.Helper()
	var ids []int64
	for i := range n {
		name, city := fmt.Sprintf("c%02d", i), []string{"上海", "北京"}[i%2]
		c, err := st.CreateCustomer(e.ctx, store.CustomerInput{Name: &name, City: &city,
			Identities: []store.IdentityRef{{Channel: store.ChannelTelegram, ExternalID: fmt.Sprint(5000 + i)}}})
		if err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	return ids
}

// stopMidway runs do once, after the first batch of each delivery of r,
// and then sends what is left of it only if do lets it; then checks that
// some but not all of the campaign's messages were written, each withdrawn
// for reason.
func (e *campaignEnv) stopMidway(r *campaignReplica, c *store.Campaign, ids []int64, reason string, do func(ctx context.Context)) {
	e.t.Helper()
	batches := 0
	r.wrap = func(d *campaign.Delivery) {
		next := d.Progress
		d.Progress = func(pctx context.Context, n *store.CareRun, after int64) error {
			if batches++; batches == 1 {
				do(pctx)
			}
			return next(pctx, n, after)
		}
	}
	e.tick(r)
	_, all := e.rows(r.st, ids, c.ID)
	if len(all) == 0 || len(all) >= len(ids) {
		e.t.Errorf("%d messages written of %d: want some, not all", len(all), len(ids))
	}
	for _, m := range all {
		if m.Status != store.StatusSkipped || m.Reason != reason {
			e.t.Errorf("message %d: %s %q; want withdrawn (%s)", m.ID, m.Status, m.Reason, reason)
		}
	}
}

func (e *campaignEnv) campaign(r *campaignReplica, filter string, in store.CampaignInput) *store.Campaign {
	e.t.Helper()
	f, err := store.ParseSegmentFilter([]byte(filter))
	if err != nil {
		e.t.Fatal(err)
	}
	seg, err := r.st.CreateSegment(e.ctx, fmt.Sprintf("seg %s %d", filter, time.Now().UnixNano()), f, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	in.Name, in.SegmentID = "promo", seg.ID
	if in.TemplateKey == "" && in.Body == "" {
		in.Body = "{{.Customer.Name}}：{{index .Extra \"alert\"}}周六试驾"
	}
	c, err := r.svc.Create(e.ctx, in, &store.Principal{Role: store.RoleAdmin})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// sent counts the campaign's outbox rows per customer.
func (e *campaignEnv) rows(st *store.Store, ids []int64, campaignID int64) (perCustomer map[int64]int, all []*store.Message) {
	e.t.Helper()
	perCustomer = map[int64]int{}
	prefix := store.CampaignKey(campaignID)
	for _, id := range ids {
		ms, _, err := st.ListMessages(e.ctx, id, store.Page{Limit: 500})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range ms {
			if m.Direction == store.DirectionOut && m.Workflow == prefix {
				perCustomer[id]++
				all = append(all, m)
			}
		}
	}
	return perCustomer, all
}

func (e *campaignEnv) tick(r *campaignReplica) {
	e.t.Helper()
	if err := r.svc.Tick(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

var campaignStart = time.Date(2027, 3, 10, 2, 0, 0, 0, time.UTC) // 10:00 Shanghai

func TestCampaignTwoReplicasSendOnce(t *testing.T) {
	eachCampaign(t, campaignStart, func(t *testing.T, e *campaignEnv) {
		a, b := e.replica("a"), e.replica("b")
		ids := e.customers(a.st, 11)
		c := e.campaign(a, `{}`, store.CampaignInput{})
		if _, err := b.svc.Send(e.ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.svc.Send(e.ctx, c.ID); store.ErrorCode(err) != store.ECONFLICT {
			t.Errorf("second send: %v; want conflict", err)
		}
		var wg sync.WaitGroup
		for _, r := range []*campaignReplica{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); e.tick(r) }()
		}
		wg.Wait()
		per, all := e.rows(a.st, ids, c.ID)
		if len(all) != len(ids) {
			t.Errorf("%d messages for %d customers", len(all), len(ids))
		}
		for _, id := range ids {
			if per[id] != 1 {
				t.Errorf("customer %d got %d", id, per[id])
			}
		}
		got, err := a.svc.Get(e.ctx, c.ID)
		if err != nil || got.Status != store.CampaignDone || got.Results.Queued != len(ids) || got.Results.Pending != len(ids) {
			t.Errorf("campaign %+v results %+v, %v", got, got.Results, err)
		}
		if !strings.Contains(all[0].Text, "周六试驾") {
			t.Errorf("text %q", all[0].Text)
		}
	})
}

func TestCampaignCrashResumes(t *testing.T) {
	eachCampaign(t, campaignStart, func(t *testing.T, e *campaignEnv) {
		a, b := e.replica("a"), e.replica("b")
		ids := e.customers(a.st, 10)
		c := e.campaign(a, `{}`, store.CampaignInput{})
		if _, err := a.svc.Send(e.ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		// a dies after its first batch: the progress is written, nothing
		// more happens, the lease stays.
		ctx, crash := context.WithCancel(e.ctx)
		a.wrap = func(d *campaign.Delivery) {
			next := d.Progress
			d.Progress = func(pctx context.Context, n *store.CareRun, after int64) error {
				err := next(pctx, n, after)
				crash()
				return err
			}
		}
		if err := a.svc.Tick(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("crashed tick: %v", err)
		}
		per, _ := e.rows(a.st, ids, c.ID)
		if len(per) == 0 || len(per) == len(ids) {
			t.Fatalf("after the crash %d of %d customers have a message", len(per), len(ids))
		}
		// b finds nothing while a's lease lives, then resumes.
		e.tick(b)
		if p2, _ := e.rows(a.st, ids, c.ID); len(p2) != len(per) {
			t.Fatalf("b sent during a's lease: %d", len(p2))
		}
		e.clock.Advance(2 * time.Minute)
		e.tick(b)
		per, all := e.rows(a.st, ids, c.ID)
		if len(all) != len(ids) || len(per) != len(ids) {
			t.Errorf("after resume: %d messages, %d customers of %d", len(all), len(per), len(ids))
		}
		runs, _ := a.st.CampaignRuns(e.ctx, c.ID)
		if len(runs) != 1 || runs[0].Queued != len(ids) || runs[0].Attempts != 2 || runs[0].Status != store.CampaignRunDone {
			t.Errorf("run %+v", runs[0])
		}
	})
}

func TestCampaignCancelMidway(t *testing.T) {
	eachCampaign(t, campaignStart, func(t *testing.T, e *campaignEnv) {
		a := e.replica("a")
		ids := e.customers(a.st, 12)
		c := e.campaign(a, `{}`, store.CampaignInput{})
		if _, err := a.svc.Send(e.ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		e.stopMidway(a, c, ids, store.ReasonCampaignCancelled, func(ctx context.Context) {
			if _, _, err := a.svc.Cancel(ctx, c.ID); err != nil {
				t.Error(err)
			}
		})
		got, _ := a.st.CampaignByID(e.ctx, c.ID)
		if got.Status != store.CampaignCancelled {
			t.Errorf("status %s", got.Status)
		}
		if _, _, err := a.svc.Trigger(e.ctx, c.ID, "k", nil); store.ErrorCode(err) != store.ECONFLICT {
			t.Errorf("trigger after cancel: %v", err)
		}
	})
}

func TestCampaignScheduledFiresOnceAtItsTime(t *testing.T) {
	eachCampaign(t, campaignStart, func(t *testing.T, e *campaignEnv) {
		a, b := e.replica("a"), e.replica("b")
		ids := e.customers(a.st, 5)
		at := campaignStart.Add(time.Hour)
		c := e.campaign(a, `{}`, store.CampaignInput{SendAt: &at})
		if c.Status != store.CampaignScheduled {
			t.Fatalf("status %s", c.Status)
		}
		e.clock.Set(at.Add(-time.Second))
		e.tick(a)
		e.tick(b)
		if _, all := e.rows(a.st, ids, c.ID); len(all) != 0 {
			t.Fatalf("%d sent before its time", len(all))
		}
		e.clock.Set(at)
		var wg sync.WaitGroup
		for _, r := range []*campaignReplica{a, b, a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); e.tick(r) }()
		}
		wg.Wait()
		e.clock.Advance(time.Hour)
		e.tick(b)
		per, all := e.rows(a.st, ids, c.ID)
		if len(all) != len(ids) || len(per) != len(ids) {
			t.Errorf("%d messages to %d customers of %d", len(all), len(per), len(ids))
		}
		got, _ := a.st.CampaignByID(e.ctx, c.ID)
		if got.Status != store.CampaignDone {
			t.Errorf("status %s", got.Status)
		}
	})
}

func TestCampaignQuietHoursDefer(t *testing.T) {
	late := time.Date(2027, 3, 10, 14, 30, 0, 0, time.UTC) // 22:30 Shanghai
	eachCampaign(t, late, func(t *testing.T, e *campaignEnv) {
		e.quiet = care.QuietHours{Start: "21:00", End: "09:00"}
		a := e.replica("a")
		ids := e.customers(a.st, 3)
		c := e.campaign(a, `{}`, store.CampaignInput{})
		if _, err := a.svc.Send(e.ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		e.tick(a)
		_, all := e.rows(a.st, ids, c.ID)
		want := time.Date(2027, 3, 11, 1, 0, 0, 0, time.UTC) // 09:00 Shanghai
		if len(all) != len(ids) {
			t.Fatalf("%d messages", len(all))
		}
		for _, m := range all {
			if m.NextAttemptAt == nil || !m.NextAttemptAt.Equal(want) {
				t.Errorf("message %d goes at %v; want %v", m.ID, m.NextAttemptAt, want)
			}
		}
	})
}

// TestCampaignEndWithdraws: messages a campaign queued for later (quiet
// hours) are withdrawn when its end_at passes, on the next tick, and a
// run its end overtakes stops queueing.
func TestCampaignEndWithdraws(t *testing.T) {
	late := time.Date(2027, 3, 10, 14, 30, 0, 0, time.UTC) // 22:30 Shanghai
	eachCampaign(t, late, func(t *testing.T, e *campaignEnv) {
		e.quiet = care.QuietHours{Start: "21:00", End: "09:00"}
		a := e.replica("a")
		ids := e.customers(a.st, 3)
		end := late.Add(2 * time.Hour) // 00:30, before the quiet hours end
		c := e.campaign(a, `{}`, store.CampaignInput{EndAt: &end})
		if _, err := a.svc.Send(e.ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		e.tick(a)
		if _, all := e.rows(a.st, ids, c.ID); len(all) != len(ids) || all[0].Status != store.StatusQueued {
			t.Fatalf("before the end: %d messages, want %d queued", len(all), len(ids))
		}
		e.clock.Advance(2*time.Hour + time.Second)
		e.tick(a)
		_, all := e.rows(a.st, ids, c.ID)
		for _, m := range all {
			if m.Status != store.StatusSkipped || m.Reason != store.ReasonCampaignEnded {
				t.Errorf("message %d after the end: %s %q; want withdrawn", m.ID, m.Status, m.Reason)
			}
		}
		// The watermark: a second sweep finds nothing to do.
		if n, err := a.st.WithdrawEndedCampaigns(e.ctx, e.clock.Now()); err != nil || n != 0 {
			t.Errorf("second sweep: %d, %v", n, err)
		}
	})
	eachCampaign(t, campaignStart, func(t *testing.T, e *campaignEnv) {
		a := e.replica("a")
		ids := e.customers(a.st, 12)
		end := campaignStart.Add(time.Hour)
		c := e.campaign(a, `{}`, store.CampaignInput{EndAt: &end})
		if _, err := a.svc.Send(e.ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		e.stopMidway(a, c, ids, store.ReasonCampaignEnded, func(context.Context) {
			e.clock.Advance(2 * time.Hour) // the end overtakes the run
		})
		runs, _ := a.st.CampaignRuns(e.ctx, c.ID)
		if len(runs) != 1 || runs[0].Status != store.CampaignRunDone {
			t.Errorf("runs %+v; want one, done", runs)
		}
	})
}

func TestCampaignTriggerIdempotent(t *testing.T) {
	eachCampaign(t, campaignStart, func(t *testing.T, e *campaignEnv) {
		a, b := e.replica("a"), e.replica("b")
		ids := e.customers(a.st, 6) // 3 in 上海
		c := e.campaign(a, `{"city":["上海","北京"]}`, store.CampaignInput{})
		vars := map[string]string{"city": "上海", "alert": "台风「梅花」明天登陆"}
		for range 2 {
			for _, r := range []*campaignReplica{a, b} {
				if _, _, err := r.svc.Trigger(e.ctx, c.ID, "typhoon-1", vars); err != nil {
					t.Fatal(err)
				}
			}
			e.tick(a)
			e.tick(b)
		}
		per, all := e.rows(a.st, ids, c.ID)
		if len(all) != 3 || len(per) != 3 {
			t.Fatalf("%d messages to %d customers; want 3 to the 3 in 上海", len(all), len(per))
		}
		if !strings.Contains(all[0].Text, "台风「梅花」明天登陆") {
			t.Errorf("text %q", all[0].Text)
		}
		_, created, err := a.svc.Trigger(e.ctx, c.ID, "typhoon-2", map[string]string{"city": "上海"})
		if err != nil || !created {
			t.Fatalf("second key: %v %v", created, err)
		}
		e.tick(b)
		if _, all := e.rows(a.st, ids, c.ID); len(all) != 6 {
			t.Errorf("a new key sends again: %d messages, want 6", len(all))
		}
		if _, _, err := a.svc.Trigger(e.ctx, c.ID, "bad", map[string]string{"tier": "Z"}); store.ErrorCode(err) != store.EINVALID {
			t.Errorf("bad var: %v", err)
		}
	})
}

func TestCampaignDryRunAndCap(t *testing.T) {
	eachCampaign(t, campaignStart, func(t *testing.T, e *campaignEnv) {
		e.cap = care.Cap{Messages: 1, Days: 7}
		a := e.replica("a")
		ids := e.customers(a.st, 4)
		out := true
		if _, err := a.st.UpdateCustomer(e.ctx, ids[0], store.CustomerInput{OptOut: &out}); err != nil {
			t.Fatal(err)
		}
		first := e.campaign(a, `{}`, store.CampaignInput{})
		if _, err := a.svc.Send(e.ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		e.tick(a)
		second := e.campaign(a, `{}`, store.CampaignInput{})
		d, err := a.svc.DryRun(e.ctx, second.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d.Members != 3 || d.OptedOut != 1 || d.WouldSend != 0 || d.Skipped["cap: 1 messages in 7 days"] != 3 {
			t.Errorf("dry run %+v", d)
		}
		// An admin's exemption lifts the cap for this campaign.
		if err := a.svc.SetCapExempt(e.ctx, second.ID, true, &store.Principal{Role: store.RoleAdmin}); err != nil {
			t.Fatal(err)
		}
		if err := a.svc.SetCapExempt(e.ctx, second.ID, true, &store.Principal{Role: store.RoleManager}); store.ErrorCode(err) != store.EFORBIDDEN {
			t.Errorf("manager exempting: %v", err)
		}
		d, err = a.svc.DryRun(e.ctx, second.ID, nil)
		if err != nil || d.WouldSend != 3 || len(d.Sample) != 3 || !strings.Contains(d.Sample[0].Text, "周六试驾") {
			t.Errorf("exempt dry run %+v, %v", d, err)
		}
	})
}
