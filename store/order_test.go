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

// orderCustomers creates customers c-1, c-2 and c-3 (phone 13800000003)
// and returns their ids, ids[n] for c-n: ids need not be consecutive (a
// Galera node hands out every third).
func orderCustomers(t *testing.T, s *store.Store) (ids [4]int64) {
	t.Helper()
	for i := 1; i <= 3; i++ {
		c, err := s.CreateCustomer(context.Background(), store.CustomerInput{
			Name: ptr(fmt.Sprintf("C%d", i)), Phone: ptr(fmt.Sprintf("1380000000%d", i)), ExternalRef: ptr(fmt.Sprintf("c-%d", i))})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = c.ID
	}
	return ids
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

// Orders keep their amount to the fen, their order_ref as sent and their
// items; a negative amount is a refund; lists go newest first, narrowed by
// customer, kind and time, paged, and an agent sees only the orders of
// customers they may see.
func TestOrdersReadable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := orderCustomers(t, s)
		base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		amount := func(v string) store.Money {
			m, err := store.ParseMoney("amount", v)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		o, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: ids[1], Kind: store.OrderService, Amount: amount("1280.5"), OccurredAt: &base,
			OrderRef: " DMS-0001 ", Items: []store.OrderItem{{Name: " 保养 ", Quantity: 1, Amount: amount("880.5")}, {Name: "机油", Amount: amount("400")}}}, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		if o.Amount.String() != "1280.50" || o.OrderRef != "DMS-0001" || len(o.Items) != 2 || o.Items[0].Name != "保养" || o.Items[1].Quantity != 1 {
			t.Fatalf("created = %+v", o)
		}
		refund := base.Add(time.Hour)
		if _, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: ids[1], Kind: store.OrderPurchase, Amount: amount("-99.99"), OccurredAt: &refund}, time.UTC); err != nil {
			t.Fatalf("refund: %v", err)
		}
		for i := 0; i < 5; i++ {
			at := base.AddDate(0, 0, i+1)
			if _, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: ids[2], Kind: store.OrderPurchase, Amount: amount("0.29"), OccurredAt: &at}, time.UTC); err != nil {
				t.Fatal(err)
			}
		}
		bad := []struct {
			in    store.OrderInput
			field string
		}{
			{store.OrderInput{CustomerID: ids[1], Kind: "purchase", Amount: store.Fen(store.MaxMoney + 1)}, "amount"},
			{store.OrderInput{CustomerID: ids[1], Kind: "purchase", Items: []store.OrderItem{{Name: " "}}}, "items"},
			{store.OrderInput{CustomerID: ids[1], Kind: "purchase", Items: []store.OrderItem{{Name: "x", Quantity: -1}}}, "items"},
			{store.OrderInput{CustomerID: ids[1], Kind: "purchase", Items: make([]store.OrderItem, 201)}, "items"},
		}
		for _, b := range bad {
			var se *store.Error
			if _, err := s.CreateOrder(ctx, b.in, time.UTC); !asError(err, &se) || se.Field != b.field {
				t.Errorf("%+v: %v, want 422 naming %s", b.in, err, b.field)
			}
		}
		got, next, err := s.ListOrders(ctx, store.OrderFilter{CustomerID: ids[1]})
		if err != nil || len(got) != 2 || next != "" || got[0].Amount.String() != "-99.99" || got[1].ID != o.ID || len(got[1].Items) != 2 || len(got[0].Items) != 0 || got[0].Items == nil {
			t.Fatalf("customer 1 orders = %+v %q %v", got, next, err)
		}
		// Paged, newest first, across pages.
		var all []string
		p := store.Page{Limit: 2}
		for {
			page, next, err := s.ListOrders(ctx, store.OrderFilter{CustomerID: ids[2], Page: p})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page {
				all = append(all, o.OccurredAt.Format("01-02"))
			}
			if next == "" {
				break
			}
			p.Cursor = next
		}
		if strings.Join(all, ",") != "03-06,03-05,03-04,03-03,03-02" {
			t.Errorf("pages = %v", all)
		}
		from, to := base.AddDate(0, 0, 2), base.AddDate(0, 0, 4)
		if got, _, _ := s.ListOrders(ctx, store.OrderFilter{From: from, To: to}); len(got) != 2 {
			t.Errorf("from/to: %d orders", len(got))
		}
		if got, _, _ := s.ListOrders(ctx, store.OrderFilter{Kind: store.OrderService}); len(got) != 1 {
			t.Errorf("kind: %d orders", len(got))
		}
		if _, _, err := s.ListOrders(ctx, store.OrderFilter{Kind: "gift"}); !store.IsCode(err, store.EINVALID) {
			t.Errorf("bad kind: %v", err)
		}
		agent, err := s.CreateStaff(ctx, store.StaffInput{Name: "A", Role: store.RoleAgent})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateCustomer(ctx, ids[2], store.CustomerInput{OwnerStaffID: &agent.ID}); err != nil {
			t.Fatal(err)
		}
		by := store.Actor{StaffID: &agent.ID, Role: store.RoleAgent}
		if got, _, _ := s.ListOrders(ctx, store.OrderFilter{Viewer: &by}); len(got) != 5 || got[0].CustomerID != ids[2] {
			t.Errorf("agent sees %d orders", len(got))
		}
		if _, _, err := s.ListOrdersFor(ctx, by, store.OrderFilter{CustomerID: ids[1]}); !store.IsCode(err, store.ENOTFOUND) {
			t.Errorf("agent, another's customer: %v", err)
		}
	})
}

// Release-8 style orders (a decimal amount column) move to amount_fen
// exactly and the old column goes; running the step again changes nothing.
func TestMigrateOrdersExactMoney(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			cfg := storetest.Config(t, d)
			s := storetest.OpenConfig(t, cfg)
			orderCustomers(t, s)
			driver := "sqlite"
			if d == store.MySQL {
				driver = "mysql"
			}
			raw, err := sql.Open(driver, cfg.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			for _, q := range []string{
				"ALTER TABLE orders ADD COLUMN amount DECIMAL(14,2) NOT NULL DEFAULT 0",
				"INSERT INTO orders (customer_id, kind, amount, occurred_at, created_at) VALUES " +
					"(1, 'purchase', 0.29, '2026-01-01 00:00:00', '2026-01-01 00:00:00'), " +
					"(1, 'purchase', 999999999999.99, '2026-01-02 00:00:00', '2026-01-01 00:00:00'), " +
					"(2, 'service', 1280.50, '2026-01-03 00:00:00', '2026-01-01 00:00:00')",
				"DELETE FROM schema_migrations WHERE id LIKE '%orders_exact_money'",
			} {
				if _, err := raw.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			for range 2 {
				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, o := range allOrders(t, s) {
					got = append(got, o.Amount.String())
				}
				if strings.Join(got, " ") != "0.29 999999999999.99 1280.50" {
					t.Fatalf("amounts after migrating: %v", got)
				}
				if _, err := raw.ExecContext(ctx, "SELECT amount FROM orders"); err == nil {
					t.Fatal("the decimal column is still there")
				}
				raw.ExecContext(ctx, "DELETE FROM schema_migrations WHERE id LIKE '%orders_exact_money'")
			}
		})
	}
}
