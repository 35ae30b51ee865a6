package care

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// Delivery is an arbitrary audience and message run through care's
// execution — the same streaming, opt-out, reachability, cap, quiet hours,
// WeChat window, rendering and outbox as the workflows — for callers such
// as campaigns, which cmd wires in.
type Delivery struct {
	// Key prefixes every message's idempotency key (Key:customer:Occurrence)
	// and is the outbox workflow, at most 32 bytes ("campaign:12").
	Key        string
	Occurrence string
	// Label names the delivery in metrics and picks its WeChat template
	// message ("campaign"); default Key.
	Label string
	// Audience streams the customers: after < id (< below unless 0), by
	// id, with identities.
	Audience func(ctx context.Context, after, below int64, limit int, d store.Detail) ([]*store.Customer, error)
	// After resumes: customers up to this id were done before.
	After int64
	// Template is the template key; Renderer, when set, renders instead
	// (inline bodies).
	Template string
	Renderer render.Renderer
	// Vars fill the template's .Extra.
	Vars map[string]string
	// CapExempt skips the per-customer cap (messages still count in it).
	CapExempt bool
	DryRun    bool
	// Progress, after each batch, gets the counts so far and the last
	// customer id done; an error stops the delivery.
	Progress func(ctx context.Context, counts *store.CareRun, after int64) error
}

// delivery is a Delivery in execution.
type delivery struct {
	Delivery
	last int64 // last customer id of the batch being processed
}

// Deliver runs d and returns its counts (planned, queued, skipped by
// reason, tasks, duplicates; a dry run's would_queue and sample).
func (s *Service) Deliver(ctx context.Context, d Delivery) (*store.CareRun, error) {
	if d.Key == "" || len(d.Key) > 32 || d.Audience == nil || (d.Template == "" && d.Renderer == nil) {
		return nil, fmt.Errorf("care deliver: key (at most 32 bytes), audience and template are required")
	}
	d.Label = cmp.Or(d.Label, d.Key)
	run := &store.CareRun{Workflow: d.Label, DryRun: d.DryRun, Status: store.RunRunning, SkipReasons: map[string]int{}, StartedAt: s.store.Now()}
	x := &execution{s: s, run: run, workflow: d.Key, day: dayOf(s.Today()), dry: d.DryRun, deliver: &delivery{Delivery: d, last: d.After}}
	if d.DryRun {
		x.detail = store.Plan
	}
	started := time.Now()
	err := x.stream(ctx, [][2]int64{{d.After, 0}}, func(after, below int64, limit int) ([]*store.Customer, error) {
		return d.Audience(ctx, after, below, limit, x.detail)
	}, func(cs []*store.Customer) ([]action, error) {
		// Pages arrive in id order (one reader), so the last one done is
		// the resume point.
		if len(cs) > 0 {
			x.deliver.last = cs[len(cs)-1].ID
		}
		acts := make([]action, len(cs))
		for i, c := range cs {
			acts[i] = action{c: c, template: cmp.Or(d.Template, d.Label), occurrence: d.Occurrence, data: render.Data{Extra: d.Vars}}
		}
		return acts, nil
	})
	s.metrics.duration.WithLabelValues(d.Label).Observe(time.Since(started).Seconds())
	if err != nil {
		return run, fmt.Errorf("care deliver %s: %w", d.Key, err)
	}
	return run, nil
}

func (d *delivery) progress(ctx context.Context, x *execution) error {
	if d.Progress == nil {
		return nil
	}
	return d.Progress(ctx, x.run, d.last)
}

// label names the execution in metrics and WeChat template lookups.
func (x *execution) label() string {
	if x.deliver != nil {
		return x.deliver.Label
	}
	return x.workflow
}

func (x *execution) capExempt() bool { return x.deliver != nil && x.deliver.CapExempt }

// renderText renders an action's text: the delivery's own renderer if it
// has one, else the templates.
func (x *execution) renderText(ctx context.Context, key, locale string, d render.Data) (render.Rendered, error) {
	if x.deliver != nil && x.deliver.Renderer != nil {
		return x.deliver.Renderer.Render(ctx, key, locale, d)
	}
	return x.s.o.Templates.Render(ctx, key, locale, d)
}
