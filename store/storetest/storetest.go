// Package storetest opens fresh, migrated stores for tests, on SQLite and on
// a real MySQL/MariaDB server. It never skips MySQL: a missing server fails
// the test, so "green" always means "tested on both".
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/rapport-crm/rapport/store"
)

// DefaultMySQL is the server the test command provides.
const DefaultMySQL = "root@tcp(127.0.0.1:3306)/"

// MySQLServerDSN is the DSN of the server (no database) tests create their
// databases on: $RAPPORT_TEST_MYSQL_DSN or DefaultMySQL.
func MySQLServerDSN() string {
	if v := os.Getenv("RAPPORT_TEST_MYSQL_DSN"); v != "" {
		return v
	}
	return DefaultMySQL
}

// Dialects lists the databases every store test runs on.
var Dialects = []string{store.SQLite, store.MySQL}

// Config returns a config for a fresh, empty database of the dialect; the
// database is dropped when the test ends.
func Config(t testing.TB, dialect string) store.Config {
	t.Helper()
	switch dialect {
	case store.SQLite:
		return store.Config{Driver: store.SQLite, DSN: filepath.Join(t.TempDir(), "rapport.db")}
	case store.MySQL:
		server := MySQLServerDSN()
		root, err := sql.Open("mysql", server)
		if err != nil {
			t.Fatalf("storetest: mysql dsn %q: %v", server, err)
		}
		t.Cleanup(func() { root.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := root.PingContext(ctx); err != nil {
			t.Fatalf("storetest: MySQL/MariaDB is required at %s (run `make test`, which starts it): %v", server, err)
		}
		var b [6]byte
		rand.Read(b[:])
		name := "rapport_test_" + hex.EncodeToString(b[:])
		if _, err := root.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
			t.Fatalf("storetest: create database: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			root.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name)
		})
		return store.Config{Driver: store.MySQL, DSN: server + name}
	}
	t.Fatalf("storetest: unknown dialect %q", dialect)
	return store.Config{}
}

// Open returns a migrated store on a fresh database of the dialect.
func Open(t testing.TB, dialect string, opts ...store.Option) *store.Store {
	t.Helper()
	return OpenConfig(t, Config(t, dialect), opts...)
}

// OpenConfig opens and migrates a store for cfg, closing it at cleanup.
func OpenConfig(t testing.TB, cfg store.Config, opts ...store.Option) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, cfg, opts...)
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate: %v", err)
	}
	return s
}

// Each runs fn as a subtest on every dialect, each with a fresh store.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

// Clock is the one test clock: for store.WithClock and the Now options
// of adapters, safe to read from the goroutines of running loops while a
// test moves it. Started at a time it stands still until moved; started
// at the zero time it follows the wall clock shifted by what Advance
// adds, so that leases can expire at once while real timers keep running.
type Clock struct {
	mu  sync.Mutex
	t   time.Time
	off time.Duration
}

// NewClock starts a clock at t (zero: the wall clock).
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now().Add(c.off)
	}
	return c.t
}

// Set moves the clock.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		c.off += d
		return
	}
	c.t = c.t.Add(d)
}
