package followup

import (
	"fmt"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// Config is the `followup:` block of config.yaml.
type Config struct {
	// ComplaintWords in a customer message open a complaint task
	// (case-insensitive substring match).
	ComplaintWords []string `yaml:"complaint_words"`
	// ComplaintDue is how soon a complaint (or survey recovery) task is due.
	ComplaintDue time.Duration `yaml:"complaint_due"`
	// EscalateAfter is the grace after a task's due time before managers
	// are told.
	EscalateAfter time.Duration `yaml:"escalate_after"`
	// DigestTime is when managers get the daily digest, HH:MM in the
	// business time zone; empty turns the digest off.
	DigestTime string `yaml:"digest_time"`
	// ConsoleURL is the console base for "Open in console" links; empty =
	// the console link shows the task in chat instead.
	ConsoleURL string `yaml:"console_url"`
	// StaffLocale is the language of texts sent to staff.
	StaffLocale string `yaml:"staff_locale"`
	// Interval is how often the loop looks for new, overdue and
	// escalated tasks.
	Interval time.Duration `yaml:"interval"`
}

// DefaultConfig is the block with nothing set.
func DefaultConfig() Config {
	return Config{
		ComplaintWords: []string{"投诉", "差评", "退款", "退货", "complaint", "complain", "refund"},
		ComplaintDue:   2 * time.Hour,
		EscalateAfter:  24 * time.Hour,
		DigestTime:     "18:00",
		StaffLocale:    "zh-CN",
		Interval:       5 * time.Second,
	}
}

// Validate checks the block; errors name the key.
func (c Config) Validate() error {
	if c.ComplaintDue <= 0 {
		return fmt.Errorf("followup.complaint_due: must be positive")
	}
	if c.EscalateAfter < 0 {
		return fmt.Errorf("followup.escalate_after: must not be negative")
	}
	if c.DigestTime != "" {
		if _, err := time.Parse("15:04", c.DigestTime); err != nil {
			return fmt.Errorf("followup.digest_time: %q is not HH:MM", c.DigestTime)
		}
	}
	if c.ConsoleURL != "" && !strings.HasPrefix(c.ConsoleURL, "http://") && !strings.HasPrefix(c.ConsoleURL, "https://") {
		return fmt.Errorf("followup.console_url: %q is not an http(s) URL", c.ConsoleURL)
	}
	switch c.StaffLocale {
	case "", store.LocaleZH, store.LocaleEN:
	default:
		return fmt.Errorf("followup.staff_locale: %q is not zh-CN or en", c.StaffLocale)
	}
	if c.Interval < 0 {
		return fmt.Errorf("followup.interval: must not be negative")
	}
	for i, w := range c.ComplaintWords {
		if strings.TrimSpace(w) == "" {
			return fmt.Errorf("followup.complaint_words[%d]: empty", i)
		}
	}
	return nil
}
