package main

import (
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
// default the local mariadbd/mysqld).
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
	dbPIDs := strings.Split(os.Getenv("RAPPORT_BENCH_DB_PIDS"), ",")
	if dbPIDs[0] == "" {
		dbPIDs = []string{storetest.ServerPID()}
	}
	dbCPU := func() float64 {
		var s float64
		for _, p := range dbPIDs {
			s += storetest.CPUSeconds(strings.TrimSpace(p))
		}
		return s
	}
	pid := strconv.Itoa(r.cmd.Process.Pid)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	const concurrency, senders = 32, 1000
	var next atomic.Int64
	var failed atomic.Int64
	lats := make([][]time.Duration, concurrency)
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
	b.ReportMetric((storetest.CPUSeconds(pid)-proc0)/n*1e6, "proc-cpu-us/msg")
	b.ReportMetric((dbCPU()-db0)/n*1e6, "db-cpu-us/msg")
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
