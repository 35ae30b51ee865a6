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

// TestImportProgress: the progress report counts every row of the
// writing pass, which runs beside the checking pass for customers (bad
// rows as they are found, the file's total once the checking pass has
// counted it), and ends with the whole file; an import with a report
// imports exactly what one without does.
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
		if len(seen) != 1201 {
			t.Fatalf("%d reports, want one per row and the last (1201)", len(seen))
		}
		for i, p := range seen[:1200] {
			if !p.Writing || p.Rows != i+1 || p.Total != 0 && p.Total != 1200 || i > 0 && (p.Bad < seen[i-1].Bad || p.Total < seen[i-1].Total) {
				t.Fatalf("report %d: %+v (before: %+v)", i, p, seen[max(i-1, 0)])
			}
		}
		if diff := cmp.Diff(importer.Progress{Writing: true, Rows: 1200, Total: 1200, Bad: 3}, seen[1200]); diff != "" {
			t.Errorf("last report (-want +got):\n%s", diff)
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
