package followup

import "testing"

func TestTaskOfKey(t *testing.T) {
	for key, want := range map[string]int64{
		"task:12:assigned:3:1":   12,
		"task:12:escalated:99:4": 12,
		"relay:7:123":            7,
		"task:12":                12,
		"relay_out:7":            0,
		"staff_refused:7":        0,
		"reply:7:help":           0,
		"task:x:assigned":        0,
		"task:-3:overdue:1":      0,
		"":                       0,
		"complaint_ack:5":        0,
	} {
		if got := taskOfKey(key); got != want {
			t.Errorf("taskOfKey(%q) = %d, want %d", key, got, want)
		}
	}
}
