package care

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// BenchmarkCare measures the birthday and holiday runs on MySQL over
// RAPPORT_BENCH_CUSTOMERS customers (default 20,000; the BENCHMARKS.md
// numbers use 1,000,000), each with a Telegram identity and a birthday
// spread over the year. Run with -benchtime 1x.
func BenchmarkCare(b *testing.B) {
	n := 20000
	if v := os.Getenv("RAPPORT_BENCH_CUSTOMERS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	clock := storetest.NewClock(at("2027-02-06 10:00"))
	cfg := storetest.Config(b, store.MySQL)
	s := storetest.OpenConfig(b, cfg, store.WithClock(clock.Now))
	start := time.Now()
	seed(b, cfg.DSN, n)
	b.Logf("seeded %d customers + identities in %s", n, time.Since(start).Round(time.Millisecond))

	c := DefaultConfig()
	c.Holiday.Dates = map[string]string{"2027-02-06": "spring_festival"}
	c.Cap.Messages = 0 // the holiday follows the birthday run for some customers
	svc, err := New(c, Options{Store: s, Templates: testRenderer(b), Location: shanghai, Logger: quietLog, BatchSize: benchBatch()})
	if err != nil {
		b.Fatal(err)
	}
	explain(b, cfg.DSN)
	date := at("2027-02-06 09:00")
	dbPID := storetest.ServerPID()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		r, err := svc.Run(ctx, "birthday", date, false, false)
		if err != nil {
			b.Fatal(err)
		}
		bd := time.Since(t0)
		t0 = time.Now()
		self0, db0 := storetest.CPUSeconds("self"), storetest.CPUSeconds(dbPID)
		stop := profile(b, os.Getenv("RAPPORT_BENCH_DRY_PROFILE"))
		dry, err := svc.Run(ctx, "holiday", date, true, false)
		if err != nil {
			b.Fatal(err)
		}
		dd := time.Since(t0)
		stop()
		dryProc, dryDB := storetest.CPUSeconds("self")-self0, storetest.CPUSeconds(dbPID)-db0
		t0 = time.Now()
		self0, db0 = storetest.CPUSeconds("self"), storetest.CPUSeconds(dbPID)
		h, err := svc.Run(ctx, "holiday", date, false, false)
		if err != nil {
			b.Fatal(err)
		}
		hd := time.Since(t0)
		queueProc, queueDB := storetest.CPUSeconds("self")-self0, storetest.CPUSeconds(dbPID)-db0
		// CPU seconds of this process and of the database server per phase:
		// both share the machine's two cores.
		b.ReportMetric(dryProc, "dry-proc-cpu-s")
		b.ReportMetric(dryDB, "dry-db-cpu-s")
		b.ReportMetric(queueProc, "queue-proc-cpu-s")
		b.ReportMetric(queueDB, "queue-db-cpu-s")
		b.ReportMetric(bd.Seconds(), "birthday-s")
		b.ReportMetric(float64(r.Queued), "birthday-queued")
		b.ReportMetric(dd.Seconds(), "holiday-dry-s")
		b.ReportMetric(hd.Seconds(), "holiday-queue-s")
		b.ReportMetric(float64(h.Queued), "holiday-queued")
		b.ReportMetric(float64(vmHWM())/1024, "peak-RSS-MB")
		b.Logf("birthday: %d found, %d queued in %s; holiday dry run: planned %d, would queue %d, %d samples in %s; holiday: %d queued in %s; VmHWM %d MB",
			r.Planned, r.Queued, bd, dry.Planned, dry.WouldQueue, len(dry.Sample), dd, h.Queued, hd, vmHWM()/1024)
	}
}

// seed inserts n customers with identities using multi-row INSERTs.
func seed(b *testing.B, dsn string, n int) {
	db, err := sql.Open("mysql", dsn+"?parseTime=true&loc=UTC&interpolateParams=true")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const batch = 5000
	now := "2026-01-01 00:00:00"
	for lo := 1; lo <= n; lo += batch {
		hi := min(lo+batch-1, n)
		var cb, ib strings.Builder
		cb.WriteString("INSERT INTO customers (id,name,phone,email,birth_month,birth_day,birth_year,gender,company,source,tier,stage,opt_out,points,locale,created_at,updated_at) VALUES ")
		ib.WriteString("INSERT INTO identities (customer_id,channel,external_id,display_name,unreachable,unreachable_reason,created_at) VALUES ")
		for id := lo; id <= hi; id++ {
			if id > lo {
				cb.WriteByte(',')
				ib.WriteByte(',')
			}
			d := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, id%365)
			loc := "zh-CN"
			if id%10 == 0 {
				loc = "en"
			}
			fmt.Fprintf(&cb, "(%d,'Customer %d','',%q,%d,%d,1990,'','','import','C','active',0,0,'%s','%s','%s')",
				id, id, "", int(d.Month()), d.Day(), loc, now, now)
			fmt.Fprintf(&ib, "(%d,'telegram','%d','',0,'','%s')", id, 100000000+id, now)
		}
		if _, err := db.Exec(cb.String()); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec(ib.String()); err != nil {
			b.Fatal(err)
		}
	}
}

// explain logs the birthday query plan: a ref lookup on the birthday index.
func explain(b *testing.B, dsn string) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("EXPLAIN SELECT * FROM customers WHERE birth_month = 2 AND birth_day = 6 AND id > 0 ORDER BY id LIMIT 1000")
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		rows.Scan(ptrs...)
		var sb strings.Builder
		for i, c := range cols {
			fmt.Fprintf(&sb, "%s=%s ", c, vals[i].String)
		}
		b.Logf("EXPLAIN birthday: %s", sb.String())
	}
}

// vmHWM is the process's peak resident set size in KiB.
func vmHWM() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

func benchBatch() int {
	n, _ := strconv.Atoi(os.Getenv("RAPPORT_BENCH_BATCH"))
	return n
}

// profile writes a CPU profile to path until the returned func is called
// (path "" = none): the dry run alone, without seeding and the other runs.
func profile(b *testing.B, path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}
