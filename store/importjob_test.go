package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// TestImportJobs: a job goes queued → checking → writing → done with its
// counts; its first bad rows are kept (at most MaxImportBadRowsKept, one
// reason a line); a job whose process went silent is failed by anyone
// else's sweep, but not one the sweeper runs itself, nor one that ended.
func TestImportJobs(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			clock := storetest.NewClock(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			ann := mustStaff(t, s, "Ann", store.RoleManager)
			if _, err := s.CreateImportJob(ctx, store.ImportJobInput{Kind: "shoes"}); !store.IsCode(err, store.EINVALID) {
				t.Errorf("kind shoes: %v", err)
			}
			j, err := s.CreateImportJob(ctx, store.ImportJobInput{Kind: store.ImportOrders, SkipBadRows: true, FileName: "orders.csv",
				FileBytes: 1234, RowsTotal: 50000, Spool: "/tmp/x/import-1.csv", CreatedBy: &ann.ID})
			if err != nil || j.Status != store.ImportQueued || j.StartedAt != nil {
				t.Fatalf("create: %+v %v", j, err)
			}
			clock.Advance(time.Second)
			if err := s.ProgressImportJob(ctx, j.ID, store.ImportProgress{Status: store.ImportChecking, RowsTotal: 50000, RowsDone: 20000, BadRows: 3}); err != nil {
				t.Fatal(err)
			}
			got, _ := s.ImportJobByID(ctx, j.ID)
			if got.Status != store.ImportChecking || got.RowsDone != 20000 || got.BadRows != 3 || got.StartedAt == nil {
				t.Fatalf("after progress: %+v", got)
			}
			started := *got.StartedAt
			clock.Advance(time.Second)
			s.ProgressImportJob(ctx, j.ID, store.ImportProgress{Status: store.ImportWriting, RowsTotal: 49999, RowsDone: 100, BadRows: 3})
			if got, _ = s.ImportJobByID(ctx, j.ID); !got.StartedAt.Equal(started) || got.Status != store.ImportWriting {
				t.Errorf("started_at moved or status stuck: %+v", got)
			}
			if spools, _ := s.ActiveImportSpools(ctx); !cmp.Equal(spools, []string{"/tmp/x/import-1.csv"}) {
				t.Errorf("active spools = %v", spools)
			}

			bad := make([]store.ImportBadRow, 0, store.MaxImportBadRowsKept+5)
			for i := 0; i < store.MaxImportBadRowsKept+5; i++ {
				bad = append(bad, store.ImportBadRow{Line: i + 2, Reason: fmt.Sprintf("reason %d", i)})
			}
			bad = append(bad[:2], append([]store.ImportBadRow{{Line: 3, Reason: "again"}}, bad[2:]...)...) // line 3 twice
			fin, err := s.FinishImportJob(ctx, j.ID, store.ImportOutcome{Status: store.ImportDone, RowsTotal: 49999, BadRows: len(bad),
				Created: 39000, Duplicates: 994, Written: 39000, Bad: bad})
			if err != nil {
				t.Fatal(err)
			}
			if fin.Status != store.ImportDone || fin.RowsDone != 49999 || fin.BadRowsKept != store.MaxImportBadRowsKept-1 || fin.FinishedAt == nil || fin.Spool != "" {
				t.Errorf("finished: %+v", fin)
			}
			rows, err := s.ImportBadRows(ctx, j.ID, 0, 3)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]store.ImportBadRow{{Line: 2, Reason: "reason 0"}, {Line: 3, Reason: "reason 1"}, {Line: 4, Reason: "reason 2"}}, rows,
				cmpopts.IgnoreFields(store.ImportBadRow{}, "ID", "JobID")); diff != "" {
				t.Errorf("bad rows (-want +got):\n%s", diff)
			}
			rows, _ = s.ImportBadRows(ctx, j.ID, store.MaxImportBadRowsKept-1, 0)
			if len(rows) != 1 || rows[0].Line != store.MaxImportBadRowsKept {
				t.Errorf("last kept rows = %v", rows)
			}
			// Finishing again replaces the kept rows (a retried transaction).
			if fin, err = s.FinishImportJob(ctx, j.ID, store.ImportOutcome{Status: store.ImportDone, RowsTotal: 49999, BadRows: 1, Bad: bad[:1]}); err != nil || fin.BadRowsKept != 1 {
				t.Errorf("finish again: %+v %v", fin, err)
			}
			// Progress after the end changes nothing.
			s.ProgressImportJob(ctx, j.ID, store.ImportProgress{Status: store.ImportWriting, RowsDone: 5})
			if got, _ = s.ImportJobByID(ctx, j.ID); got.Status != store.ImportDone {
				t.Errorf("progress revived an ended job: %+v", got)
			}

			// Silence: jobs of a process that died are failed, the sweeper's own are not.
			dead, _ := s.CreateImportJob(ctx, store.ImportJobInput{Kind: store.ImportCustomers, Spool: "/tmp/x/dead.csv"})
			mine, _ := s.CreateImportJob(ctx, store.ImportJobInput{Kind: store.ImportCustomers, Spool: "/tmp/x/mine.csv"})
			alive, _ := s.CreateImportJob(ctx, store.ImportJobInput{Kind: store.ImportCustomers, Spool: "/tmp/x/alive.csv"})
			clock.Advance(time.Minute)
			if err := s.BeatImportJobs(ctx, []int64{alive.ID}); err != nil {
				t.Fatal(err)
			}
			failed, err := s.FailSilentImportJobs(ctx, clock.Now().Add(-30*time.Second), []int64{mine.ID})
			if err != nil || len(failed) != 1 || failed[0].ID != dead.ID || failed[0].Spool != "/tmp/x/dead.csv" {
				t.Fatalf("sweep: %+v %v", failed, err)
			}
			for id, want := range map[int64]string{dead.ID: store.ImportFailed, mine.ID: store.ImportQueued, alive.ID: store.ImportQueued, j.ID: store.ImportDone} {
				if got, _ := s.ImportJobByID(ctx, id); got.Status != want {
					t.Errorf("job %d: %s, want %s (%s)", id, got.Status, want, got.Error)
				}
			}
			if got, _ := s.ImportJobByID(ctx, dead.ID); got.Spool != "" || got.Error == "" || got.FinishedAt == nil {
				t.Errorf("failed job: %+v", got)
			}
			jobs, next, err := s.ListImportJobs(ctx, store.Page{Limit: 3})
			if err != nil || len(jobs) != 3 || jobs[0].ID != alive.ID || next == "" {
				t.Errorf("list: %v %q %v", jobs, next, err)
			}
			if _, err := s.ImportJobByID(ctx, 9999); !store.IsCode(err, store.ENOTFOUND) {
				t.Errorf("missing job: %v", err)
			}
		})
	}
}
