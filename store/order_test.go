package store_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func TestCreateOrderRef(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		orderCustomers(t, s)
		at := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
		in := store.OrderInput{CustomerID: 1, Kind: store.OrderPurchase, Amount: 20, OccurredAt: &at}
		// Without a reference nothing is deduplicated: two equal orders.
		for range 2 {
			if _, err := s.CreateOrder(ctx, in, time.UTC); err != nil {
				t.Fatal(err)
			}
		}
		in.OrderRef = " WEB-1 "
		first, err := s.CreateOrder(ctx, in, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		// A retry gets the stored order back.
		again, err := s.CreateOrder(ctx, in, time.UTC)
		if err != nil || again.ID != first.ID || again.Amount != 20 {
			t.Fatalf("retry = %+v, %v; first %+v", again, err, first)
		}
		in.Amount = 21
		if _, err := s.CreateOrder(ctx, in, time.UTC); !store.IsCode(err, store.ECONFLICT) {
			t.Fatalf("same ref, other amount: %v", err)
		}
		if got := len(allOrders(t, s)); got != 3 {
			t.Fatalf("%d orders, want 3", got)
		}
		// One reference is one order, from the API or a CSV file.
		res := importOrders(t, s, "order_ref,customer_external_ref,kind,amount,occurred_at\nWEB-1,c-1,purchase,20,2025-05-01T10:00:00Z\n")
		if got, want := countsOf(res), (counts{Rows: 1, Duplicates: 1}); got != want {
			t.Fatalf("import = %+v, want %+v", got, want)
		}
		in.OrderRef = strings.Repeat("x", 65)
		if _, err := s.CreateOrder(ctx, in, time.UTC); !store.IsCode(err, store.EINVALID) {
			t.Fatalf("long ref: %v", err)
		}
	})
}

func TestMigrateOrdersDedupKey(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			cfg := storetest.Config(t, d)
			s := storetest.OpenConfig(t, cfg)
			orderCustomers(t, s)
			at := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
			for range 2 {
				if _, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: 1, Kind: store.OrderPurchase, Amount: 20, OccurredAt: &at}, time.UTC); err != nil {
					t.Fatal(err)
				}
			}
			// Back to the schema before the step: no dedup_key.
			driver, dsn, dropIndex := "sqlite", cfg.DSN, "DROP INDEX ux_orders_dedup_key"
			if d == store.MySQL {
				driver, dropIndex = "mysql", dropIndex+" ON orders"
			}
			raw, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			for _, q := range []string{dropIndex, "ALTER TABLE orders DROP COLUMN dedup_key", "DELETE FROM schema_migrations WHERE id IN ('0800_orders_dedup_key', '0012_orders_dedup_key')"} {
				if _, err := raw.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			s.Close()
			s = storetest.OpenConfig(t, cfg) // migrates
			// Twice: a step interrupted before it was recorded runs again.
			for i := range 2 {
				if ok, err := s.SchemaCurrent(ctx); !ok || err != nil {
					t.Fatalf("run %d: schema current = %v, %v", i, ok, err)
				}
				var nulls int
				if err := raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM orders WHERE dedup_key IS NULL").Scan(&nulls); err != nil || nulls != 2 {
					t.Fatalf("run %d: %d orders with a NULL key, want 2 (%v)", i, nulls, err)
				}
				if _, err := raw.ExecContext(ctx, "DELETE FROM schema_migrations WHERE id IN ('0800_orders_dedup_key', '0012_orders_dedup_key')"); err != nil {
					t.Fatal(err)
				}
				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
			}
			// The index is there: a file imported twice lands once.
			file := "customer_external_ref,kind,amount,occurred_at\nc-1,purchase,20,2025-05-01T10:00:00Z\n"
			for i, want := range []counts{{Rows: 1, Written: 1, Created: 1}, {Rows: 1, Duplicates: 1}} {
				if got := countsOf(importOrders(t, s, file)); got != want {
					t.Fatalf("import %d = %+v, want %+v", i+1, got, want)
				}
			}
			if got := len(allOrders(t, s)); got != 3 {
				t.Fatalf("%d orders, want 3", got)
			}
		})
	}
}
