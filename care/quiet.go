package care

import (
	"fmt"
	"time"
)

// QuietHours is the daily window ("HH:MM" to "HH:MM", in the business
// zone) with no proactive messages; empty strings disable it. It is the
// top-level `quiet_hours:` block of config.yaml.
type QuietHours struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// Validate checks the block; errors name the key.
func (q QuietHours) Validate() error {
	_, err := parseQuiet(q)
	return err
}

// quietWindow is the daily no-send window as minutes after midnight; it may
// wrap past midnight (21:00-09:00). Zero value: disabled.
type quietWindow struct {
	on         bool
	start, end int
}

func parseQuiet(q QuietHours) (quietWindow, error) {
	if q.Start == "" && q.End == "" {
		return quietWindow{}, nil
	}
	if q.Start == "" || q.End == "" {
		return quietWindow{}, fmt.Errorf("quiet_hours: set both start and end, or neither")
	}
	start, err := parseClock(q.Start)
	if err != nil {
		return quietWindow{}, fmt.Errorf("quiet_hours.start: %w", err)
	}
	end, err := parseClock(q.End)
	if err != nil {
		return quietWindow{}, fmt.Errorf("quiet_hours.end: %w", err)
	}
	if start == end {
		return quietWindow{}, nil
	}
	return quietWindow{on: true, start: start, end: end}, nil
}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// deferUntil returns when a proactive message created at now may go out:
// zero if now is outside the window, else the window's end (in loc).
func (q quietWindow) deferUntil(now time.Time, loc *time.Location) time.Time {
	if !q.on {
		return time.Time{}
	}
	local := now.In(loc)
	y, m, d := local.Date()
	mins := local.Hour()*60 + local.Minute()
	endOn := func(dayOffset int) time.Time {
		return time.Date(y, m, d+dayOffset, q.end/60, q.end%60, 0, 0, loc).UTC()
	}
	if q.start < q.end { // same-day window, e.g. 12:00-14:00
		if mins >= q.start && mins < q.end {
			return endOn(0)
		}
		return time.Time{}
	}
	// Wrapping window, e.g. 21:00-09:00.
	switch {
	case mins >= q.start:
		return endOn(1)
	case mins < q.end:
		return endOn(0)
	}
	return time.Time{}
}
