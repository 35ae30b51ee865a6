package care

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// Run runs workflow for the business date of date (its year, month and day
// as given), on request: the CLI and the API call it.
//
// A real run is claimed by its (workflow, date) row: if it is running in
// another process, Run returns that run and sends nothing. Otherwise it
// plans again — a failed run or one whose process died (lease expired)
// resumes, a done one runs again for customers who became due since — and
// the idempotency key of every message and task (workflow, customer,
// occurrence) drops what earlier attempts queued, so nobody gets anything
// twice. A dry run plans and renders without writing messages, tasks or
// surveys, and returns counts and a sample.
//
// A real run for a date after today (business zone) is refused unless
// force is set: it would send that day's messages now, not on that day.
func (s *Service) Run(ctx context.Context, workflow string, date time.Time, dryRun, force bool) (*store.CareRun, error) {
	return s.run(ctx, runRequest{workflow: workflow, date: date, dryRun: dryRun, force: force}, true)
}

// runRequest is what a run is asked to do.
type runRequest struct {
	workflow string
	date     time.Time
	dryRun   bool
	force    bool // run a date after today for real
}

// scheduled is the cron tick's and the start-up catch-up's Run: a run that
// is already done for the date is left alone, so restarts cost one query per
// workflow and day. Their dates are never after today (a tick's own time, or
// a past day), so they skip the future-date check: a test clock behind the
// wall clock must not stop a tick.
//
// With rerun a tick runs a done run again: lifecycle's schedule may fire
// several times a day, each picking up the changes made since.
func (s *Service) scheduled(ctx context.Context, workflow string, date time.Time, rerun bool) (*store.CareRun, error) {
	return s.run(ctx, runRequest{workflow: workflow, date: date, force: true}, rerun)
}

func (s *Service) run(ctx context.Context, req runRequest, rerun bool) (*store.CareRun, error) {
	workflow, dryRun := req.workflow, req.dryRun
	if !IsWorkflow(workflow) {
		return nil, store.Invalid("workflow", "%q is not one of %s", workflow, WorkflowList())
	}
	if req.date.IsZero() {
		return nil, store.Invalid("date", "required")
	}
	d := dayOf(req.date)
	if !dryRun && !req.force && d.utc().After(dayOf(s.Today()).utc()) {
		return nil, &store.Error{Code: store.EINVALID, Field: "date", Message: fmt.Sprintf(
			"date %s is in the future: this would send real messages now; use -dry-run to preview or -force to send anyway", d)}
	}
	run, claimed, err := s.store.ClaimCareRun(ctx, workflow, d.String(), dryRun, rerun, s.o.Holder, s.o.Lease)
	if err != nil {
		return nil, fmt.Errorf("care %s %s: %w", workflow, d, err)
	}
	if !claimed {
		s.metrics.runs.WithLabelValues(workflow, "existing").Inc()
		return run, nil
	}
	started := time.Now()
	// A resumed attempt re-plans from scratch: Queued and Tasks stay
	// cumulative, the rest is recounted.
	run.Planned, run.Skipped, run.Failed, run.Duplicates, run.WouldQueue = 0, 0, 0, 0, 0
	run.SkipReasons = map[string]int{}
	x := &execution{s: s, run: run, workflow: workflow, day: d, dry: dryRun}
	err = x.plan(ctx)
	// Record the end even when ctx was cancelled (shutdown).
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	result := store.RunDone
	msg := ""
	if err != nil {
		result, msg = store.RunFailed, err.Error()
	}
	if ferr := s.store.FinishCareRun(fctx, run, result, msg); ferr != nil && err == nil {
		err = ferr
	}
	s.metrics.duration.WithLabelValues(workflow).Observe(time.Since(started).Seconds())
	label := result
	if dryRun && err == nil {
		label = "dry_run"
	}
	s.metrics.runs.WithLabelValues(workflow, label).Inc()
	if err != nil {
		s.o.Logger.Error("care run failed", "workflow", workflow, "date", d.String(), "run", run.ID, "err", err)
		return run, fmt.Errorf("care %s %s: %w", workflow, d, err)
	}
	s.o.Logger.Info("care run", "workflow", workflow, "date", d.String(), "run", run.ID, "dry_run", dryRun,
		"planned", run.Planned, "queued", run.Queued, "skipped", run.Skipped, "tasks", run.Tasks, "duplicates", run.Duplicates)
	return run, nil
}

// action is what a workflow wants for one customer: a message (template
// rendered for the customer) and/or a staff task.
type action struct {
	c *store.Customer
	// workflow is whose message it is, if not the run's (lifecycle acting
	// as win-back): its key, unreachable rule and WeChat template.
	workflow   string
	template   string // "" = no message
	data       render.Data
	occurrence string // idempotency key of the message (and its survey)
	survey     *store.Survey
	task       *store.TaskInput
	// skip, when set, is why the candidate gets nothing (counted).
	skip string
}

// execution is one attempt of one run.
type execution struct {
	s        *Service
	run      *store.CareRun
	workflow string
	day      day
	dry      bool
	detail   store.Detail // of the customers the workflow reads
	batches  int
	wrote    time.Time // last progress write
	// deliver is set when the execution runs a Delivery (deliver.go).
	deliver *delivery
}

func (x *execution) plan(ctx context.Context) error {
	switch x.workflow {
	case "birthday":
		return x.birthday(ctx)
	case "holiday":
		return x.holiday(ctx)
	case "maintenance":
		return x.maintenance(ctx)
	case "survey":
		return x.survey(ctx)
	case "revisit":
		return x.revisit(ctx)
	case "winback":
		return x.winback(ctx)
	case "lifecycle":
		return x.lifecycle(ctx)
	case "points_expiry":
		return x.pointsExpiry(ctx)
	}
	return fmt.Errorf("unknown workflow %q", x.workflow)
}

func (x *execution) skip(reason string) {
	x.run.Skipped++
	x.run.SkipReasons[reason]++
}

// capLease serialises the cap's read-then-write across runs and replicas,
// one batch at a time, so concurrent runs interleave batches.
const capLease = "care:cap"

// lockCap waits for the cap lease. The lease outlives a holder that dies
// by capLeaseTTL at most.
func (x *execution) lockCap(ctx context.Context) (release func(), err error) {
	holder := store.CutRunes(fmt.Sprintf("%s:%d", x.s.o.Holder, x.run.ID), 64)
	for {
		ok, err := x.s.store.AcquireLease(ctx, capLease, holder, capLeaseTTL)
		if err != nil {
			return nil, fmt.Errorf("cap lease: %w", err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := x.s.store.ReleaseLease(rctx, capLease, holder); err != nil {
			x.s.o.Logger.Warn("release care cap lease", "err", err)
		}
	}, nil
}

// capLeaseTTL bounds one batch's hold on the cap lease.
const capLeaseTTL = 30 * time.Second

// outbound is one message being built in a batch.
type outbound struct {
	a   *action
	out store.Outbound
	// buttons are the labels of a Telegram survey's score buttons.
	buttons []string
}

// process handles one batch of actions: filters (opt-out, reachability,
// cap, WeChat window), renders, then writes messages, surveys, tasks and
// stages, and renews the run's lease.
func (x *execution) process(ctx context.Context, acts []action) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(acts) == 0 {
		return x.progress(ctx) // renews the run's lease
	}
	s := x.s
	if !x.dry && s.cfg.Cap.Messages > 0 {
		// The cap reads who got what lately, then writes: two runs doing
		// that at once (birthday and holiday both at 09:00, or on two
		// replicas) could each see room for one more message.
		release, err := x.lockCap(ctx)
		if err != nil {
			return err
		}
		defer release()
	}
	now := s.store.Now()
	notBefore := s.quiet.deferUntil(now, s.o.Location)
	sendAt := now
	if !notBefore.IsZero() {
		sendAt = notBefore
	}
	x.run.Planned += len(acts)

	// Which customers get a message: the cap needs their recent history.
	// What earlier batches of this run and other runs wrote is in the
	// database (the cap lease orders those writes before this read); what
	// this batch plans is added to recent as it goes, so a customer with
	// two actions here (two assets due) is counted twice. A dry run writes
	// nothing, so it counts earlier batches' plans for nobody: its cap
	// skips are a lower bound where a customer spans batches.
	var ids []int64
	for i := range acts {
		a := &acts[i]
		if a.c.OptOut {
			// Not contacted at all: no message, no task, no call.
			a.template, a.task, a.skip = "", nil, "opted out"
		}
		if a.skip != "" {
			a.template, a.task = "", nil
			x.skip(a.skip)
			continue
		}
		if a.template != "" {
			ids = append(ids, a.c.ID)
		}
	}
	var recent map[int64][]string
	if len(ids) > 0 {
		since := now.AddDate(0, 0, -max(s.cfg.Cap.Days, 0))
		var err error
		if recent, err = s.store.RecentProactive(ctx, ids, since); err != nil {
			return err
		}
	}

	msgs := make([]outbound, 0, len(acts))
	would := 0 // dry run: messages counted beyond the rendered sample
	var tasks []store.TaskInput
	for i := range acts {
		a := &acts[i]
		if a.template == "" {
			if a.task != nil {
				tasks = append(tasks, *a.task)
			}
			continue
		}
		wf := cmp.Or(a.workflow, x.workflow)
		key := wf + ":" + strconv.FormatInt(a.c.ID, 10) + ":" + a.occurrence
		ident := a.c.CareIdentity()
		if ident == nil {
			t, err := x.unreachable(ctx, a, wf, key)
			if err != nil {
				return err
			}
			if t != nil {
				tasks = append(tasks, *t)
			}
			continue
		}
		if a.task != nil {
			tasks = append(tasks, *a.task)
		}
		prior := recent[a.c.ID]
		if slices.Contains(prior, key) {
			x.run.Duplicates++
			continue
		}
		if s.cfg.Cap.Messages > 0 && !x.capExempt() && len(prior) >= s.cfg.Cap.Messages {
			x.skip(fmt.Sprintf("cap: %d messages in %d days", s.cfg.Cap.Messages, s.cfg.Cap.Days))
			continue
		}
		// Outside WeChat's window only the workflow's template message can
		// carry the text (the adapter sends it); without one a person
		// reaches out instead, so no greeting silently vanishes.
		wechatClosed := ident.Channel == store.ChannelWeChat && !store.InWeChatWindow(ident.LastInboundAt, now) && !s.hasWeChatTemplate(x.label())
		if x.dry && len(x.run.Sample) >= s.o.SampleSize {
			// A dry run counts; it renders only its sample.
			if wechatClosed {
				x.skip("wechat 48h window closed: staff task")
			} else {
				would++
				recent[a.c.ID] = append(prior, key)
			}
			continue
		}
		r, buttons, ok, err := x.render(ctx, a, ident.Channel)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		cid, iid := a.c.ID, ident.ID
		o := store.Outbound{
			CustomerID: &cid, IdentityID: &iid, Channel: ident.Channel, ChatID: ident.ExternalID, Text: r.Text,
			IdempotencyKey: key, Workflow: wf, TemplateKey: r.Key, TemplateVersion: r.Version, NotBefore: notBefore,
		}
		o.TemplateKey = cmp.Or(o.TemplateKey, a.template)
		if wechatClosed {
			tasks = append(tasks, store.TaskInput{
				CustomerID: cid, Kind: "reach_out", Priority: "normal",
				Title:    store.Clip(fmt.Sprintf(x.s.staffText("请联系 %s（%s）：微信 48 小时窗口已关闭", "Reach %s (%s): WeChat 48h window closed"), displayName(a.c), wf), 120),
				Detail:   r.Text,
				Source:   "care:" + x.workflow,
				DedupKey: "reach_out:" + key, AssigneeID: a.c.OwnerStaffID,
			})
			x.skip("wechat 48h window closed: staff task")
			x.sample(a.c, ident.Channel, r, "task", notBefore)
			continue
		}
		msgs = append(msgs, outbound{a: a, out: o, buttons: buttons})
		recent[a.c.ID] = append(prior, key)
		x.sample(a.c, ident.Channel, r, "message", notBefore)
	}

	if x.dry {
		x.run.WouldQueue += len(msgs) + would
		return x.progress(ctx)
	}

	// Surveys need their row (and id) before the message's buttons.
	if err := x.attachSurveys(ctx, msgs, sendAt); err != nil {
		return err
	}
	if len(msgs) > 0 {
		items := make([]store.Outbound, len(msgs))
		for i := range msgs {
			items[i] = msgs[i].out
		}
		n, err := x.enqueue(ctx, items)
		if err != nil {
			return err
		}
		x.run.Queued += n
		x.run.Duplicates += len(items) - n
		s.metrics.queued.WithLabelValues(x.label()).Add(float64(n))
	}
	for _, t := range tasks {
		t.Source = cmp.Or(t.Source, "care:"+x.workflow)
		_, created, err := s.store.CreateTask(ctx, t)
		if err != nil {
			return fmt.Errorf("task %s: %w", t.DedupKey, err)
		}
		if created {
			x.run.Tasks++
		}
	}
	return x.progress(ctx)
}

// render renders a's message for a customer on channel ("" for a call
// task), with a Telegram survey's button labels. A text that fails is
// counted and logged, and ok is false: the caller skips the customer.
func (x *execution) render(ctx context.Context, a *action, channel string) (r render.Rendered, buttons []string, ok bool, err error) {
	s := x.s
	a.data.Business = s.o.Business
	a.data.Customer = render.CustomerOf(a.c)
	if x.detail == store.Plan {
		full, err := s.store.CustomersByIDs(ctx, []int64{a.c.ID})
		if err != nil {
			return r, nil, false, err
		}
		if len(full) == 1 {
			a.data.Customer = render.CustomerOf(full[0])
		}
	}
	locale := cmp.Or(a.c.Locale, store.LocaleZH)
	r, rerr := x.renderText(ctx, a.template, locale, a.data)
	if rerr == nil && a.survey != nil && channel == store.ChannelTelegram {
		buttons, rerr = render.Labels(ctx, s.o.Templates, "survey_buttons", locale, a.data, 5)
	}
	if rerr != nil {
		x.run.Failed++
		x.run.SkipReasons["render error"]++
		s.o.Logger.Warn("care render failed", "workflow", x.workflow, "customer", a.c.ID, "template", a.template, "err", rerr)
		return r, nil, false, nil
	}
	return r, buttons, true, nil
}

// unreachable handles a message for a customer with no chat identity care
// can reach (a phone-only import; blocked or unsubscribed everywhere).
// Under the workflow's unreachable: task, the owner gets a call task with
// the text to say — merged into the action's own task if it has one — once
// per occurrence (its dedup key is the message's); otherwise, or with no
// phone to call, it is skipped. Counted by reason either way.
func (x *execution) unreachable(ctx context.Context, a *action, wf, key string) (*store.TaskInput, error) {
	reason := "unreachable"
	if len(a.c.Identities) == 0 {
		reason = "no chat identity"
	}
	if x.s.unreachableRule(wf) != UnreachableTask {
		x.skip(reason)
		return a.task, nil
	}
	if a.c.Phone == "" {
		x.skip(reason + ", no phone")
		return a.task, nil
	}
	x.skip(reason + ": call task")
	if x.dry && len(x.run.Sample) >= x.s.o.SampleSize {
		return nil, nil
	}
	r, _, ok, err := x.render(ctx, a, "")
	if err != nil || !ok {
		return nil, err
	}
	say := x.s.staffText("无法通过聊天联系到客户，请致电 %s 并转达：\n\n%s", "Not reachable in chat: call %s and say:\n\n%s")
	t := a.task
	if t == nil {
		t = &store.TaskInput{
			CustomerID: a.c.ID, Kind: store.TaskCall, Priority: store.PriorityNormal,
			Title:    store.Clip(fmt.Sprintf(x.s.staffText("致电 %s（%s）", "Call %s (%s)"), displayName(a.c), wf), 120),
			Source:   "care:" + x.workflow,
			DedupKey: "call:" + key, AssigneeID: a.c.OwnerStaffID,
		}
	} else {
		cp := *t
		t = &cp
	}
	t.Detail = strings.TrimSpace(t.Detail + "\n\n" + fmt.Sprintf(say, a.c.Phone, r.Text))
	x.sample(a.c, "", r, "task", time.Time{})
	return t, nil
}

// unreachableRule is workflow's unreachable setting (skip when unset).
func (s *Service) unreachableRule(workflow string) string {
	for _, w := range s.cfg.Schedules() {
		if w.Name == workflow {
			return cmp.Or(w.Unreachable, UnreachableSkip)
		}
	}
	return UnreachableSkip
}

// enqueueWriters is how many parts of a batch's messages are written at
// once. Each INSERT runs on one database thread; a big batch written as
// one would keep the database on one core while the other waits.
const enqueueWriters = 2

// enqueue writes a batch's messages in enqueueWriters transactions side
// by side, and returns how many were new. The parts are independent: a
// run that stops between them is resumed, and the idempotency keys drop
// what was written already.
func (x *execution) enqueue(ctx context.Context, items []store.Outbound) (int, error) {
	if len(items) < 2*enqueueMin {
		return x.s.store.Enqueue(ctx, items)
	}
	var wg sync.WaitGroup
	ns := make([]int, enqueueWriters)
	errs := make([]error, enqueueWriters)
	size := (len(items) + enqueueWriters - 1) / enqueueWriters
	for w := range enqueueWriters {
		part := items[min(w*size, len(items)):min((w+1)*size, len(items))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns[w], errs[w] = x.s.store.Enqueue(ctx, part)
		}()
	}
	wg.Wait()
	total := 0
	for w := range enqueueWriters {
		total += ns[w]
	}
	return total, errors.Join(errs...)
}

// enqueueMin is the smallest part worth its own writer.
const enqueueMin = 500

// progress renews the lease and records the counts after a batch.
func (x *execution) progress(ctx context.Context) error {
	// A real run records every batch (a resumed run continues from those
	// counts); a dry run is never resumed, so it writes at most once a
	// second — a write per batch was a tenth of a million-customer dry run.
	if x.deliver != nil {
		if err := x.deliver.progress(ctx, x); err != nil {
			return err
		}
	} else if !x.dry || time.Since(x.wrote) >= time.Second {
		if err := x.s.store.ProgressCareRun(ctx, x.run, x.s.o.Lease); err != nil {
			return err
		}
		x.wrote = time.Now()
	}
	x.batches++
	if x.s.afterBatch != nil {
		x.s.afterBatch(x.run, x.batches)
	}
	return nil
}

func (x *execution) sample(c *store.Customer, channel string, r render.Rendered, action string, notBefore time.Time) {
	if !x.dry || len(x.run.Sample) >= x.s.o.SampleSize {
		return
	}
	sm := store.RunSample{CustomerID: c.ID, Channel: channel, Template: r.Key, Locale: r.Locale, Text: r.Text, Action: action}
	if !notBefore.IsZero() {
		sm.NotBefore = notBefore.Format(time.RFC3339)
	}
	x.run.Sample = append(x.run.Sample, sm)
}

func displayName(c *store.Customer) string {
	if c.Name != "" {
		return c.Name
	}
	if c.Phone != "" {
		return c.Phone
	}
	return "customer " + strconv.FormatInt(c.ID, 10)
}
