// Package report answers the managers' reports (overview, lifecycle,
// care, satisfaction, complaints, staff, campaigns, points) for a period of business days
// beside the period before it, as JSON sections and as CSV. It reads
// daily figures (store.DailyFigure) that it computes itself: every day
// once it is over (nightly, through a hook cmd wires into the analytics
// job), today every few minutes (Schedule), and any day a report needs
// that was never computed, when it is asked for. It stands on store and
// meets the other packages only in cmd.
package report

import (
	"fmt"
	"time"
)

// Config is the `reports:` block of config.yaml.
type Config struct {
	// Refresh is how often today's figures are recomputed.
	Refresh time.Duration `yaml:"refresh"`
	// AttributionDays: a care message's replies and orders count until
	// the end of this many business days after the day it was sent; the
	// figures of a day are final once that has passed.
	AttributionDays int `yaml:"attribution_days"`
	// BackfillDays: the nightly job computes missing days this far back
	// (never before the first customer).
	BackfillDays int `yaml:"backfill_days"`
}

// DefaultConfig is what an empty block means.
func DefaultConfig() Config {
	return Config{Refresh: 5 * time.Minute, AttributionDays: 7, BackfillDays: 400}
}

// Validate checks every value and names the key of the first bad one.
func (c Config) Validate() error {
	switch {
	case c.Refresh < 10*time.Second || c.Refresh > 24*time.Hour:
		return fmt.Errorf("reports.refresh: %v is not 10s-24h", c.Refresh)
	case c.AttributionDays < 0 || c.AttributionDays > 90:
		return fmt.Errorf("reports.attribution_days: %d is not 0-90", c.AttributionDays)
	case c.BackfillDays < 0 || c.BackfillDays > 3660:
		return fmt.Errorf("reports.backfill_days: %d is not 0-3660", c.BackfillDays)
	}
	return nil
}
