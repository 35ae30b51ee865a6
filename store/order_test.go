package store_test

import (
	"context"
	"database/sql"
	"fmt"
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
		in := store.OrderInput{CustomerID: 1, Kind: store.OrderPurchase, Amount: store.Fen(2000), OccurredAt: &at}
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
		if err != nil || again.ID != first.ID || again.Amount != store.Fen(2000) {
			t.Fatalf("retry = %+v, %v; first %+v", again, err, first)
		}
		in.Amount = store.Fen(2100)
		if _, err := s.CreateOrder(ctx, in, time.UTC); !store.IsCode(err, store.ECONFLICT) {
			t.Fatalf("same ref, other amount: %v", err)
		}
		if got := len(allOrders(t, s)); got != 3 {
			t.Fatalf("%d orders, want 3", got)
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
				if _, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: 1, Kind: store.OrderPurchase, Amount: store.Fen(2000), OccurredAt: &at}, time.UTC); err != nil {
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
			// The index is there: an order_ref sent twice lands once.
			for range 2 {
				in := store.OrderInput{CustomerID: 1, Kind: store.OrderPurchase, Amount: store.Fen(2000), OccurredAt: &at, OrderRef: "WEB-9"}
				if _, err := s.CreateOrder(ctx, in, time.UTC); err != nil {
					t.Fatal(err)
				}
			}
			if got := len(allOrders(t, s)); got != 3 {
				t.Fatalf("%d orders, want 3", got)
			}
		})
	}
}

// orderCustomers creates customers c-1, c-2 and c-3 (phone 13800000003).
func orderCustomers(t *testing.T, s *store.Store) {
	t.Helper()
	for i := 1; i <= 3; i++ {
		_, err := s.CreateCustomer(context.Background(), store.CustomerInput{
			Name: ptr(fmt.Sprintf("C%d", i)), Phone: ptr(fmt.Sprintf("1380000000%d", i)), ExternalRef: ptr(fmt.Sprintf("c-%d", i))})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// allOrders returns every stored order, by id.
func allOrders(t *testing.T, s *store.Store) []*store.Order {
	t.Helper()
	os, err := s.OrdersBetween(context.Background(), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), "", 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return os
}
