package main

import (
	"strings"
	"testing"
	"time"
)

func TestFollowupConfig(t *testing.T) {
	cfg := DefaultConfig()
	err := ParseConfig([]byte("followup:\n  complaint_words: [\"差评\"]\n  complaint_due: 90m\n  escalate_after: 12h\n  digest_time: \"17:30\"\n"), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Followup
	if f.ComplaintDue != 90*time.Minute || f.EscalateAfter != 12*time.Hour || f.DigestTime != "17:30" || len(f.ComplaintWords) != 1 || f.Interval != 5*time.Second {
		t.Errorf("parsed %+v", f)
	}
	for body, want := range map[string]string{
		"followup:\n  digest_time: \"25:00\"\n": "followup.digest_time",
		"followup:\n  colour: red\n":            "followup.colour",
		"followup:\n  complaint_due: 0s\n":      "followup.complaint_due",
		"followup:\n  console_url: ftp://x\n":   "followup.console_url",
	} {
		cfg := DefaultConfig()
		if err := ParseConfig([]byte(body), &cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error naming %s", body, err, want)
		}
	}
}
