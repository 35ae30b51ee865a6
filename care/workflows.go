package care

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// birthday greets customers born on the run's month and day, through the
// (birth_month, birth_day) index; Feb 29 birthdays are greeted on Feb 28 in
// common years. One greeting per customer per year.
func (x *execution) birthday(ctx context.Context) error {
	pairs := [][2]int{{x.day.m, x.day.d}}
	if x.day.m == 2 && x.day.d == 28 && !isLeap(x.day.y) {
		pairs = append(pairs, [2]int{2, 29})
	}
	occ := strconv.Itoa(x.day.y)
	for _, p := range pairs {
		err := x.stream(ctx, nil, func(after, _ int64, limit int) ([]*store.Customer, error) {
			return x.s.store.CustomersByBirthday(ctx, p[0], p[1], after, limit)
		}, perCustomer(func(c *store.Customer) action {
			return action{c: c, template: "birthday", occurrence: occ}
		}))
		if err != nil {
			return err
		}
	}
	return nil
}

// holiday greets everyone in the configured segment on a configured date.
func (x *execution) holiday(ctx context.Context) error {
	key, ok := x.s.cfg.Holiday.Dates[x.day.String()]
	if !ok {
		return nil // not a holiday: nothing to do
	}
	name := cmp.Or(x.s.cfg.Holiday.Names[key], key)
	occ := key + ":" + x.day.String()
	// Everyone is a lot of customers: read two halves of the id range at
	// once (the database does the reading, this process the rest).
	lo, hi, err := x.s.store.CustomerIDBounds(ctx)
	if err != nil || hi == 0 {
		return err
	}
	mid := lo + (hi-lo)/2 + 1
	parts := [][2]int64{{lo - 1, mid}, {mid - 1, 0}}
	if x.dry {
		// Deciding who would get what needs no names or birthdays; the
		// few samples are read again in full to be rendered.
		x.detail = store.Plan
	}
	return x.stream(ctx, parts, func(after, below int64, limit int) ([]*store.Customer, error) {
		return x.s.store.CustomersInSegmentBelow(ctx, x.s.cfg.Holiday.Segment, after, below, limit, x.detail)
	}, perCustomer(func(c *store.Customer) action {
		return action{c: c, template: "holiday", occurrence: occ, data: render.Data{Holiday: &render.Holiday{Key: key, Name: name}}}
	}))
}

// stream reads customers in pages with fetch over the id ranges parts
// (keyset: after < id, and id < below unless below is 0; nil parts: all)
// side by side,
// turns each page into actions with build and processes them, a page at
// a time in whatever order pages arrive (each message's idempotency key
// makes order moot). Reading runs a page ahead of processing, overlapping
// database and CPU time.
func (x *execution) stream(ctx context.Context, parts [][2]int64, fetch func(after, below int64, limit int) ([]*store.Customer, error), build func([]*store.Customer) ([]action, error)) error {
	limit := x.s.o.BatchSize
	if parts == nil {
		parts = [][2]int64{{0, 0}}
	}
	type page struct {
		cs  []*store.Customer
		err error
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan page, len(parts))
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func(after, below int64) {
			defer wg.Done()
			for {
				cs, err := fetch(after, below, limit)
				if err == nil && fctx.Err() != nil {
					return
				}
				select {
				case pages <- page{cs, err}:
				case <-fctx.Done():
					return
				}
				if err != nil || len(cs) < limit {
					return
				}
				after = cs[len(cs)-1].ID
			}
		}(p[0], p[1])
	}
	go func() { wg.Wait(); close(pages) }()
	defer func() {
		cancel()
		for range pages { // let the readers finish
		}
	}()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		acts, err := build(p.cs)
		if err == nil {
			err = x.process(ctx, acts)
		}
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// perCustomer builds one action per customer, for stream.
func perCustomer(f func(*store.Customer) action) func([]*store.Customer) ([]action, error) {
	return func(cs []*store.Customer) ([]action, error) {
		acts := make([]action, len(cs))
		for i, c := range cs {
			acts[i] = f(c)
		}
		return acts, nil
	}
}

func idsOf(cs []*store.Customer) []int64 {
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

// maintenanceLookback is how long after its due date an unserviced asset
// still gets its (one) reminder, e.g. when the service was down.
const maintenanceLookback = 30

// maintenance reminds about assets due within lead_days: one reminder per
// asset and due date, so a recorded service (which moves the due date)
// starts a new cycle.
func (x *execution) maintenance(ctx context.Context) error {
	from := x.day.add(-maintenanceLookback).utc()
	to := x.day.add(x.s.cfg.Maintenance.LeadDays).utc()
	var afterDue time.Time
	var afterID int64
	for {
		as, err := x.s.store.AssetsDue(ctx, from, to, afterDue, afterID, x.s.o.BatchSize)
		if err != nil {
			return err
		}
		if len(as) == 0 {
			return nil
		}
		byID, err := x.customers(ctx, func(yield func(int64)) {
			for _, a := range as {
				yield(a.CustomerID)
			}
		})
		if err != nil {
			return err
		}
		acts := make([]action, 0, len(as))
		for _, a := range as {
			c := byID[a.CustomerID]
			if c == nil || a.NextServiceDue == nil {
				continue
			}
			due := dayOf(*a.NextServiceDue)
			acts = append(acts, action{
				c: c, template: "maintenance", occurrence: strconv.FormatInt(a.ID, 10) + ":" + due.String(),
				data: render.Data{
					Asset: &render.Asset{Name: a.Name, DueDate: due.start(x.s.o.Location)},
					Extra: map[string]string{"due_date": due.String()},
				},
			})
		}
		if err := x.process(ctx, acts); err != nil {
			return err
		}
		if len(as) < x.s.o.BatchSize {
			return nil
		}
		last := as[len(as)-1]
		afterDue, afterID = *last.NextServiceDue, last.ID
	}
}

// customers loads the distinct customers named by ids.
func (x *execution) customers(ctx context.Context, ids func(yield func(int64))) (map[int64]*store.Customer, error) {
	seen := map[int64]bool{}
	var list []int64
	ids(func(id int64) {
		if !seen[id] {
			seen[id] = true
			list = append(list, id)
		}
	})
	cs, err := x.s.store.CustomersByIDs(ctx, list)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]*store.Customer, len(cs))
	for _, c := range cs {
		out[c.ID] = c
	}
	return out, nil
}

// ordersOn streams the orders of one business day in batches, handing each
// batch's distinct customers (in order of first appearance) to fn.
func (x *execution) ordersOn(ctx context.Context, d day, kind string, fn func(cs []*store.Customer, from time.Time) error) error {
	loc := x.s.o.Location
	from, to := d.start(loc), d.add(1).start(loc)
	var after int64
	for {
		os, err := x.s.store.OrdersBetween(ctx, from, to, kind, after, x.s.o.BatchSize)
		if err != nil {
			return err
		}
		if len(os) == 0 {
			return nil
		}
		byID, err := x.customers(ctx, func(yield func(int64)) {
			for _, o := range os {
				yield(o.CustomerID)
			}
		})
		if err != nil {
			return err
		}
		var cs []*store.Customer
		seen := map[int64]bool{}
		for _, o := range os {
			if c := byID[o.CustomerID]; c != nil && !seen[c.ID] {
				seen[c.ID] = true
				cs = append(cs, c)
			}
		}
		if err := fn(cs, from); err != nil {
			return err
		}
		if len(os) < x.s.o.BatchSize {
			return nil
		}
		after = os[len(os)-1].ID
	}
}

// survey asks customers who ordered delay_days before the run date for a
// 1-5 score: one survey per customer and order date.
func (x *execution) survey(ctx context.Context) error {
	od := x.day.add(-x.s.cfg.Survey.DelayDays)
	return x.ordersOn(ctx, od, "", func(cs []*store.Customer, _ time.Time) error {
		acts := make([]action, len(cs))
		// Read-only, so every action of the batch shares it.
		extra := map[string]string{"order_date": od.String()}
		for i, c := range cs {
			acts[i] = action{
				c: c, template: "survey", occurrence: od.String(),
				survey: &store.Survey{OrderDate: od.String()},
				data:   render.Data{Survey: &render.Survey{OrderDate: od.start(x.s.o.Location)}, Extra: extra},
			}
		}
		return x.process(ctx, acts)
	})
}

// revisit opens follow-up tasks for the owner (no customer message):
// after_purchase_days after a customer's first purchase, and every
// tier_a_every_days for tier-A customers no staff member wrote to.
func (x *execution) revisit(ctx context.Context) error {
	cfg := x.s.cfg.Revisit
	due := x.day.add(1).start(x.s.o.Location).UTC()
	pd := x.day.add(-cfg.AfterPurchaseDays)
	err := x.ordersOn(ctx, pd, store.OrderPurchase, func(cs []*store.Customer, from time.Time) error {
		before, err := x.s.store.HadPurchaseBefore(ctx, idsOf(cs), from)
		if err != nil {
			return err
		}
		var acts []action
		for _, c := range cs {
			if before[c.ID] {
				continue // not a first purchase
			}
			acts = append(acts, action{c: c, task: &store.TaskInput{
				CustomerID: c.ID, Kind: "revisit", Priority: "normal",
				Title:  store.Clip(fmt.Sprintf(x.s.staffText("回访 %s：%s 首次购买", "Revisit %s: first purchase on %s"), displayName(c), pd), 120),
				Detail: fmt.Sprintf(x.s.staffText("%s 首次购买，回访了解使用情况。", "First purchase on %s; follow up on how it is going."), pd),
				DueAt:  &due, Source: "care:revisit", DedupKey: "revisit:first:" + strconv.FormatInt(c.ID, 10),
				AssigneeID: c.OwnerStaffID,
			}})
		}
		return x.process(ctx, acts)
	})
	if err != nil || cfg.TierAEveryDays <= 0 {
		return err
	}
	every := cfg.TierAEveryDays
	now := x.s.store.Now()
	since := now.AddDate(0, 0, -every)
	cycle := strconv.FormatInt(x.day.utc().Unix()/86400/int64(every), 10)
	return x.stream(ctx, nil, func(after, _ int64, limit int) ([]*store.Customer, error) {
		return x.s.store.CustomersInSegment(ctx, store.Segment{Tier: store.TierA}, after, limit)
	}, func(cs []*store.Customer) ([]action, error) {
		contacted, err := x.s.store.StaffContacted(ctx, idsOf(cs), since)
		if err != nil {
			return nil, err
		}
		var acts []action
		for _, c := range cs {
			if contacted[c.ID] || c.CreatedAt.After(since) {
				continue
			}
			acts = append(acts, action{c: c, task: &store.TaskInput{
				CustomerID: c.ID, Kind: "revisit", Priority: "normal",
				Title:  store.Clip(fmt.Sprintf(x.s.staffText("回访 A 类客户 %s：%d 天无员工联系", "Revisit tier-A customer %s: no staff contact in %d days"), displayName(c), every), 120),
				Detail: fmt.Sprintf(x.s.staffText("自 %s 起没有员工联系。", "No message from staff since %s."), since.In(x.s.o.Location).Format("2006-01-02")),
				DueAt:  &due, Source: "care:revisit", DedupKey: "revisit:a:" + strconv.FormatInt(c.ID, 10) + ":" + cycle,
				AssigneeID: c.OwnerStaffID,
			}})
		}
		return acts, nil
	})
}

// winback reaches customers whose lifecycle stage (as analytics computes
// it, or as pinned) is one of winback.stages — at-risk by default — and
// who have not written within inactive_days: a care message and a task for
// the owner. The stage is the figures', never set here.
func (x *execution) winback(ctx context.Context) error {
	return x.stream(ctx, nil, func(after, _ int64, limit int) ([]*store.Customer, error) {
		return x.s.store.CustomersInStages(ctx, x.s.cfg.Winback.Stages, after, limit)
	}, func(cs []*store.Customer) ([]action, error) {
		last, err := x.s.store.LastOrders(ctx, idsOf(cs))
		if err != nil {
			return nil, err
		}
		acts := make([]action, len(cs))
		for i, c := range cs {
			o, ok := last[c.ID]
			acts[i] = x.winbackAction(c, o, ok)
		}
		return acts, nil
	})
}

// winbackAction is what win-back does for c, whose last order (if any,
// ok) was at lastOrder: the workflow and the lifecycle reaction to
// at-risk share it. The occurrence is the inactivity episode (the date of
// the last order or message), so the weekly run and the reaction act once
// until the customer is active again.
func (x *execution) winbackAction(c *store.Customer, lastOrder time.Time, ok bool) action {
	loc := x.s.o.Location
	days := x.s.cfg.Winback.InactiveDays
	if c.LastInboundAt != nil && !c.LastInboundAt.Before(x.day.add(-days).start(loc)) {
		return action{c: c, skip: "in touch"}
	}
	lastAt := c.LastInboundAt
	if ok && (lastAt == nil || lastOrder.After(*lastAt)) {
		lastAt = &lastOrder
	}
	episode := "never"
	if lastAt != nil {
		episode = lastAt.In(loc).Format("2006-01-02")
	}
	key := "winback:" + strconv.FormatInt(c.ID, 10) + ":" + episode
	return action{c: c, workflow: "winback", template: "winback", occurrence: episode, task: &store.TaskInput{
		CustomerID: c.ID, Kind: store.TaskWinback, Priority: store.PriorityNormal,
		Title:  store.Clip(fmt.Sprintf(x.s.staffText("挽回 %s：%s，自 %s 起无互动", "Win back %s: %s, inactive since %s"), displayName(c), c.Stage, episode), 120),
		Detail: fmt.Sprintf(x.s.staffText("阶段 %s；%d 天没有消息。", "Stage %s; no message for %d days."), c.Stage, days),
		Source: "care:winback", DedupKey: key, AssigneeID: c.OwnerStaffID,
	}}
}

// pointsExpiry reminds, on the day Options.PointsExpiry names, every
// customer with points that expire at that instant of how many and when:
// once per customer and expiry (the occurrence), through the cap, quiet
// hours and opt-outs like every care message.
func (x *execution) pointsExpiry(ctx context.Context) error {
	if x.s.o.PointsExpiry == nil {
		return nil
	}
	at, ok := x.s.o.PointsExpiry(x.day.start(x.s.o.Location))
	if !ok {
		return nil
	}
	occ := "points:" + at.UTC().Format(time.RFC3339)
	// The last day they can be used, for the text.
	last := at.Add(-time.Second)
	var after int64
	for {
		amounts, ids, err := x.s.store.ExpiringCustomers(ctx, at, after, x.s.o.BatchSize)
		if err != nil || len(ids) == 0 {
			return err
		}
		cs, err := x.s.store.CustomersByIDs(ctx, ids)
		if err != nil {
			return err
		}
		byID := make(map[int64]*store.Customer, len(cs))
		for _, c := range cs {
			byID[c.ID] = c
		}
		acts := make([]action, 0, len(ids))
		for i, id := range ids {
			c := byID[id]
			if c == nil {
				continue // merged away meanwhile
			}
			acts = append(acts, action{c: c, template: "points_expiry", occurrence: occ,
				data: render.Data{Points: &render.Points{Balance: c.Points, Expiring: amounts[i].Points, ExpiringOn: last}}})
		}
		if err := x.process(ctx, acts); err != nil {
			return err
		}
		if len(ids) < x.s.o.BatchSize {
			return nil
		}
		after = ids[len(ids)-1]
	}
}
