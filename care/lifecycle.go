package care

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// Lifecycle is the lifecycle workflow: it reacts to the stage and tier
// changes analytics records (customer_changes), a run for date D acting on
// the changes of the days its reactions look back to.
type Lifecycle struct {
	Workflow `yaml:",inline"`
	// Reactions are what a change leads to; absent means
	// DefaultReactions, [] none.
	Reactions []Reaction `yaml:"reactions"`
}

// Reaction is what one kind of change leads to: a message (Template) on
// each of Days, a task (Task) for the owner, or what the win-back
// workflow does (Workflow "winback").
type Reaction struct {
	// On is the change: "stage:new", "stage:at-risk", "tier:A", ...
	On string `yaml:"on"`
	// Template is the message's template key ("" = no message).
	Template string `yaml:"template"`
	// Task is the kind of task opened for the owner with the first
	// message ("" = none): revisit, winback, manual, reach_out or call.
	Task string `yaml:"task"`
	// Days are when, in days after the change's date (0 = that day, or
	// the next run), the message goes; default [0].
	Days []int `yaml:"days"`
	// Workflow "winback" does what the win-back workflow does for the
	// customer, under its key: whichever comes first acts, once per
	// inactivity episode.
	Workflow string `yaml:"workflow"`
}

// DefaultReactions: a VIP greeting and a revisit task on promotion to
// tier A, a welcome series on the day after a first order and a week
// later, and win-back as soon as a customer becomes at-risk.
func DefaultReactions() []Reaction {
	return []Reaction{
		{On: "tier:A", Template: "vip_greeting", Task: store.TaskRevisit},
		{On: "stage:new", Template: "welcome_series", Days: []int{1, 7}},
		{On: "stage:at-risk", Workflow: "winback"},
	}
}

// maxReactionDays bounds how far back a reaction looks (a year).
const maxReactionDays = 365

var templateKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// reactionTaskKinds are the task kinds a reaction may open.
var reactionTaskKinds = []string{store.TaskRevisit, store.TaskWinback, store.TaskManual, store.TaskReachOut, store.TaskCall}

// change splits On into the changed field and the value changed to.
func (r Reaction) change() (field, value string, err error) {
	f, v, ok := strings.Cut(strings.TrimSpace(r.On), ":")
	switch {
	case !ok:
	case f == store.FieldStage && store.ValidStage(store.Stage(v)):
		return f, v, nil
	case f == store.FieldTier && (v == string(store.TierA) || v == string(store.TierB) || v == string(store.TierC)):
		return f, v, nil
	}
	return "", "", fmt.Errorf("%q is not stage:STAGE (potential, new, active, at-risk, churned) or tier:A|B|C", r.On)
}

// days are the reaction's day offsets (default [0]).
func (r Reaction) days() []int {
	if len(r.Days) == 0 {
		return []int{0}
	}
	return r.Days
}

func (l Lifecycle) validate() error {
	for i, r := range l.Reactions {
		key := fmt.Sprintf("care.lifecycle.reactions[%d]", i)
		if _, _, err := r.change(); err != nil {
			return fmt.Errorf("%s.on: %w", key, err)
		}
		if r.Template != "" && !templateKeyRE.MatchString(r.Template) {
			return fmt.Errorf("%s.template: %q is not a template key (a-z, 0-9, _)", key, r.Template)
		}
		if r.Task != "" && !slices.Contains(reactionTaskKinds, r.Task) {
			return fmt.Errorf("%s.task: %q is not one of %s", key, r.Task, strings.Join(reactionTaskKinds, ", "))
		}
		switch r.Workflow {
		case "":
			if r.Template == "" && r.Task == "" {
				return fmt.Errorf("%s: set template, task or workflow", key)
			}
		case "winback":
			if r.Template != "" || r.Task != "" || len(r.Days) > 0 {
				return fmt.Errorf("%s.workflow: winback brings its own message and task; leave template, task and days out", key)
			}
		default:
			return fmt.Errorf("%s.workflow: %q is not winback", key, r.Workflow)
		}
		if len(r.Days) > 10 {
			return fmt.Errorf("%s.days: at most 10", key)
		}
		for j, d := range r.Days {
			if d < 0 || d > maxReactionDays {
				return fmt.Errorf("%s.days[%d]: %d is not 0-%d", key, j, d, maxReactionDays)
			}
			if slices.Contains(r.Days[:j], d) {
				return fmt.Errorf("%s.days[%d]: %d is listed twice", key, j, d)
			}
		}
	}
	return nil
}

// lifecycle acts on the changes each reaction looks at: for day offset k
// ≥ 1 the changes made on the run date minus k (a whole day, past), for 0
// those of the run date and the day before (a change made after
// yesterday's run is met today). Every message and task is keyed by the
// change row (one per occurrence) and the template and day, so runs that
// see a change twice — windows overlap, reruns, replicas — act once.
func (x *execution) lifecycle(ctx context.Context) error {
	loc := x.s.o.Location
	for _, r := range x.s.cfg.Lifecycle.Reactions {
		field, value, err := r.change()
		if err != nil {
			return err
		}
		for i, k := range r.days() {
			from, until := x.day.add(-k).start(loc), x.day.add(-k+1).start(loc)
			if k == 0 {
				from = x.day.add(-1).start(loc)
			}
			var after int64
			for {
				chs, err := x.s.store.ChangesTo(ctx, field, value, from, until, after, x.s.o.BatchSize)
				if err != nil {
					return err
				}
				if len(chs) == 0 {
					break
				}
				acts, err := x.react(ctx, r, field, value, k, i == 0, chs)
				if err != nil {
					return err
				}
				if err := x.process(ctx, acts); err != nil {
					return err
				}
				if len(chs) < x.s.o.BatchSize {
					break
				}
				after = chs[len(chs)-1].ID
			}
		}
	}
	return nil
}

// react builds the actions of reaction r to a batch of its changes, on day
// offset k (first: the reaction's first day, which opens its task).
func (x *execution) react(ctx context.Context, r Reaction, field, value string, k int, first bool, chs []store.CustomerChange) ([]action, error) {
	byID, err := x.customers(ctx, func(yield func(int64)) {
		for _, ch := range chs {
			yield(ch.CustomerID)
		}
	})
	if err != nil {
		return nil, err
	}
	var last map[int64]time.Time
	if r.Workflow == "winback" {
		if last, err = x.s.store.LastOrders(ctx, slices.Collect(maps.Keys(byID))); err != nil {
			return nil, err
		}
	}
	acts := make([]action, 0, len(chs))
	for _, ch := range chs {
		c := byID[ch.CustomerID]
		if c == nil {
			continue // merged into another since
		}
		// A customer who moved on since (bought again, was demoted) is no
		// longer who the reaction is for.
		now := string(c.Stage)
		if field == store.FieldTier {
			now = string(c.Tier)
		}
		if now != value {
			acts = append(acts, action{c: c, skip: "no longer " + r.On})
			continue
		}
		if r.Workflow == "winback" {
			o, ok := last[c.ID]
			acts = append(acts, x.winbackAction(c, o, ok))
			continue
		}
		a := action{c: c, template: r.Template,
			occurrence: strconv.FormatInt(ch.ID, 10) + ":" + r.Template + ":d" + strconv.Itoa(k),
			data:       render.Data{Extra: map[string]string{"day": strconv.Itoa(k), "change": r.On}}}
		if r.Task != "" && first {
			due := x.day.add(1).start(x.s.o.Location).UTC()
			a.task = &store.TaskInput{
				CustomerID: c.ID, Kind: r.Task, Priority: store.PriorityNormal,
				Title: store.Clip(fmt.Sprintf(x.s.staffText("跟进 %s：%s 变为 %s", "Follow up %s: %s is now %s"),
					displayName(c), x.s.staffText(fieldName(field), field), value), 120),
				DueAt: &due, Source: "care:lifecycle", AssigneeID: c.OwnerStaffID,
				DedupKey: "lifecycle:" + r.Task + ":" + strconv.FormatInt(ch.ID, 10),
			}
			on := ch.At.In(x.s.o.Location).Format("2006-01-02")
			a.task.Detail = render.Pick(x.s.o.StaffLocale,
				fmt.Sprintf("%s于 %s 由 %q 变为 %q（%s）。", fieldName(field), on, ch.From, value, ch.Reason),
				fmt.Sprintf("The %s changed from %q to %q on %s (%s).", field, ch.From, value, on, ch.Reason))
		}
		acts = append(acts, a)
	}
	return acts, nil
}

// fieldName is a changed field as staff read it in Chinese.
func fieldName(field string) string {
	if field == store.FieldTier {
		return "等级"
	}
	return "阶段"
}
