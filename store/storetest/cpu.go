package storetest

import (
	"os"
	"strconv"
	"strings"
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

// ServerPID finds the local MySQL/MariaDB server process; "" if none runs
// on this machine.
func ServerPID() string {
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
