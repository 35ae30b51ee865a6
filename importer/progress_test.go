package importer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/importer"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// TestImportProgress: the progress report counts every row of each pass,
// the bad ones as they are found, and the file's total in the writing
// pass; an import with a report imports exactly what one without does.
func TestImportProgress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var b strings.Builder
		b.WriteString("name,phone,birthday\n")
		for i := 0; i < 1200; i++ {
			birthday := "1990-01-02"
			if i%400 == 7 {
				birthday = "1990-02-30" // 3 bad rows
			}
			fmt.Fprintf(&b, "客户%04d,1380000%04d,%s\n", i, i, birthday)
		}
		var seen []importer.Progress
		res, err := importer.CustomersWith(ctx, s, strings.NewReader(b.String()), importer.Options{SkipBad: true,
			Progress: func(p importer.Progress) { seen = append(seen, p) }})
		if err != nil {
			t.Fatal(err)
		}
		if res.Rows != 1200 || res.Created != 1197 || len(res.Rejected) != 3 {
			t.Fatalf("result = %+v", res)
		}
		if len(seen) != 2400 {
			t.Fatalf("%d reports, want one per row per pass (2400)", len(seen))
		}
		want := []importer.Progress{
			{Rows: 1, Total: 0, Bad: 0},
			{Rows: 1200, Total: 0, Bad: 3},
			{Writing: true, Rows: 1, Total: 1200, Bad: 3},
			{Writing: true, Rows: 1200, Total: 1200, Bad: 3},
		}
		if diff := cmp.Diff(want, []importer.Progress{seen[0], seen[1199], seen[1200], seen[2399]}); diff != "" {
			t.Errorf("reports (-want +got):\n%s", diff)
		}
		for i := 1; i < len(seen); i++ {
			if seen[i].Writing == seen[i-1].Writing && (seen[i].Rows != seen[i-1].Rows+1 || seen[i].Bad < seen[i-1].Bad) {
				t.Fatalf("report %d after %d: %+v then %+v", i, i-1, seen[i-1], seen[i])
			}
		}

		// Without skip: the checking pass only, then nothing written.
		seen = nil
		res, err = importer.OrdersWith(ctx, s, strings.NewReader("customer_phone,kind,amount,occurred_at\n13800000001,purchase,1,2026-01-01\n13800000001,gift,1,2026-01-01\n"),
			time.UTC, importer.Options{Progress: func(p importer.Progress) { seen = append(seen, p) }})
		if err != nil || res.Written != 0 || len(res.Rejected) != 1 {
			t.Fatalf("orders = %+v %v", res, err)
		}
		if diff := cmp.Diff([]importer.Progress{{Rows: 1}, {Rows: 2}}, seen); diff != "" {
			t.Errorf("orders reports (-want +got):\n%s", diff)
		}
	})
}
