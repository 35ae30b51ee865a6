package analytics

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// BenchmarkNightly measures, on MySQL/MariaDB, over RAPPORT_BENCH_CUSTOMERS
// customers (default 20,000; BENCHMARKS.md uses 1,000,000) with five
// orders each on average:
//   - first: the nightly run on a database whose figures were never
//     computed (every customer's figures, tier, stage and history written);
//   - next: the run a day later (only what changed is written);
//   - refresh: 1,000 orders without and with the customer's figures
//     recomputed in the order's transaction, and 1,000 sweep refreshes;
//   - the customer list with figure filters.
//
// The seeded database (rapport_bench_analytics_N) is kept and reused by the
// next run with the same N: seeding a million customers and five million
// orders takes minutes. Its figures are reset before each run.
// RAPPORT_BENCH_PROFILE=FILE writes a CPU profile of the first run;
// RAPPORT_BENCH_SETTLE=1 times the orders again once the server has
// flushed what the nightly run left dirty. RAPPORT_BENCH_BATCH and
// RAPPORT_BENCH_WRITERS set Options.BatchSize and
// Options.Writers. Run
// with -benchtime 1x.
func BenchmarkNightly(b *testing.B) {
	n := envInt("RAPPORT_BENCH_CUSTOMERS", 20000)
	ctx := context.Background()
	asOf := time.Date(2027, 1, 1, 19, 0, 0, 0, time.UTC) // 03:00 in Shanghai
	clock := storetest.NewClock(asOf)
	cfg := benchDatabase(b, n)
	s, err := store.Open(ctx, cfg, store.WithClock(clock.Now))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	raw, err := sql.Open("mysql", cfg.DSN+"?parseTime=true&loc=UTC&interpolateParams=true")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	start := time.Now()
	if seeded := benchSeed(b, raw, n, asOf); seeded {
		b.Logf("seeded %d customers and their orders in %s", n, time.Since(start).Round(time.Second))
	}
	var orders int
	raw.QueryRow("SELECT COUNT(*) FROM orders").Scan(&orders)
	start = time.Now()
	benchReset(b, raw)
	b.Logf("%d customers, %d orders; analytics state reset in %s", n, orders, time.Since(start).Round(time.Millisecond))

	// The run's own log line says how long pass 1 (every order) took.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	svc, err := New(DefaultConfig(), Options{Store: s, Logger: log, Location: shanghai(b), BatchSize: envInt("RAPPORT_BENCH_BATCH", 0), Writers: envInt("RAPPORT_BENCH_WRITERS", 0)})
	if err != nil {
		b.Fatal(err)
	}
	dbPID := serverPID(b, raw)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, phase := range []string{"first", "next"} {
			if phase == "next" {
				clock.Advance(24 * time.Hour)
			}
			resetPeakRSS()
			self0, db0, t0 := storetest.CPUSeconds("self"), storetest.CPUSeconds(dbPID), time.Now()
			stop := func() {}
			if phase == "first" {
				stop = profile(b, os.Getenv("RAPPORT_BENCH_PROFILE"))
			}
			run, err := svc.Nightly(ctx, clock.Now())
			stop()
			if err != nil {
				b.Fatal(err)
			}
			took := time.Since(t0)
			b.ReportMetric(took.Seconds(), phase+"-s")
			b.ReportMetric(storetest.CPUSeconds("self")-self0, phase+"-proc-cpu-s")
			b.ReportMetric(storetest.CPUSeconds(dbPID)-db0, phase+"-db-cpu-s")
			b.ReportMetric(float64(peakRSS())/1024, phase+"-peak-RSS-MB")
			b.Logf("%s run: %d customers, %d rows written, %d stage and %d tier changes in %s; peak RSS %d MB",
				phase, run.Customers, run.Written, run.StageChanges, run.TierChanges, took.Round(time.Millisecond), peakRSS()/1024)
		}
		benchRefresh(b, s, svc, raw, n, clock, "")
		if os.Getenv("RAPPORT_BENCH_SETTLE") != "" {
			// Again once the server has written out what the nightly
			// run left dirty in its buffer pool (for a minute or two it
			// flushes at its I/O capacity, and each commit's fsync
			// waits behind that): an order as it meets the database
			// during the day.
			settle(b, raw)
			benchRefresh(b, s, svc, raw, n, clock, "settled-")
		}
		benchFilters(b, s)
	}
}

// benchRefresh records orders for 1,000 customers spread over the ids,
// one at a time: without the figures hook (the order alone), with it (the
// order and the customer's figures in one transaction, as served), and
// times the sweep's refresh of each customer the plain orders touched, in a
// transaction of its own (the refresh writes their figures and commits).
func benchRefresh(b *testing.B, s *store.Store, svc *Service, raw *sql.DB, n int, clock *storetest.Clock, label string) {
	ctx := context.Background()
	at := clock.Now()
	orders := func(hook bool, tag string) []time.Duration {
		s.OnFigures(nil)
		if hook {
			s.OnFigures(svc.Figures)
		}
		var ds []time.Duration
		for k := range 1000 {
			id := int64(1 + (k*7919+len(tag))%n)
			t0 := time.Now()
			_, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: id, Kind: store.OrderPurchase, Amount: store.Fen(12345), OccurredAt: &at,
				OrderRef: fmt.Sprintf("bench-%s-%d", tag, k)}, time.UTC)
			if err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(t0))
		}
		return ds
	}
	plain, with := orders(false, "plain"), orders(true, "hook")
	// The sweep refreshes the customers the plain orders touched: each
	// refresh writes their new figures and commits, as the sweep does
	// after an order recorded without the hook.
	var sweep []time.Duration
	for k := range 1000 {
		t0 := time.Now()
		if err := svc.Refresh(ctx, int64(1+(k*7919+len("plain"))%n)); err != nil {
			b.Fatal(err)
		}
		sweep = append(sweep, time.Since(t0))
	}
	s.OnFigures(svc.Figures)
	if _, err := raw.Exec("DELETE FROM orders WHERE order_ref LIKE 'bench-%'"); err != nil {
		b.Fatal(err)
	}
	p := func(ds []time.Duration, q float64) float64 {
		slices.Sort(ds)
		return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(p(with, 0.5)-p(plain, 0.5), label+"refresh-in-order-p50-ms")
	b.ReportMetric(p(with, 0.99), label+"order+figures-p99-ms")
	b.ReportMetric(p(sweep, 0.99), label+"sweep-refresh-p99-ms")
	b.Logf(label+"an order alone: p50 %.2f ms, p99 %.2f ms; with its customer's figures in the same transaction: p50 %.2f ms, p99 %.2f ms; "+
		"a sweep's refresh of one customer (own transaction): p50 %.2f ms, p99 %.2f ms",
		p(plain, 0.5), p(plain, 0.99), p(with, 0.5), p(with, 0.99), p(sweep, 0.5), p(sweep, 0.99))
}

// benchFilters times a page of the customer list under figure filters.
func benchFilters(b *testing.B, s *store.Store) {
	ctx := context.Background()
	risk, clv := 60, store.Fen(500000)
	for _, f := range []struct {
		name string
		f    store.CustomerFilter
	}{
		{"rfm_segment=important_value", store.CustomerFilter{RFMSegment: "important_value"}},
		{"churn_risk_min=60", store.CustomerFilter{ChurnRiskMin: &risk}},
		{"clv_min=5000", store.CustomerFilter{CLVMin: &clv}},
		{"tier=A&stage=at-risk", store.CustomerFilter{Tier: store.TierA, Stage: store.StageAtRisk}},
		{"last_order_after=2026-12-25", store.CustomerFilter{LastOrderAfter: time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC)}},
	} {
		var ds []time.Duration
		var got int
		for range 5 {
			t0 := time.Now()
			cs, _, err := s.ListCustomers(ctx, f.f)
			if err != nil {
				b.Fatal(err)
			}
			ds, got = append(ds, time.Since(t0)), len(cs)
		}
		slices.Sort(ds)
		b.Logf("GET /customers?%s: a page of %d in %s (median of 5)", f.name, got, ds[2].Round(100*time.Microsecond))
	}
}

// benchDatabase is the kept database for n customers, created if missing.
func benchDatabase(b *testing.B, n int) store.Config {
	server := storetest.MySQLServerDSN()
	name := fmt.Sprintf("rapport_bench_analytics_%d", n)
	root, err := sql.Open("mysql", server)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	if _, err := root.Exec("CREATE DATABASE IF NOT EXISTS " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		b.Fatalf("MySQL/MariaDB is required at %s: %v", server, err)
	}
	return store.Config{Driver: store.MySQL, DSN: server + name}
}

// benchSeed fills the database with n customers and about 5n orders,
// unless a finished seed is there, and reports whether it seeded. Each
// customer gets 0 (15 %), 1 (20 %) or 2-13 orders at their own interval
// (10-120 days) ending up to 500 days before asOf; amounts 10-5,000 yuan,
// one order in 50 a refund of the order before.
func benchSeed(b *testing.B, db *sql.DB, n int, asOf time.Time) bool {
	var done int
	db.QueryRow("SELECT COUNT(*) FROM bench_seed WHERE customers = ?", n).Scan(&done)
	if done == 1 {
		return false
	}
	for _, q := range []string{"DELETE FROM orders", "DELETE FROM identities", "DELETE FROM customers",
		"CREATE TABLE IF NOT EXISTS bench_seed (customers INT NOT NULL)", "DELETE FROM bench_seed"} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	const batch = 5000
	created := "2026-01-01 00:00:00"
	var cb, ob strings.Builder
	rows := 0
	flushOrders := func() {
		if rows == 0 {
			return
		}
		if _, err := db.Exec(ob.String()); err != nil {
			b.Fatal(err)
		}
		ob.Reset()
		rows = 0
	}
	for lo := 1; lo <= n; lo += batch {
		hi := min(lo+batch-1, n)
		cb.Reset()
		cb.WriteString("INSERT INTO customers (id,name,phone,email,birth_month,birth_day,birth_year,gender,company,source,tier,stage,opt_out,points,locale,city,region,created_at,updated_at) VALUES ")
		for id := lo; id <= hi; id++ {
			if id > lo {
				cb.WriteByte(',')
			}
			optOut := 0
			if mix(id, 9)%40 == 0 {
				optOut = 1
			}
			fmt.Fprintf(&cb, "(%d,'Customer %d','','',0,0,0,'','','import','C','potential',%d,0,'zh-CN','city-%d','',%q,%q)",
				id, id, optOut, id%300, created, created)
			// Orders.
			h := mix(id, 1)
			k := 0
			switch r := h % 100; {
			case r < 15:
			case r < 35:
				k = 1
			default:
				k = 2 + int(mix(id, 2)%12)
			}
			last := asOf.Add(-time.Duration(mix(id, 3)%(500*24)) * time.Hour)
			interval := time.Duration(10+mix(id, 4)%111) * 24 * time.Hour
			var prev int64
			for j := k - 1; j >= 0; j-- {
				at := last.Add(-time.Duration(j) * interval).Add(time.Duration(mix(id, 10+j)%48) * time.Hour)
				fen := int64(1000 + mix(id, 30+j)%499000)
				if j < k-1 && mix(id, 60+j)%50 == 0 {
					fen = -prev
				}
				prev = fen
				if rows == 0 {
					ob.WriteString("INSERT INTO orders (customer_id,kind,amount_fen,occurred_at,order_ref,created_at) VALUES ")
				} else {
					ob.WriteByte(',')
				}
				fmt.Fprintf(&ob, "(%d,'purchase',%d,'%s','',%q)", id, fen, at.Format("2006-01-02 15:04:05"), created)
				if rows++; rows == 10000 {
					flushOrders()
				}
			}
		}
		if _, err := db.Exec(cb.String()); err != nil {
			b.Fatal(err)
		}
		flushOrders() // orders after their customers
	}
	if _, err := db.Exec("INSERT INTO bench_seed (customers) VALUES (?)", n); err != nil {
		b.Fatal(err)
	}
	return true
}

// benchReset forgets every computed figure, so that the first run starts
// from nothing.
func benchReset(b *testing.B, db *sql.DB) {
	for _, q := range []string{"DELETE FROM analytics_runs", "TRUNCATE customer_stats", "TRUNCATE customer_changes", "TRUNCATE customer_touches",
		"DELETE FROM orders WHERE order_ref LIKE 'bench-%'",
		"UPDATE customers SET tier = 'C', stage = 'potential' WHERE tier <> 'C' OR stage <> 'potential'"} {
		if _, err := db.Exec(q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
}

// settle waits (up to ten minutes) until the MariaDB server has no purge
// backlog and has stopped writing out dirty pages: at most 1,000 left, or
// none written for five seconds (a server below its flushing threshold
// keeps the rest in memory).
func settle(b *testing.B, db *sql.DB) {
	start, last, still := time.Now(), int64(-1), 0
	for time.Since(start) < 10*time.Minute {
		st := storetest.ServerStatus(b, db, "Variable_name IN ('Innodb_buffer_pool_pages_dirty', 'Innodb_history_list_length')")
		dirty, history := st["Innodb_buffer_pool_pages_dirty"], st["Innodb_history_list_length"]
		if dirty >= last && last >= 0 {
			still++
		} else {
			still = 0
		}
		last = dirty
		if history <= 1000 && (dirty <= 1000 || still >= 5) {
			b.Logf("settled in %s (%d dirty pages, history %d)", time.Since(start).Round(time.Second), dirty, history)
			return
		}
		time.Sleep(time.Second)
	}
	b.Logf("not settled after ten minutes; measuring anyway")
}

// mix is a deterministic hash of (id, salt).
func mix(id, salt int) uint64 {
	x := uint64(id)*0x9E3779B97F4A7C15 + uint64(salt)*0xBF58476D1CE4E5B9
	x ^= x >> 31
	x *= 0x94D049BB133111EB
	x ^= x >> 29
	return x
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func shanghai(b *testing.B) *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		b.Fatal(err)
	}
	return loc
}

// resetPeakRSS restarts the process's peak resident set size (VmHWM).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is the process's peak resident set size in KiB since the last
// reset.
func peakRSS() int {
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

// profile writes a CPU profile to path until the returned func is called
// (path "": none).
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

// serverPID is the process id of the server the benchmark talks to (other
// mariadbd processes may run on the machine: storetest.ServerPID takes the
// first).
func serverPID(b *testing.B, db *sql.DB) string {
	var path string
	if err := db.QueryRow("SELECT @@pid_file").Scan(&path); err == nil {
		if pid, err := os.ReadFile(path); err == nil {
			return strings.TrimSpace(string(pid))
		}
	}
	b.Log("the server's pid file is not readable: database CPU is that of the first mariadbd/mysqld found")
	return storetest.ServerPID()
}
