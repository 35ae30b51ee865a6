package importer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/importer"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// runJobs starts a runner on s until the test ends.
func runJobs(t *testing.T, s *store.Store, opt importer.JobOptions) *importer.Jobs {
	t.Helper()
	if opt.Dir == "" {
		opt.Dir = t.TempDir()
	}
	opt.Beat = 20 * time.Millisecond
	j := importer.NewJobs(s, opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- j.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return j
}

// ended waits for a job to end.
func ended(t *testing.T, s *store.Store, id int64) *store.ImportJob {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := s.ImportJobByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == store.ImportDone || j.Status == store.ImportFailed {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d still %s", id, j.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func spools(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	return files
}

// TestImportJobs: a job imports its spooled file in the background, keeps
// its bad rows, and leaves no file behind; without skipping bad rows it
// fails and writes nothing.
func TestImportJobs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		dir := t.TempDir()
		jobs := runJobs(t, s, importer.JobOptions{Dir: dir})
		csv := "name,phone,birthday\n甲,13800000001,1990-01-02\n乙,13800000002,1990-02-30\n丙,13800000003,\n,,\n"
		j, err := jobs.Submit(ctx, store.ImportJobInput{Kind: store.ImportCustomers, FileName: "c.csv"}, strings.NewReader(csv))
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != store.ImportQueued || j.RowsTotal != 4 || j.FileBytes != int64(len(csv)) || j.FileName != "c.csv" {
			t.Errorf("submitted: %+v", j)
		}
		got := ended(t, s, j.ID)
		if got.Status != store.ImportFailed || got.Written != 0 || got.BadRows != 2 || got.BadRowsKept != 2 || !strings.Contains(got.Error, "2 bad rows") {
			t.Errorf("without skip: %+v", got)
		}
		if cs, _, _ := s.ListCustomers(ctx, store.CustomerFilter{}); len(cs) != 0 {
			t.Errorf("%d customers written", len(cs))
		}

		j, _ = jobs.Submit(ctx, store.ImportJobInput{Kind: store.ImportCustomers, SkipBadRows: true}, strings.NewReader(csv))
		got = ended(t, s, j.ID)
		if got.Status != store.ImportDone || got.Written != 2 || got.Created != 2 || got.RowsTotal != 4 || got.RowsDone != 4 ||
			got.BadRows != 2 || got.StartedAt == nil || got.FinishedAt == nil || got.Error != "" {
			t.Errorf("with skip: %+v", got)
		}
		bad, _ := s.ImportBadRows(ctx, j.ID, 0, 0)
		if len(bad) != 2 || bad[0].Line != 3 || !strings.Contains(bad[0].Reason, "1990-02-30") || bad[1].Line != 5 {
			t.Errorf("bad rows = %+v", bad)
		}
		// Opening points balances import as a job too.
		j, _ = jobs.Submit(ctx, store.ImportJobInput{Kind: store.ImportPoints}, strings.NewReader("customer_phone,points,reason\n13800000001,500,旧系统积分\n"))
		if got = ended(t, s, j.ID); got.Status != store.ImportDone || got.Written != 1 {
			t.Errorf("points: %+v", got)
		}
		cs, _, _ := s.ListCustomers(ctx, store.CustomerFilter{})
		var sum int64
		for _, c := range cs {
			sum += c.Points
		}
		if sum != 500 {
			t.Errorf("points on record %d, want the opening balance of 500", sum)
		}
		// A header the importer refuses fails the job with the reason.
		j, _ = jobs.Submit(ctx, store.ImportJobInput{Kind: store.ImportOrders}, strings.NewReader("shoe_size\n42\n"))
		if got = ended(t, s, j.ID); got.Status != store.ImportFailed || !strings.Contains(got.Error, "shoe_size") {
			t.Errorf("bad header: %+v", got)
		}
		waitFor(t, "spool files removed", func() bool { return len(spools(t, dir)) == 0 })
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestImportJobLimits: an empty file, one over the row limit, an unknown
// kind and a process full of jobs are refused, and leave no file.
func TestImportJobLimits(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	dir := t.TempDir()
	// Not running: submitted jobs wait, so the process fills up.
	jobs := importer.NewJobs(s, importer.JobOptions{Dir: dir, MaxJobs: 2, MaxRows: 3})
	for _, c := range []struct {
		kind, body, field string
	}{
		{"customers", "", "file"},
		{"customers", "name\na\nb\nc\nd\n", "file"},
		{"shoes", "name\na\n", "kind"},
	} {
		_, err := jobs.Submit(ctx, store.ImportJobInput{Kind: c.kind}, strings.NewReader(c.body))
		var se *store.Error
		if !errors.As(err, &se) || se.Code != store.EINVALID || se.Field != c.field {
			t.Errorf("%s %q: %v, want invalid %s", c.kind, c.body, err, c.field)
		}
	}
	for i := 0; i < 2; i++ {
		if _, err := jobs.Submit(ctx, store.ImportJobInput{Kind: "customers"}, strings.NewReader("name\na\nb\nc")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := jobs.Submit(ctx, store.ImportJobInput{Kind: "customers"}, strings.NewReader("name\na\n")); !store.IsCode(err, store.EUNAVAILABLE) {
		t.Errorf("third job: %v", err)
	}
	if n := len(spools(t, dir)); n != 2 {
		t.Errorf("%d spool files, want the 2 waiting jobs'", n)
	}
}

// TestImportJobsAfterACrash: at start, a job whose process died (silent
// for longer than Silence) is failed and its spool file removed, and so
// is an old spool file no job uses; a fresh one (an upload in flight) and
// another live process's job are left alone. Stopping fails the jobs
// still waiting.
func TestImportJobsAfterACrash(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) { testImportJobsAfterACrash(t, d) })
	}
}

func testImportJobsAfterACrash(t *testing.T, dialect string) {
	ctx := context.Background()
	clock := storetest.NewClock(time.Now())
	s := storetest.Open(t, dialect, store.WithClock(clock.Now))
	dir := t.TempDir()
	file := func(name string, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("name\nx\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		os.Chtimes(p, old, old)
		return p
	}
	deadSpool := file("import-dead.csv", time.Hour)
	orphan := file("import-orphan.csv", time.Hour)
	inFlight := file("import-inflight.csv", 0)
	liveSpool := file("import-live.csv", time.Hour)
	dead, _ := s.CreateImportJob(ctx, store.ImportJobInput{Kind: store.ImportCustomers, Spool: deadSpool})
	s.ProgressImportJob(ctx, dead.ID, store.ImportProgress{Status: store.ImportWriting, RowsTotal: 1, RowsDone: 1})
	clock.Advance(time.Minute)
	live, _ := s.CreateImportJob(ctx, store.ImportJobInput{Kind: store.ImportCustomers, Spool: liveSpool})

	runJobs(t, s, importer.JobOptions{Dir: dir, Silence: 30 * time.Second})
	if got := ended(t, s, dead.ID); got.Status != store.ImportFailed || !strings.Contains(got.Error, "upload it again") {
		t.Errorf("dead job: %+v", got)
	}
	waitFor(t, "the dead job's and the orphan's files removed", func() bool {
		_, e1 := os.Stat(deadSpool)
		_, e2 := os.Stat(orphan)
		return os.IsNotExist(e1) && os.IsNotExist(e2)
	})
	for _, p := range []string{inFlight, liveSpool} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if got, _ := s.ImportJobByID(ctx, live.ID); got.Status != store.ImportQueued {
		t.Errorf("another process's live job: %+v", got)
	}

	// Stopping with a job waiting behind a long one: both end, and say so.
	s2 := storetest.Open(t, store.SQLite)
	jobs := importer.NewJobs(s2, importer.JobOptions{Dir: t.TempDir()})
	var rows strings.Builder
	rows.WriteString("name,phone\n")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&rows, "客户%d,1390000%04d\n", i, i)
	}
	first, _ := jobs.Submit(ctx, store.ImportJobInput{Kind: store.ImportCustomers}, strings.NewReader(rows.String()))
	second, _ := jobs.Submit(ctx, store.ImportJobInput{Kind: store.ImportCustomers}, strings.NewReader("name\nx\n"))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- jobs.Run(runCtx) }()
	waitFor(t, "the first job under way", func() bool {
		j, _ := s2.ImportJobByID(ctx, first.ID)
		jobs.Freshen(j)
		return j.Status != store.ImportQueued && j.RowsDone > 0
	})
	cancel()
	<-done
	for _, id := range []int64{first.ID, second.ID} {
		got, _ := s2.ImportJobByID(ctx, id)
		if got.Status == store.ImportFailed && !strings.Contains(got.Error, "shut down") {
			t.Errorf("job %d: %+v", id, got)
		}
		if got.Status != store.ImportFailed && got.Status != store.ImportDone {
			t.Errorf("job %d left %s", id, got.Status)
		}
	}
	if got, _ := s2.ImportJobByID(ctx, second.ID); got.Status != store.ImportFailed {
		t.Errorf("waiting job at shutdown: %+v", got)
	}
}
