// Package analytics learns from what customers do: every customer's
// figures (orders, spend, intervals), ABC tier, RFM scores and segment,
// lifetime value, churn risk and lifecycle stage. A nightly job recomputes
// everyone (Run); an order, a survey answer or a complaint recomputes
// that one customer at once (Refresh). docs/analytics.md states the
// models. It stands on store and meets the other packages only in cmd.
package analytics

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Config is the `analytics:` block of config.yaml.
type Config struct {
	// Schedule is when the nightly recompute runs (5-field cron, business
	// time zone).
	Schedule string `yaml:"schedule"`
	// WindowMonths is the window of the figures "orders" and "spend" (and
	// so of tier, F and M).
	WindowMonths int `yaml:"window_months"`
	// AShare and BShare split customers by spend in the window: A while
	// the share of spend before a customer is below AShare, B below
	// AShare+BShare, C after.
	AShare float64 `yaml:"a_share"`
	BShare float64 `yaml:"b_share"`
	// NewDays: a customer is new this long after a first and only order.
	NewDays int `yaml:"new_days"`
	// AtRiskFactor: a repeat buyer is at risk when no order came for this
	// many times their typical interval; InactiveDays is the same for a
	// one-time buyer; ChurnedDays without an order is churned.
	AtRiskFactor float64 `yaml:"at_risk_factor"`
	InactiveDays int     `yaml:"inactive_days"`
	ChurnedDays  int     `yaml:"churned_days"`
}

// DefaultConfig is what an empty block means.
func DefaultConfig() Config {
	return Config{Schedule: "0 3 * * *", WindowMonths: 12, AShare: 0.7, BShare: 0.2,
		NewDays: 30, AtRiskFactor: 2, InactiveDays: 90, ChurnedDays: 365}
}

// Validate checks every value and names the key of the first bad one.
func (c Config) Validate() error {
	if _, err := parseSchedule(c.Schedule); err != nil {
		return fmt.Errorf("analytics.schedule: %w", err)
	}
	switch {
	case c.WindowMonths < 1 || c.WindowMonths > 120:
		return fmt.Errorf("analytics.window_months: %d is not 1-120", c.WindowMonths)
	case !(c.AShare > 0 && c.AShare <= 1):
		return fmt.Errorf("analytics.a_share: %v is not above 0 and at most 1", c.AShare)
	case !(c.BShare >= 0 && c.AShare+c.BShare <= 1+1e-9):
		return fmt.Errorf("analytics.b_share: %v must be 0 or more, with a_share at most 1 together", c.BShare)
	case c.NewDays < 1:
		return fmt.Errorf("analytics.new_days: must be at least 1")
	case !(c.AtRiskFactor >= 1 && c.AtRiskFactor <= 100):
		return fmt.Errorf("analytics.at_risk_factor: %v is not 1-100", c.AtRiskFactor)
	case c.InactiveDays < 1:
		return fmt.Errorf("analytics.inactive_days: must be at least 1")
	case c.ChurnedDays <= c.InactiveDays || c.ChurnedDays <= c.NewDays:
		return fmt.Errorf("analytics.churned_days: %d must be more than inactive_days (%d) and new_days (%d)", c.ChurnedDays, c.InactiveDays, c.NewDays)
	case c.ChurnedDays > 36500:
		return fmt.Errorf("analytics.churned_days: %d is more than 100 years", c.ChurnedDays)
	}
	return nil
}

// parseSchedule parses a 5-field cron spec, refusing one that never fires;
// robfig/cron panics on some malformed input ("CRON_TZ=UTC").
func parseSchedule(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if p := recover(); p != nil {
			sched, err = nil, fmt.Errorf("%q is not a cron spec", spec)
		}
	}()
	sched, err = cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", spec, err)
	}
	if sched.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("%q never fires", spec)
	}
	return sched, nil
}
