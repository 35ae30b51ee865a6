package store_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"
	_ "github.com/go-sql-driver/mysql"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// The list is numbered 1, 2, 3, ... with unique names, so that a fresh and
// an upgraded database apply the same steps in the same order.
func TestMigrationList(t *testing.T) {
	seen := map[string]bool{}
	ids := store.MigrationIDs()
	for i, m := range ids {
		want := i + 1
		var seq int
		for _, r := range m[:4] {
			seq = seq*10 + int(r-'0')
		}
		if seq != want || m[4] != '_' {
			t.Errorf("step %d is %q: numbers must be 0001, 0002, ... in list order", want, m)
		}
		name := m[5:]
		if seen[name] {
			t.Errorf("step %q: name used twice", m)
		}
		seen[name] = true
	}
}

// A recorded id names its step whatever its number: older databases
// recorded the same names under the numbers they had then.
func TestStepName(t *testing.T) {
	for _, c := range []struct{ id, want string }{
		{"0042_a_step", "a_step"},
		{"9999_another_step", "another_step"},
		{"a_step", "a_step"},
		{"01x0_a_step", "01x0_a_step"},
		{"0001_", "0001_"},
	} {
		if got := store.StepName(c.id); got != c.want {
			t.Errorf("StepName(%q) = %q, want %q", c.id, got, c.want)
		}
	}
}

// A database of the previous release (release 8: its schema and some data,
// dumped from that code) migrates to the current schema and keeps its
// data; migrating again changes nothing.
func TestMigrateFromRelease8(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			cfg := storetest.Config(t, dialect)
			loadDump(t, cfg, "testdata/release8."+dialect+".sql")
			s, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for range 2 {
				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if ok, err := s.SchemaCurrent(ctx); err != nil || !ok {
				t.Fatalf("after migrating: current=%v err=%v", ok, err)
			}
			// The fourteen steps recorded under their older numbers did
			// not run again: only the later steps were recorded.
			if n, want := countRows(t, cfg, "schema_migrations"), len(store.MigrationIDs()); n != want {
				t.Errorf("schema_migrations holds %d ids, want %d (14 older + %d new)", n, want, want-14)
			}
			cs, _, err := s.ListCustomers(ctx, store.CustomerFilter{Q: "王"})
			if err != nil || len(cs) != 1 || cs[0].Birthday.String() != "1990-03-15" || len(cs[0].Tags) != 1 {
				t.Fatalf("customer 王芳: %+v %v", cs, err)
			}
			if _, err := s.Authenticate(ctx, "previous-release-admin-token"); err != nil {
				t.Errorf("bootstrap token of the previous release: %v", err)
			}
			ms, _, err := s.ListMessages(ctx, 4, store.Page{})
			if err != nil || len(ms) != 2 {
				t.Errorf("conversation of the Telegram customer: %d messages, %v", len(ms), err)
			}
			runs, _, err := s.ListCareRuns(ctx, store.CareRunFilter{})
			if err != nil || len(runs) != 1 || runs[0].Status != store.RunDone {
				t.Errorf("care runs: %+v %v", runs, err)
			}
			// New rows still work next to the old ones.
			if _, err := s.CreateStaff(ctx, store.StaffInput{Name: "新同事", Role: store.RoleAgent}); err != nil {
				t.Error(err)
			}
		})
	}
}

// loadDump runs a dump's statements on a fresh database.
func countRows(t *testing.T, cfg store.Config, table string) (n int) {
	t.Helper()
	db := openRaw(t, cfg)
	defer db.Close()
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func openRaw(t *testing.T, cfg store.Config) *sql.DB {
	t.Helper()
	driver := cfg.Driver
	if driver == store.SQLite {
		driver = "sqlite"
	}
	db, err := sql.Open(driver, cfg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func loadDump(t *testing.T, cfg store.Config, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db := openRaw(t, cfg)
	defer db.Close()
	for _, stmt := range strings.Split(string(b), ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, stmt)
		}
	}
}

// Processes migrating at once take turns on the schema lock row: one that
// finds it held by a live process waits (here until its context ends),
// and one whose holder stopped renewing takes it over.
func TestMigrateSchemaLock(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			cfg := storetest.Config(t, dialect)
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := store.Open(context.Background(), cfg)
					if err != nil {
						errs <- err
						return
					}
					defer s.Close()
					errs <- s.Migrate(context.Background())
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("concurrent migrate: %v", err)
				}
			}
			s := storetest.OpenConfig(t, cfg)

			execSQL(t, cfg, "UPDATE schema_lock SET holder = 'other:1:alive', lease_until = '2999-01-01 00:00:00'")
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "waiting for another process") {
				t.Fatalf("migrate while another process holds the lock: %v", err)
			}

			execSQL(t, cfg, "UPDATE schema_lock SET holder = 'other:1:dead', lease_until = '2000-01-01 00:00:00'")
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatalf("migrate after the holder's lease ran out: %v", err)
			}
			if ok, err := s.SchemaCurrent(context.Background()); err != nil || !ok {
				t.Fatalf("current=%v err=%v", ok, err)
			}
		})
	}
}
