package main

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/bots/telegram/telegramtest"
	"github.com/rapport-crm/rapport/store/storetest"
)

// BenchmarkReportsHTTP is each report as a manager's dashboard meets it:
// the real `rapport serve` binary on the database BenchmarkReports in
// package report seeded and computed (rapport_bench_report_N, N =
// $RAPPORT_BENCH_CUSTOMERS, default 20,000: run that benchmark first),
// every report for December 2026 beside November requested over HTTP from
// this process, $RAPPORT_BENCH_CALLS times each (default 100): one report
// at a time, then as the dashboard asks, all at once, round after round.
// Reports p50 and p99 per report and mode.
//
// The server's own background work starts a minute after it does (the
// reports loop; the analytics catch-up when a nightly run was missed), so
// the second mode may meet it; read its numbers with that in mind.
func BenchmarkReportsHTTP(b *testing.B) {
	n := envInt(b, "RAPPORT_BENCH_CUSTOMERS", 20000)
	calls := envInt(b, "RAPPORT_BENCH_CALLS", 100)
	server := storetest.MySQLServerDSN()
	name := fmt.Sprintf("rapport_bench_report_%d", n)
	db, err := sql.Open("mysql", server+name)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var days int
	if err := db.QueryRow("SELECT COUNT(*) FROM report_days").Scan(&days); err != nil || days == 0 {
		b.Fatalf("%s has no computed days (%v): run `RAPPORT_BENCH_CUSTOMERS=%d go test ./report -run '^$' -bench BenchmarkReports -benchtime 1x` first", name, err, n)
	}
	bin, err := benchBinary()
	if err != nil {
		b.Fatal(err)
	}
	r := startReplica(b, bin, server+name, telegramtest.New(b).URL())
	r.waitReady(b, 0)
	reports := []string{"overview", "lifecycle", "care", "satisfaction", "complaints", "staff", "campaigns", "points"}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(reports)}, Timeout: 30 * time.Second}
	get := func(report string) (time.Duration, error) {
		req, _ := http.NewRequest("GET", r.base+"/api/v1/reports/"+report+"?from=2026-12-01&to=2026-12-31", nil)
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, err
		}
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("%s: %s", report, resp.Status)
		}
		return time.Since(t0), nil
	}
	for _, rep := range reports { // warm: the first call of each reads from disk
		if _, err := get(rep); err != nil {
			b.Fatal(err)
		}
	}
	// "one": a report at a time (a manager opening one); "dashboard":
	// all at once, as the dashboard's first screen asks.
	for _, mode := range []string{"one", "dashboard"} {
		took := make([][]time.Duration, len(reports))
		start := time.Now()
		for range calls {
			errs := make(chan error, len(reports))
			for i, rep := range reports {
				call := func() {
					d, err := get(rep)
					took[i] = append(took[i], d)
					errs <- err
				}
				if mode == "one" {
					call()
				} else {
					go call()
				}
			}
			for range reports {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
		}
		b.Logf("%s: %d rounds of %d reports in %s", mode, calls, len(reports), time.Since(start).Round(time.Millisecond))
		for i, rep := range reports {
			ds := took[i]
			slices.Sort(ds)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			p99 := ms(ds[max(0, len(ds)*99/100-1)])
			b.Logf("%-9s report %-12s p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms", mode, rep, ms(ds[len(ds)/2]), p99, ms(ds[len(ds)-1]))
			b.ReportMetric(p99, mode+"-"+rep+"-p99-ms")
		}
	}
}

func envInt(b *testing.B, key string, def int) int {
	if v := os.Getenv(key); v != "" {
		var n int
		if _, err := fmt.Sscan(v, &n); err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive number", key, v)
		}
		return n
	}
	return def
}
