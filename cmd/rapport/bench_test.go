package main

import (
	"bufio"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/bots/telegram/telegramtest"
	"github.com/rapport-crm/rapport/store/storetest"
)

// BenchmarkWebhookHTTP is webhook intake end to end on the real binary:
// one `rapport serve` on $RAPPORT_BENCH_DSN (a server DSN, default the test
// server; query parameters are kept, e.g. `?wsrep_sync_wait=0`), driven
// over HTTP from this process by 32 concurrent clients, b.N Telegram
// updates from 1,000 senders whose first messages create them. The
// replica's router processes the messages as they arrive. Reports:
// accepted msgs/s and latency (webhook answered 200: the message is
// durable), processed msgs/s (until none is left `received`), and CPU per
// message of the rapport process and of the database server(s)
// ($RAPPORT_BENCH_DB_PIDS, comma-separated, e.g. the three Galera nodes;
// default the local mariadbd/mysqld), statements per message (the
// server's global Questions and Com_* counters: other clients of the same
// server count too, so run it alone), and the rate of plain single-row
// INSERTs into the same database at the same concurrency, measured right
// after (insert-rows/s, and intake's rate as a ratio of it).
// RAPPORT_CPU_PROFILE=FILE makes the server write its CPU profile there.
func BenchmarkWebhookHTTP(b *testing.B) {
	server := os.Getenv("RAPPORT_BENCH_DSN")
	if server == "" {
		server = storetest.MySQLServerDSN()
	}
	server, params, _ := strings.Cut(server, "?")
	name := replicaDatabase(b, []string{server})
	dsn := server + name
	if params != "" {
		dsn += "?" + params
	}
	bin, err := benchBinary()
	if err != nil {
		b.Fatal(err)
	}
	tg := telegramtest.New(b)
	r := startReplica(b, bin, dsn, tg.URL())
	r.waitReady(b, 0)
	db, err := sql.Open("mysql", server+name)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	dbCPU := storetest.ServerCPU()
	pid := strconv.Itoa(r.cmd.Process.Pid)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	const concurrency, senders = 32, 1000
	var next atomic.Int64
	var failed atomic.Int64
	lats := make([][]time.Duration, concurrency)
	stmts0 := storetest.ServerStatus(b, db, statementCounters)
	proc0, db0 := storetest.CPUSeconds(pid), dbCPU()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				id := next.Add(1)
				if id > int64(b.N) {
					return
				}
				from := 1 + id%senders
				body := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":%d,"chat":{"id":%d,"type":"private"},"from":{"id":%d,"is_bot":false,"first_name":"Li","language_code":"en"},"text":"hello %d"}}`,
					id, id, time.Now().Unix(), from, from, id)
				req, _ := http.NewRequest("POST", r.base+"/webhooks/telegram", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Telegram-Bot-Api-Secret-Token", e2eSecret)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				lats[w] = append(lats[w], time.Since(t0))
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	accepted := time.Since(start)
	for {
		var left int
		if err := db.QueryRow("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND status = 'received'").Scan(&left); err != nil {
			b.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Since(start) > accepted+5*time.Minute {
			b.Fatalf("%d messages still unprocessed", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	processed := time.Since(start)
	proc1, db1 := storetest.CPUSeconds(pid), dbCPU()
	stmts1 := storetest.ServerStatus(b, db, statementCounters)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Errorf("%d webhooks failed", n)
	}
	var stored int
	if err := db.QueryRow("SELECT COUNT(*) FROM messages WHERE direction = 'in'").Scan(&stored); err != nil || stored != b.N {
		b.Errorf("%d inbound messages stored (%v), want %d", stored, err, b.N)
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	q := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(float64(len(all))*p))].Microseconds()) / 1000
	}
	n := float64(b.N)
	b.ReportMetric(n/accepted.Seconds(), "msgs/s")
	b.ReportMetric(n/processed.Seconds(), "processed-msgs/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric((proc1-proc0)/n*1e6, "proc-cpu-us/msg")
	b.ReportMetric((db1-db0)/n*1e6, "db-cpu-us/msg")
	d := func(k string) float64 { return float64(stmts1[k] - stmts0[k]) }
	b.ReportMetric(d("Questions")/n, "stmts/msg")
	b.ReportMetric(d("Com_select")/n, "selects/msg")
	b.ReportMetric((d("Com_insert")+d("Com_update")+d("Com_delete")+d("Com_insert_select")+d("Com_update_multi"))/n, "writes/msg")
	b.ReportMetric(d("Com_commit")/n, "commits/msg")
	var per []string
	for k := range stmts1 {
		if v := d(k) / n; v >= 0.005 && k != "Questions" {
			per = append(per, fmt.Sprintf("%s %.3f", k, v))
		}
	}
	slices.Sort(per)
	b.Logf("per message (N=%d): %s", b.N, strings.Join(per, ", "))
	if b.N >= 100 {
		rate := plainInserts(b, db, b.N, concurrency)
		b.ReportMetric(rate, "insert-rows/s")
		b.ReportMetric(n/accepted.Seconds()/rate, "intake/insert")
	}
}

// statementCounters selects the server's statement counters.
const statementCounters = `Variable_name = 'Questions' OR Variable_name LIKE 'Com\_%'`

// plainInserts is the baseline the issue compares intake with: n
// single-row INSERTs into a table of the same database from concurrency
// connections. It returns rows/s.
func plainInserts(b *testing.B, db *sql.DB, n, concurrency int) float64 {
	db.SetMaxOpenConns(concurrency)
	db.SetMaxIdleConns(concurrency)
	if _, err := db.Exec("CREATE TABLE plain (id BIGINT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(128) NOT NULL, v TEXT, UNIQUE KEY (k)) ENGINE=InnoDB"); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := next.Add(1); id <= int64(n); id = next.Add(1) {
				if _, err := db.Exec("INSERT INTO plain (k, v) VALUES (?, ?)", strconv.FormatInt(id, 10), "hello"); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// benchBinary builds the binary once for every round of the benchmark.
var benchBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "rapport-bench")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "rapport")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// BenchmarkImportCLI is `rapport import customers` as an operator runs it:
// the real binary, a separate process, on a fresh MySQL database
// ($RAPPORT_BENCH_DSN, default the test server), a generated file of
// $RAPPORT_BENCH_ROWS customers (default 20,000) with every column, then
// the same file again. Reports rows/s of each run, the process's peak RSS
// (the larger of the two), and per row of the first run the CPU, ours and
// the database server's ($RAPPORT_BENCH_DB_PIDS as for
// BenchmarkWebhookHTTP), and the statements the server ran (its global
// Questions: run it alone on its server).
func BenchmarkImportCLI(b *testing.B) {
	rows := 20000
	if v := os.Getenv("RAPPORT_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		rows = n
	}
	server := os.Getenv("RAPPORT_BENCH_DSN")
	if server == "" {
		server = storetest.MySQLServerDSN()
	}
	bin, err := benchBinary()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	file := filepath.Join(dir, "customers.csv")
	if err := writeCustomersCSV(file, rows); err != nil {
		b.Fatal(err)
	}
	dbCPU := storetest.ServerCPU()
	for b.Loop() {
		b.StopTimer()
		server, params, _ := strings.Cut(server, "?")
		dsn := server + replicaDatabase(b, []string{server})
		if params != "" {
			dsn += "?" + params
		}
		cfg := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(cfg, fmt.Appendf(nil, "database:\n  driver: mysql\n  dsn: %q\n", dsn), 0o600); err != nil {
			b.Fatal(err)
		}
		if out, err := exec.Command(bin, "migrate", "-config", cfg).CombinedOutput(); err != nil {
			b.Fatalf("migrate: %v\n%s", err, out)
		}
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var rss int64
		for i, metric := range []string{"rows/s", "reimport-rows/s"} {
			cmd := exec.Command(bin, "import", "-config", cfg, "customers", file)
			stmts0 := storetest.ServerStatus(b, db, statementCounters)
			db0 := dbCPU()
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			if err != nil {
				b.Fatalf("import: %v\n%s", err, out)
			}
			want := fmt.Sprintf("%d rows, %d written (%d created, 0 updated), 0 unchanged", rows, rows, rows)
			if i == 1 {
				want = fmt.Sprintf("%d rows, 0 written (0 created, 0 updated), %d unchanged", rows, rows)
			}
			if !strings.Contains(string(out), want) {
				b.Fatalf("import %d said %q, want %q", i+1, out, want)
			}
			ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			if ok {
				rss = max(rss, ru.Maxrss) // KiB on Linux
			}
			b.ReportMetric(float64(rows)/took.Seconds(), metric)
			if i == 0 {
				b.ReportMetric((dbCPU()-db0)/float64(rows)*1e6, "db-cpu-us/row")
				b.ReportMetric(float64(storetest.ServerStatus(b, db, statementCounters)["Questions"]-stmts0["Questions"])/float64(rows), "stmts/row")
				if ok {
					// Ours, beside the database's: what the rate needs of a
					// machine whoever else is busy on it.
					cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
					b.ReportMetric(float64(cpu.Microseconds())/float64(rows), "proc-cpu-us/row")
				}
			}
		}
		b.ReportMetric(float64(rss)/1024, "peak-rss-MB")
		db.Close()
	}
}

// writeCustomersCSV writes n customers with every column a customer file
// may have, each with its own phone and external_ref.
func writeCustomersCSV(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	w.WriteString("name,phone,birthday,email,tags,external_ref,city,region\n")
	cities := []string{"上海", "北京", "广州", "深圳", "杭州"}
	for i := range n {
		fmt.Fprintf(w, "客户%d,+86 139 %04d %04d,%02d-%02d,c%d@example.com,vip;car%d,dms-%d,%s,华东\n",
			i, i/10000, i%10000, 1+i%12, 1+i%28, i, i%5, i, cities[i%len(cities)])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
