package care

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// TestNextRuns: each enabled workflow's next fire time in the business
// zone, soonest first; a disabled one is not listed.
func TestNextRuns(t *testing.T) {
	c := DefaultConfig()
	off := false
	c.Holiday.Enabled = &off
	svc, err := New(c, Options{Store: storetest.Open(t, store.SQLite), Templates: testRenderer(t), Location: shanghai, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	// Wednesday 2 December 2026, 09:30 in Shanghai.
	now := time.Date(2026, 12, 2, 1, 30, 0, 0, time.UTC)
	var got []string
	for _, r := range svc.NextRuns(now) {
		if r.At.Location() != shanghai {
			t.Errorf("%s at %v: not in the business zone", r.Workflow, r.At)
		}
		got = append(got, r.Workflow+" "+r.At.Format("2006-01-02 15:04")+" "+r.Schedule)
	}
	want := []string{
		"maintenance 2026-12-02 10:00 0 10 * * *",
		"points_expiry 2026-12-02 10:00 0 10 * * *",
		"survey 2026-12-02 11:00 0 11 * * *",
		"revisit 2026-12-03 08:00 0 8 * * *",
		"birthday 2026-12-03 09:00 0 9 * * *",
		"lifecycle 2026-12-03 09:30 30 9 * * *",
		"winback 2026-12-07 12:00 0 12 * * 1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("next runs (-want +got):\n%s", diff)
	}
}
