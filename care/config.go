// Package care runs the scheduled care workflows: birthday, holiday,
// maintenance, survey, revisit and win-back.
package care

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// Workflow is the part every workflow block shares.
type Workflow struct {
	Enabled  *bool  `yaml:"enabled"`
	Schedule string `yaml:"schedule"`
	// Unreachable is what a message does for a customer with no chat
	// identity it can reach: UnreachableSkip, or UnreachableTask — a call
	// task for their owner with the text to say.
	Unreachable string `yaml:"unreachable"`
}

// What a workflow does for a customer it cannot reach by chat.
const (
	UnreachableSkip = "skip"
	UnreachableTask = "task"
)

// On reports whether the workflow is enabled (default yes).
func (w Workflow) On() bool { return w.Enabled == nil || *w.Enabled }

// Config is the `care:` block of config.yaml.
type Config struct {
	Birthday    Workflow `yaml:"birthday"`
	Holiday     Holiday  `yaml:"holiday"`
	Maintenance struct {
		Workflow `yaml:",inline"`
		LeadDays int `yaml:"lead_days"`
	} `yaml:"maintenance"`
	Survey struct {
		Workflow  `yaml:",inline"`
		DelayDays int `yaml:"delay_days"`
		LowScore  int `yaml:"low_score"`
		// AnswerDays is how long a survey accepts an answer.
		AnswerDays int `yaml:"answer_days"`
	} `yaml:"survey"`
	Revisit struct {
		Workflow          `yaml:",inline"`
		AfterPurchaseDays int `yaml:"after_purchase_days"`
		// TierAEveryDays opens a revisit task for a tier-A customer no
		// staff member has written to in this many days (0 = off).
		TierAEveryDays int `yaml:"tier_a_every_days"`
	} `yaml:"revisit"`
	Winback struct {
		Workflow `yaml:",inline"`
		// InactiveDays: a customer who wrote within this many days is in
		// touch and not won back, whatever their stage.
		InactiveDays int `yaml:"inactive_days"`
		// Stages are the computed lifecycle stages win-back reaches
		// (at-risk; churned too if listed).
		Stages []store.Stage `yaml:"stages"`
	} `yaml:"winback"`
	// Lifecycle reacts to changes of customers' stage and tier.
	Lifecycle Lifecycle `yaml:"lifecycle"`
	// PointsExpiry reminds customers whose points are about to expire
	// (when: points.expiry_notice_days before, Options.PointsExpiry).
	PointsExpiry Workflow `yaml:"points_expiry"`
	// CatchUpDays: at start, runs missed in this many past days (and
	// today's, if its time has passed) are run.
	CatchUpDays int `yaml:"catch_up_days"`
	// Cap limits proactive care messages per customer: at most Messages
	// in any Days days, across workflows.
	Cap Cap `yaml:"cap"`
}

// Cap is the per-customer limit on proactive messages.
type Cap struct {
	Messages int `yaml:"messages"` // 0 = no cap
	Days     int `yaml:"days"`
}

// Holiday is the holiday workflow: greetings on configured dates.
type Holiday struct {
	Workflow `yaml:",inline"`
	Dates    map[string]string `yaml:"dates"` // YYYY-MM-DD -> holiday key
	// Names are display names by holiday key, for the template.
	Names map[string]string `yaml:"names"`
	// Segment limits the greeting to a tier and/or tag (default everyone
	// opted in and reachable).
	Segment store.Segment `yaml:"segment"`
}

// DefaultConfig is what an empty block means.
func DefaultConfig() Config {
	var c Config
	c.Birthday.Schedule = "0 9 * * *"
	c.Holiday.Schedule = "0 9 * * *"
	c.Maintenance.Schedule, c.Maintenance.LeadDays = "0 10 * * *", 7
	c.Survey.Schedule, c.Survey.DelayDays, c.Survey.LowScore, c.Survey.AnswerDays = "0 11 * * *", 1, 2, 3
	c.Revisit.Schedule, c.Revisit.AfterPurchaseDays, c.Revisit.TierAEveryDays = "0 8 * * *", 3, 30
	c.Winback.Schedule, c.Winback.InactiveDays = "0 12 * * 1", 90
	c.Winback.Stages = []store.Stage{store.StageAtRisk}
	c.Lifecycle.Schedule = "30 9 * * *"
	c.Lifecycle.Reactions = DefaultReactions()
	// A reminder that something is due and a win-back are worth a call;
	// greetings and surveys to thousands of phone-only customers are not.
	for _, w := range []*Workflow{&c.Birthday, &c.Holiday.Workflow, &c.Survey.Workflow, &c.Lifecycle.Workflow} {
		w.Unreachable = UnreachableSkip
	}
	for _, w := range []*Workflow{&c.Maintenance.Workflow, &c.Revisit.Workflow, &c.Winback.Workflow} {
		w.Unreachable = UnreachableTask
	}
	c.PointsExpiry.Schedule = "0 10 * * *"
	c.CatchUpDays = 2
	c.Cap = Cap{Messages: 2, Days: 7}
	return c
}

// Scheduled is a workflow's config block under its name.
type Scheduled struct {
	Name string
	Workflow
}

// Schedules lists the workflows by name with their blocks, in the order
// docs and errors list them: the one list of care workflows.
func (c Config) Schedules() []Scheduled {
	return []Scheduled{
		{"birthday", c.Birthday}, {"holiday", c.Holiday.Workflow}, {"maintenance", c.Maintenance.Workflow},
		{"survey", c.Survey.Workflow}, {"revisit", c.Revisit.Workflow}, {"winback", c.Winback.Workflow},
		{"lifecycle", c.Lifecycle.Workflow},
		{"points_expiry", c.PointsExpiry},
	}
}

// Workflows are the care workflows' names ("birthday", ...), in order.
func Workflows() []string {
	var names []string
	for _, w := range DefaultConfig().Schedules() {
		names = append(names, w.Name)
	}
	return names
}

// WorkflowList is Workflows for texts: "birthday, holiday, ...".
func WorkflowList() string { return strings.Join(Workflows(), ", ") }

// IsWorkflow reports whether name is a care workflow.
func IsWorkflow(name string) bool { return slices.Contains(Workflows(), name) }

// Validate checks the block; errors name the key.
func (c Config) Validate() error {
	for _, w := range c.Schedules() {
		if _, err := ParseSchedule(w.Schedule); err != nil {
			return fmt.Errorf("care.%s.schedule: %w", w.Name, err)
		}
		switch w.Unreachable {
		case "", UnreachableSkip, UnreachableTask:
		default:
			return fmt.Errorf("care.%s.unreachable: %q is not skip or task", w.Name, w.Unreachable)
		}
	}
	for i, st := range c.Winback.Stages {
		if st != store.StageAtRisk && st != store.StageChurned {
			return fmt.Errorf("care.winback.stages[%d]: %q is not at-risk or churned", i, st)
		}
	}
	if err := c.Lifecycle.validate(); err != nil {
		return err
	}
	for d := range c.Holiday.Dates {
		if _, err := time.Parse("2006-01-02", d); err != nil {
			return fmt.Errorf("care.holiday.dates: %q is not YYYY-MM-DD", d)
		}
	}
	checks := []struct {
		key string
		v   int
		min int
	}{
		{"care.maintenance.lead_days", c.Maintenance.LeadDays, 0},
		{"care.survey.delay_days", c.Survey.DelayDays, 0},
		{"care.survey.low_score", c.Survey.LowScore, 0},
		{"care.revisit.after_purchase_days", c.Revisit.AfterPurchaseDays, 0},
		{"care.winback.inactive_days", c.Winback.InactiveDays, 1},
		{"care.survey.answer_days", c.Survey.AnswerDays, 1},
		{"care.revisit.tier_a_every_days", c.Revisit.TierAEveryDays, 0},
		{"care.catch_up_days", c.CatchUpDays, 0},
		{"care.cap.messages", c.Cap.Messages, 0},
		{"care.cap.days", c.Cap.Days, 0},
	}
	for _, ch := range checks {
		if ch.v < ch.min {
			return fmt.Errorf("%s: must be at least %d", ch.key, ch.min)
		}
	}
	if c.Cap.Messages > 0 && c.Cap.Days < 1 {
		return fmt.Errorf("care.cap.days: must be at least 1 with a cap")
	}
	switch c.Holiday.Segment.Tier {
	case "", store.TierA, store.TierB, store.TierC:
	default:
		return fmt.Errorf("care.holiday.segment.tier: %q is not A, B or C", c.Holiday.Segment.Tier)
	}
	if c.Survey.LowScore > 5 {
		return fmt.Errorf("care.survey.low_score: must be 0-5")
	}
	return nil
}
