package analytics

import (
	"strings"
	"testing"
)

// Every bad value of the analytics block is refused, naming its key.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		set func(*Config)
		key string
	}{
		{func(c *Config) { c.Schedule = "daily" }, "analytics.schedule"},
		{func(c *Config) { c.Schedule = "CRON_TZ=UTC" }, "analytics.schedule"},
		{func(c *Config) { c.Schedule = "0 3 31 2 *" }, "analytics.schedule"},
		{func(c *Config) { c.WindowMonths = 0 }, "analytics.window_months"},
		{func(c *Config) { c.AShare = 0 }, "analytics.a_share"},
		{func(c *Config) { c.AShare = 1.5 }, "analytics.a_share"},
		{func(c *Config) { c.BShare = -0.1 }, "analytics.b_share"},
		{func(c *Config) { c.AShare, c.BShare = 0.8, 0.3 }, "analytics.b_share"},
		{func(c *Config) { c.NewDays = 0 }, "analytics.new_days"},
		{func(c *Config) { c.AtRiskFactor = 0.5 }, "analytics.at_risk_factor"},
		{func(c *Config) { c.InactiveDays = 0 }, "analytics.inactive_days"},
		{func(c *Config) { c.ChurnedDays = 90 }, "analytics.churned_days"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.set(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tt.key+":") {
			t.Errorf("%+v: %v, want an error naming %s", c, err, tt.key)
		}
	}
}
