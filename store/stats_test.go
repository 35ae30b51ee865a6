package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// TestWriteFiguresFresh: rows written as fresh (no stats row when the batch
// was read) are inserted; where an event made the row meanwhile, the row is
// still written over older figures and kept over fresher ones.
func TestWriteFiguresFresh(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		run := time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)
		ids := map[string]int64{}
		for _, name := range []string{"none", "older", "newer"} {
			c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: &name})
			if err != nil {
				t.Fatal(err)
			}
			ids[name] = c.ID
		}
		// Rows made after the batch's read: an older recompute's, and a
		// refresh fresher than the run.
		before := []*store.CustomerStats{
			{CustomerID: ids["older"], Orders: 1, TierComputed: store.TierC, StageComputed: store.StageNew, FiguresAt: run.Add(-time.Hour)},
			{CustomerID: ids["newer"], Orders: 7, TierComputed: store.TierA, StageComputed: store.StageActive, FiguresAt: run.Add(time.Hour)},
		}
		if _, err := s.WriteFigures(ctx, store.FigureWrite{Stats: before, At: run}); err != nil {
			t.Fatal(err)
		}
		var fresh []*store.CustomerStats
		for _, name := range []string{"none", "older", "newer"} {
			fresh = append(fresh, &store.CustomerStats{CustomerID: ids[name], Orders: 3, TierComputed: store.TierB, StageComputed: store.StageActive, FiguresAt: run})
		}
		if _, err := s.WriteFigures(ctx, store.FigureWrite{Fresh: fresh, At: run}); err != nil {
			t.Fatalf("fresh rows over existing ones: %v", err)
		}
		rows, err := s.FigureRows(ctx, 0, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, r := range rows {
			for name, id := range ids {
				if r.ID == id && r.Stats != nil {
					got[name] = r.Stats.Orders
				}
			}
		}
		want := map[string]int{"none": 3, "older": 3, "newer": 7}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("orders by customer (-want +got):\n%s", diff)
		}
	})
}
