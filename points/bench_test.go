package points_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/rapport-crm/rapport/points"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// BenchmarkYearEndExpiry measures, on MySQL/MariaDB, the expiry at the
// start of 2027 (Shanghai) over RAPPORT_BENCH_CUSTOMERS customers (default
// 20,000; the target is stated for 1,000,000) with 10 ledger entries each:
// five credits of 100 earned in 2025 (expiring now), three of 50 earned in
// 2026, two redemptions of 120; so 260 of each balance of 410 expire. The
// seed is kept between runs (one database per size); each run first undoes
// the previous expiry. Reports seconds and the process's peak RSS.
func BenchmarkYearEndExpiry(b *testing.B) {
	n := envInt("RAPPORT_BENCH_CUSTOMERS", 20000)
	ctx := context.Background()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	cfg, raw := benchDB(b, fmt.Sprintf("rapport_bench_points_%d", n))
	s, err := store.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if seedLedger(b, raw, n) {
		b.Logf("seeded %d customers, %d entries in %s", n, 10*n, time.Since(start).Round(time.Second))
	}
	at := time.Date(2027, 1, 1, 0, 0, 0, 0, sh)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for _, q := range []string{"DELETE FROM points_entries WHERE kind = 'expire'", "DELETE FROM points_expiry_batches", "UPDATE customers SET points = 410"} {
			if _, err := raw.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
		// The undo of that DELETE is purged in the background: wait, so the
		// run does not compete with it.
		for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
			var h int64
			if raw.QueryRow("SELECT count FROM information_schema.INNODB_METRICS WHERE name = 'trx_rseg_history_len'").Scan(&h) != nil || h < 1000 {
				break
			}
		}
		resetPeakRSS()
		b.StartTimer()
		t0 := time.Now()
		res, err := s.ExpirePoints(ctx, at)
		took := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if res.Customers != n || res.Points != 260*int64(n) {
			b.Fatalf("expired %+v, want %d customers and %d points", res, n, 260*n)
		}
		b.ReportMetric(took.Seconds(), "s/run")
		b.ReportMetric(float64(peakRSS())/1024, "peak-RSS-MB")
		b.Logf("expired %d points of %d customers (%d blocks) in %s; peak RSS %d MB", res.Points, res.Customers, res.Blocks, took.Round(time.Millisecond), peakRSS()/1024)
	}
	b.StopTimer()
	var bad int
	raw.QueryRow("SELECT COUNT(*) FROM customers WHERE points <> 150").Scan(&bad)
	if bad != 0 {
		b.Fatalf("%d balances are not 150 after the expiry", bad)
	}
}

// BenchmarkRedeem measures one redemption (voucher, conditional debit,
// ledger entry, stock) under 32 concurrent redeemers on MySQL/MariaDB,
// each for its own customer (RAPPORT_BENCH_REDEEMERS changes how many);
// reports p50 and p99 latency, the rate, and per redemption the server's
// statements and CPU (see load) and this process's CPU.
func BenchmarkRedeem(b *testing.B) {
	ctx := context.Background()
	const dbName = "rapport_bench_points_redeem"
	cfg, raw := benchDB(b, dbName)
	s, err := store.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	workers := envInt("RAPPORT_BENCH_REDEEMERS", 32)
	var ids []int64
	for i := range workers {
		c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr(fmt.Sprintf("R%d", i))})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.AdjustPoints(ctx, store.SystemActor(), c.ID, store.PointsAdjustment{Points: 1_000_000_000, Reason: "bench"}); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	// Unlimited, as most rewards: a stock is one row every redemption of
	// the reward updates, which serialises them (BENCHMARKS.md).
	r, err := s.CreateReward(ctx, store.RewardInput{Name: ptr("维修券"), Points: ptr(int64(10)), Value: ptr(store.Fen(5000))})
	if err != nil {
		b.Fatal(err)
	}
	// Warm up: every connection of the pool open, so the server threads
	// measured below are the same at the start and the end.
	var warm sync.WaitGroup
	for w := range workers {
		warm.Add(1)
		go func() {
			defer warm.Done()
			for range 4 {
				if _, err := s.Redeem(ctx, store.SystemActor(), ids[w], store.Redemption{RewardID: r.ID}); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	warm.Wait()
	var mu sync.Mutex
	var lat []time.Duration
	before := serverLoad(b, raw, dbName)
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + workers - 1) / workers
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, per)
			for range per {
				t0 := time.Now()
				if _, err := s.Redeem(ctx, store.SystemActor(), ids[w], store.Redemption{RewardID: r.ID}); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()
	after := serverLoad(b, raw, dbName)
	n := float64(len(lat))
	// Server-wide: other work on a shared server counts too.
	b.ReportMetric(float64(after.questions-before.questions-3)/n, "server-stmts/op")
	if before.serverCPU >= 0 && after.serverCPU >= 0 {
		b.ReportMetric(float64((after.serverCPU-before.serverCPU).Microseconds())/n, "server-cpu-us/op")
		// Threads that serve the pool's connections only: the statements'
		// own work, without the redo log's and other clients'.
		b.ReportMetric(float64(after.connCPUSince(before).Microseconds())/n, "conn-cpu-us/op")
	}
	b.ReportMetric(float64((after.clientCPU-before.clientCPU).Microseconds())/n, "go-cpu-us/op")
	b.ReportMetric(n/after.at.Sub(before.at).Seconds(), "redeems/s")
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// load is what the server and this process have done so far: the
// server's statements (all clients: other work on the server counts too),
// its CPU time, the CPU time of the server threads serving this
// benchmark's connections (MariaDB's processlist gives their thread ids),
// and this process's CPU time. Server CPU is -1 when the server is not on
// this machine.
type load struct {
	at                   time.Time
	questions            int64
	serverCPU, clientCPU time.Duration
	// connCPU is by server thread id: a thread may have served other
	// connections before (the server keeps a thread cache), so only the
	// difference over one thread counts.
	connCPU map[int64]time.Duration
}

// connCPUSince is the CPU time the pool's server threads spent since l.
func (l load) connCPUSince(before load) time.Duration {
	var d time.Duration
	for tid, t := range l.connCPU {
		if t0, ok := before.connCPU[tid]; ok {
			d += t - t0
		}
	}
	return d
}

func serverLoad(b *testing.B, db *sql.DB, dbName string) load {
	l := load{at: time.Now(), serverCPU: -1, connCPU: map[int64]time.Duration{}}
	var name string
	if err := db.QueryRow("SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &l.questions); err != nil {
		b.Fatal(err)
	}
	var pidFile string
	db.QueryRow("SELECT @@pid_file").Scan(&pidFile)
	if raw, err := os.ReadFile(pidFile); err == nil {
		pid := strings.TrimSpace(string(raw))
		if t, ok := procCPU("/proc/" + pid + "/stat"); ok {
			l.serverCPU = t
			rows, err := db.Query("SELECT tid FROM information_schema.processlist WHERE db = ?", dbName)
			if err != nil {
				b.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var tid int64
				if rows.Scan(&tid) == nil {
					if t, ok := procCPU(fmt.Sprintf("/proc/%s/task/%d/stat", pid, tid)); ok {
						l.connCPU[tid] = t
					}
				}
			}
		}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	l.clientCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return l
}

// procCPU is the user and system time in a /proc stat file: fields 14
// and 15, after the ")" that ends the command name, in ticks of 10 ms.
func procCPU(path string) (time.Duration, bool) {
	stat, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond, true
}

func benchDB(b *testing.B, name string) (store.Config, *sql.DB) {
	server := storetest.MySQLServerDSN()
	root, err := sql.Open("mysql", server)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	if _, err := root.Exec("CREATE DATABASE IF NOT EXISTS " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		b.Fatalf("MySQL/MariaDB is required at %s: %v", server, err)
	}
	raw, err := sql.Open("mysql", server+name+"?parseTime=true&loc=UTC")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { raw.Close() })
	return store.Config{Driver: store.MySQL, DSN: server + name}, raw
}

// seedLedger writes n customers and their 10 entries each with multi-row
// INSERTs, unless a finished seed of that size is there.
func seedLedger(b *testing.B, db *sql.DB, n int) bool {
	var done int
	db.QueryRow("SELECT COUNT(*) FROM bench_seed WHERE customers = ?", n).Scan(&done)
	if done == 1 {
		return false
	}
	for _, q := range []string{"DELETE FROM points_entries", "DELETE FROM points_expiry_batches", "DELETE FROM customers",
		"CREATE TABLE IF NOT EXISTS bench_seed (customers INT NOT NULL)", "DELETE FROM bench_seed"} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	const block = 1000
	exp27, exp28 := "2026-12-31 16:00:00", "2027-12-31 16:00:00"
	for lo := 1; lo <= n; lo += block {
		hi := min(lo+block-1, n)
		var cb, eb strings.Builder
		cb.WriteString("INSERT INTO customers (id,name,points,created_at,updated_at) VALUES ")
		eb.WriteString("INSERT INTO points_entries (customer_id,kind,points,reason,created_at,expires_at) VALUES ")
		for id := lo; id <= hi; id++ {
			if id > lo {
				cb.WriteByte(',')
				eb.WriteByte(',')
			}
			fmt.Fprintf(&cb, "(%d,'C%d',410,'2025-01-01','2025-01-01')", id, id)
			for j := range 5 {
				fmt.Fprintf(&eb, "(%d,'earn',100,'purchase order','2025-%02d-01',%q),", id, j+2, exp27)
			}
			for j := range 3 {
				fmt.Fprintf(&eb, "(%d,'earn',50,'service order','2026-%02d-01',%q),", id, j+2, exp28)
			}
			fmt.Fprintf(&eb, "(%d,'redeem',-120,'维修券','2025-09-01',NULL),(%d,'redeem',-120,'维修券','2026-09-01',NULL)", id, id)
		}
		if _, err := db.Exec(cb.String()); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec(eb.String()); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.Exec("INSERT INTO bench_seed (customers) VALUES (?)", n); err != nil {
		b.Fatal(err)
	}
	return true
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// resetPeakRSS restarts the process's peak resident set size (VmHWM).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is the process's peak resident set size in KiB since the reset.
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

var _ = points.Boundary
