package storetest

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// CPUSeconds is the user+system CPU time a process has used (pid "self"
// for the calling one), read from /proc; 0 where that cannot be read.
// Benchmarks report it for this process and the database server, which
// share the machine's cores.
func CPUSeconds(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // clock ticks
}

// ServerPID finds the MySQL/MariaDB server the tests use (its pid file,
// asked of MySQLServerDSN): other helpers may run their own mariadbd on the
// same machine, and the first one in /proc is then not ours. Without an
// answer it falls back to the first mariadbd/mysqld process; "" if none runs
// on this machine.
func ServerPID() string {
	if db, err := sql.Open("mysql", MySQLServerDSN()); err == nil {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var path string
		if db.QueryRowContext(ctx, "SELECT @@pid_file").Scan(&path) == nil {
			if b, err := os.ReadFile(path); err == nil {
				if pid := strings.TrimSpace(string(b)); pid != "" {
					return pid
				}
			}
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if b, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil {
			if c := strings.TrimSpace(string(b)); c == "mariadbd" || c == "mysqld" {
				return e.Name()
			}
		}
	}
	return ""
}

// ServerStatus reads the server's global status counters whose names
// match where (an SQL condition on Variable_name), for benchmarks that
// report statements or row operations per message.
func ServerStatus(tb testing.TB, db *sql.DB, where string) map[string]int64 {
	rows, err := db.Query("SHOW GLOBAL STATUS WHERE " + where)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var v int64
		if err := rows.Scan(&k, &v); err != nil {
			tb.Fatal(err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// ServerCPU returns a reader of the database server's CPU seconds: of the
// processes in RAPPORT_BENCH_DB_PIDS (comma-separated) when set, else of
// the test server.
func ServerCPU() func() float64 {
	pids := strings.Split(os.Getenv("RAPPORT_BENCH_DB_PIDS"), ",")
	if pids[0] == "" {
		pids = []string{ServerPID()}
	}
	return func() float64 {
		var s float64
		for _, p := range pids {
			s += CPUSeconds(strings.TrimSpace(p))
		}
		return s
	}
}
