package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
)

// serverDSN is the test server (storetest.MySQLServerDSN; storetest
// imports this package, so this test cannot).
func serverDSN() string {
	if v := os.Getenv("RAPPORT_TEST_MYSQL_DSN"); v != "" {
		return v
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// Every pooled connection runs at READ COMMITTED whatever the server's
// default (MariaDB's and TiDB's is REPEATABLE READ), and on a Galera node
// waits for causality on reads unless the DSN says otherwise.
func TestSessionSettings(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, params string
		syncWait     string // wanted on a Galera node
	}{
		{"defaults", "", "1"},
		{"dsn asks for repeatable read", "?tx_isolation=%27REPEATABLE-READ%27&transaction_isolation=%27REPEATABLE-READ%27", "1"},
		{"dsn sets wsrep_sync_wait", "?wsrep_sync_wait=0", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := serverDSN() + tc.params
			if tc.params != "" {
				// A server without the variable refuses the SET at connect.
				probe, err := Open(ctx, Config{Driver: MySQL, DSN: serverDSN()})
				if err != nil {
					t.Fatal(err)
				}
				var on string
				galera := probe.db.Raw("SELECT @@wsrep_on").Scan(&on).Error == nil && (on == "1" || on == "ON")
				probe.Close()
				if tc.syncWait == "0" && !galera {
					t.Skip("not a Galera node")
				}
			}
			s, err := Open(ctx, Config{Driver: MySQL, DSN: dsn})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			sqlDB, _ := s.db.DB()
			sqlDB.SetMaxOpenConns(3)
			for range 3 { // several connections of the pool
				var iso string
				err := s.db.Raw("SELECT @@transaction_isolation").Scan(&iso).Error
				if err != nil {
					err = s.db.Raw("SELECT @@tx_isolation").Scan(&iso).Error
				}
				if err != nil || iso != "READ-COMMITTED" {
					t.Errorf("isolation = %q (%v), want READ-COMMITTED", iso, err)
				}
				var on, wait string
				if s.db.Raw("SELECT @@wsrep_on").Scan(&on).Error == nil && (on == "1" || on == "ON") {
					if err := s.db.Raw("SELECT @@wsrep_sync_wait").Scan(&wait).Error; err != nil || wait != tc.syncWait {
						t.Errorf("Galera node: wsrep_sync_wait = %q (%v), want %s", wait, err, tc.syncWait)
					}
				}
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&gomysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}, true},
		{&gomysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"}, true},
		{&gomysql.MySQLError{Number: 9007, Message: "Write conflict, txnStartTS=1"}, true},
		{&gomysql.MySQLError{Number: 8002, Message: "[tikv] SELECT FOR UPDATE write conflict"}, true},
		{&gomysql.MySQLError{Number: 8022, Message: "Error: KV error safe to retry"}, true},
		{&gomysql.MySQLError{Number: 8028, Message: "Information schema is changed during the execution"}, true},
		{&gomysql.MySQLError{Number: 1105, Message: "pessimistic lock retry limit reached"}, true},
		{&gomysql.MySQLError{Number: 1105, Message: "some other unknown error"}, false},
		{&gomysql.MySQLError{Number: 1062, Message: "Duplicate entry"}, false},
		{errors.New("database is locked (5) (SQLITE_BUSY)"), true},
		{errors.New("no such table"), false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestAlreadyExists(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&gomysql.MySQLError{Number: 1050, Message: "Table 'leases' already exists"}, true},
		{&gomysql.MySQLError{Number: 1060, Message: "Duplicate column name 'epoch'"}, true},
		{&gomysql.MySQLError{Number: 1061, Message: "Duplicate key name 'ix'"}, true},
		{&gomysql.MySQLError{Number: 1091, Message: "Can't DROP 'ix'; check that column/key exists"}, true},
		{&gomysql.MySQLError{Number: 1146, Message: "Table doesn't exist"}, false},
		{errors.New("SQL logic error: table `leases` already exists (1)"), true},
		{errors.New("SQL logic error: duplicate column name: epoch (1)"), true},
	} {
		if got := alreadyExists(tc.err); got != tc.want {
			t.Errorf("alreadyExists(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestSQLitePathWithHash: a file name with '#' or '%' (a test's temporary
// directory "sqlite#01", an operator's folder) is that file, with the
// pragmas: unescaped, '#' starts a URI fragment, which cut the path and
// dropped the pragmas, so two such paths shared one database.
func TestSQLitePathWithHash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var stores []*Store
	for _, name := range []string{"a#1/rapport.db", "a#2/rapport.db", "b%20/rapport.db"} {
		s, err := Open(ctx, Config{Driver: SQLite, DSN: filepath.Join(dir, name)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		var mode string
		if err := s.db.Raw("PRAGMA journal_mode").Scan(&mode).Error; err != nil || mode != "wal" {
			t.Errorf("%s: journal_mode %q, %v; want wal", name, mode, err)
		}
	}
	n := "only in the first"
	if _, err := stores[0].CreateCustomer(ctx, CustomerInput{Name: &n}); err != nil {
		t.Fatal(err)
	}
	for _, s := range stores[1:] {
		var count int64
		if err := s.db.Model(&Customer{}).Count(&count).Error; err != nil || count != 0 {
			t.Errorf("another path sees %d customers (%v); want its own empty database", count, err)
		}
	}
}
