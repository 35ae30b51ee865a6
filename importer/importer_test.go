package importer_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/importer"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func TestImportCustomersAndOrders(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		open := func(name string) *os.File {
			f, err := os.Open("testdata/" + name)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f
		}
		// Bad rows, no skip: every bad row reported, nothing written.
		res, err := importer.Customers(ctx, s, open("customers.csv"), false)
		if err != nil {
			t.Fatal(err)
		}
		wantBad := []importer.RowError{
			{Line: 4, Reason: "name: a customer needs a name or a phone"},
			{Line: 5, Reason: `birthday: "1990-02-30" is not a calendar date`},
			{Line: 6, Reason: `external_ref: "crm-1" already on line 2`},
		}
		if diff := cmp.Diff(wantBad, res.Rejected); diff != "" || res.Rows != 5 || res.Written != 0 {
			t.Fatalf("result %+v (-want +got):\n%s", res, diff)
		}
		if cs, _, _ := s.ListCustomers(ctx, store.CustomerFilter{}); len(cs) != 0 {
			t.Fatalf("%d customers written despite bad rows", len(cs))
		}
		// With skip: the good rows are written, the bad still reported.
		res, err = importer.Customers(ctx, s, open("customers.csv"), true)
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 2 || len(res.Rejected) != 3 {
			t.Fatalf("skip result = %+v", res)
		}
		cs, _, _ := s.ListCustomers(ctx, store.CustomerFilter{})
		if len(cs) != 2 || cs[0].Name != "张三" || cs[0].Phone != "+8613800138000" || !cs[0].PhoneVerified || cs[0].Email != "zs@example.com" ||
			cs[0].Birthday.String() != "1990-02-28" || strings.Join(cs[0].Tags, ",") != "vip,wine" || cs[0].Source != "import" {
			t.Fatalf("customers = %+v", cs[0])
		}
		// Importing again updates by external_ref instead of duplicating.
		res, err = importer.Customers(ctx, s, strings.NewReader("name,external_ref\nZhang San,crm-1\n"), false)
		if err != nil || res.Updated != 1 || res.Created != 0 {
			t.Fatalf("re-import = %+v, %v", res, err)
		}
		// Header errors stop the whole file.
		if _, err := importer.Customers(ctx, s, strings.NewReader("name,shoe_size\nx,42\n"), true); !store.IsCode(err, store.EINVALID) {
			t.Errorf("unknown column: %v", err)
		}

		res, err = importer.Orders(ctx, s, open("orders.csv"), false, sh)
		if err != nil {
			t.Fatal(err)
		}
		if res.Written != 0 || len(res.Rejected) != 2 || res.Rejected[0].Line != 4 || res.Rejected[1].Line != 5 {
			t.Fatalf("orders = %+v", res)
		}
		res, err = importer.Orders(ctx, s, open("orders.csv"), true, sh)
		if err != nil || res.Written != 2 {
			t.Fatalf("orders skip = %+v, %v", res, err)
		}
		os, err := s.OrdersBetween(ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, sh), time.Date(2026, 3, 2, 0, 0, 0, 0, sh), "", 0, 10)
		if err != nil || len(os) != 2 || os[0].Amount != store.Fen(9950) || !os[0].OccurredAt.Equal(time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)) {
			t.Fatalf("stored orders = %+v, %v", os, err)
		}
	})
}

// importOrders imports body as an orders file (times in UTC) and fails the
// test on any error or rejected row.
func importOrders(t *testing.T, s *store.Store, body string) *importer.Result {
	t.Helper()
	res, err := importer.Orders(context.Background(), s, strings.NewReader(body), false, time.UTC)
	if err != nil {
		t.Fatalf("import orders: %v", err)
	}
	if len(res.Rejected) > 0 {
		t.Fatalf("import orders: rejected %+v", res.Rejected)
	}
	return res
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// orderCustomers imports the customers the order fixtures name: c-1, c-2
// and c-3 (phone 13800000003), ids 1 to 3.
func orderCustomers(t *testing.T, s *store.Store) {
	t.Helper()
	file := "name,phone,external_ref\nC1,13800000001,c-1\nC2,13800000002,c-2\nC3,13800000003,c-3\n"
	res, err := importer.Customers(context.Background(), s, strings.NewReader(file), false)
	if err != nil || res.Created != 3 {
		t.Fatalf("customers = %+v, %v", res, err)
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

// counts is what a test compares of an ImportResult.
type counts struct{ Rows, Written, Created, Duplicates, Rejected int }

func countsOf(r *importer.Result) counts {
	return counts{r.Rows, r.Written, r.Created, r.Duplicates, len(r.Rejected)}
}

func TestImportOrdersTwice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		orderCustomers(t, s)
		file := fixture(t, "orders_month.csv")
		got := countsOf(importOrders(t, s, file))
		// Rows 4 and 5 are equal: two purchases, both kept.
		if want := (counts{Rows: 6, Written: 6, Created: 6}); got != want {
			t.Fatalf("first import = %+v, want %+v", got, want)
		}
		got = countsOf(importOrders(t, s, file))
		if want := (counts{Rows: 6, Duplicates: 6}); got != want {
			t.Fatalf("second import = %+v, want %+v", got, want)
		}
		if got := len(allOrders(t, s)); got != 6 {
			t.Fatalf("%d orders stored, want 6", got)
		}
	})
}

func TestImportOrdersOrderRef(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		orderCustomers(t, s)
		file := fixture(t, "orders_ref.csv")
		// SO-1001 and SO-1002 have equal contents: two refs, two orders.
		got := countsOf(importOrders(t, s, file))
		if want := (counts{Rows: 4, Written: 4, Created: 4}); got != want {
			t.Fatalf("first import = %+v, want %+v", got, want)
		}
		// The reference is the order: a corrected amount is still SO-1003.
		got = countsOf(importOrders(t, s, strings.Replace(file, "SO-1003,c-2,service,60", "SO-1003,c-2,service,65", 1)))
		if want := (counts{Rows: 4, Duplicates: 4}); got != want {
			t.Fatalf("second import = %+v, want %+v", got, want)
		}
		os := allOrders(t, s)
		if len(os) != 4 || os[2].Amount != store.Fen(6000) {
			t.Fatalf("stored %d orders, third %+v", len(os), os[2])
		}
		// A reference twice in one file is a bad row.
		res, err := importer.Orders(ctx, s, strings.NewReader("order_ref,customer_external_ref,kind,amount,occurred_at\n"+
			"SO-2001,c-1,purchase,1,2025-08-01\nSO-2001,c-1,purchase,2,2025-08-01\n"), false, time.UTC)
		wantBad := []importer.RowError{{Line: 3, Reason: `order_ref: "SO-2001" already on line 2`}}
		if err != nil || res.Written != 0 || !cmp.Equal(wantBad, res.Rejected) {
			t.Fatalf("duplicate ref in file = %+v, %v", res, err)
		}
		long := strings.Repeat("x", 65)
		res, err = importer.Orders(ctx, s, strings.NewReader("order_ref,customer_external_ref,kind,occurred_at\n"+long+",c-1,purchase,2025-08-01\n"), false, time.UTC)
		if err != nil || len(res.Rejected) != 1 || res.Rejected[0].Reason != "order_ref: longer than 64 characters" {
			t.Fatalf("long ref = %+v, %v", res, err)
		}
	})
}

func TestImportOrdersAfterPartialImport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		orderCustomers(t, s)
		file := fixture(t, "orders_month.csv")
		lines := strings.SplitAfter(file, "\n")
		// Header and rows 2-4: the crash came between the two equal
		// purchases (rows 4 and 5).
		half := strings.Join(lines[:4], "")
		if got, want := countsOf(importOrders(t, s, half)), (counts{Rows: 3, Written: 3, Created: 3}); got != want {
			t.Fatalf("first half = %+v, want %+v", got, want)
		}
		if got, want := countsOf(importOrders(t, s, file)), (counts{Rows: 6, Written: 3, Created: 3, Duplicates: 3}); got != want {
			t.Fatalf("whole file = %+v, want %+v", got, want)
		}
		if got := len(allOrders(t, s)); got != 6 {
			t.Fatalf("%d orders stored, want 6", got)
		}
	})
}

// manyOrders is an orders file of n distinct purchases by c-1 and c-2.
func manyOrders(n int) string {
	var b strings.Builder
	b.WriteString("customer_external_ref,kind,amount,occurred_at\n")
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		fmt.Fprintf(&b, "c-%d,purchase,%d.%02d,%s\n", 1+i%2, i/100, i%100, start.Add(time.Duration(i)*time.Hour).Format(time.RFC3339))
	}
	return b.String()
}

func TestImportOrdersConcurrently(t *testing.T) {
	const n = 1200 // several batches
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			// Two stores on one database: two `rapport import` processes.
			cfg := storetest.Config(t, d)
			a, b := storetest.OpenConfig(t, cfg), storetest.OpenConfig(t, cfg)
			orderCustomers(t, a)
			file := manyOrders(n)
			var wg sync.WaitGroup
			results := make([]*importer.Result, 2)
			errs := make([]error, 2)
			for i, s := range []*store.Store{a, b} {
				wg.Go(func() {
					results[i], errs[i] = importer.Orders(context.Background(), s, strings.NewReader(file), false, time.UTC)
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("import %d: %v", i, err)
				}
			}
			got := countsOf(results[0])
			two := countsOf(results[1])
			got.Written += two.Written
			got.Created += two.Created
			got.Duplicates += two.Duplicates
			got.Rows += two.Rows
			if want := (counts{Rows: 2 * n, Written: n, Created: n, Duplicates: n}); got != want {
				t.Fatalf("both imports = %+v, want %+v (%+v and %+v)", got, want, countsOf(results[0]), two)
			}
			if got := len(allOrders(t, a)); got != n {
				t.Fatalf("%d orders stored, want %d", got, n)
			}
		})
	}
}

func TestImportOrdersAssetOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		orderCustomers(t, s)
		a, err := s.CreateAsset(ctx, 1, store.AssetInput{Name: "car", NextServiceDue: "2025-06-01", ServiceIntervalDays: 90}, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		file := fmt.Sprintf("customer_external_ref,kind,amount,occurred_at,asset_id\nc-1,service,80,2025-05-20,%d\nc-1,purchase,5,2025-05-20,\n", a.ID)
		if got, want := countsOf(importOrders(t, s, file)), (counts{Rows: 2, Written: 2, Created: 2}); got != want {
			t.Fatalf("first import = %+v, want %+v", got, want)
		}
		if got, want := countsOf(importOrders(t, s, file)), (counts{Rows: 2, Duplicates: 2}); got != want {
			t.Fatalf("second import = %+v, want %+v", got, want)
		}
		got, err := s.AssetByID(ctx, a.ID)
		if err != nil || got.NextServiceDue.Format(time.DateOnly) != "2025-08-18" || len(allOrders(t, s)) != 2 {
			t.Fatalf("asset = %+v, %v", got, err)
		}
	})
}

func TestImportCustomersAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		// Ada first wrote in chat and sent /phone.
		name, phone := "Ada L.", "13800000101"
		ada, err := s.CreateCustomer(ctx, store.CustomerInput{Name: &name, Phone: &phone})
		if err != nil {
			t.Fatal(err)
		}
		file := fixture(t, "customers_phone.csv")
		// Again, the same file changes nothing and writes nothing.
		for i, want := range []importer.Result{{Rows: 2, Written: 2, Created: 1, Updated: 1}, {Rows: 2, Unchanged: 2}} {
			res, err := importer.Customers(ctx, s, strings.NewReader(file), false)
			if err != nil {
				t.Fatal(err)
			}
			want.Rejected = []importer.RowError{}
			if diff := cmp.Diff(&want, res); diff != "" {
				t.Fatalf("import %d (-want +got):\n%s", i+1, diff)
			}
		}
		cs, _, err := s.ListCustomers(ctx, store.CustomerFilter{})
		if err != nil || len(cs) != 2 || cs[0].ID != ada.ID || cs[0].Name != "Ada" || cs[0].Birthday.String() != "05-17" || cs[0].Source != "api" {
			t.Fatalf("customers = %+v, %v", cs, err)
		}
		// The customer with the phone and no external_ref takes the row's.
		res, err := importer.Customers(ctx, s, strings.NewReader("name,phone,external_ref\nAda,13800000101,crm-1\n"), false)
		if err != nil || res.Updated != 1 {
			t.Fatalf("ref import = %+v, %v", res, err)
		}
		if c, err := s.CustomerByID(ctx, ada.ID); err != nil || c.ExternalRef == nil || *c.ExternalRef != "crm-1" {
			t.Fatalf("ada = %+v, %v", c, err)
		}
		// Another external_ref is another person, and a phone is one
		// customer's: a row giving it to another is refused (and, without
		// skip, the whole file writes nothing).
		son := "name,phone,external_ref\nAda's son,+86 138-0000-0101,crm-7\nEve,13800000199,crm-8\n"
		for _, skip := range []bool{false, true} {
			res, err := importer.Customers(ctx, s, strings.NewReader(son), skip)
			want := []importer.RowError{{Line: 2, Reason: fmt.Sprintf("phone: +8613800000101 is on record for customer %d", ada.ID)}}
			if err != nil || cmp.Diff(want, res.Rejected) != "" {
				t.Fatalf("son import (skip %v) = %+v, %v", skip, res, err)
			}
			if created := map[bool]int{false: 0, true: 1}[skip]; res.Created != created || res.Written != created {
				t.Fatalf("son import (skip %v) wrote %+v", skip, res)
			}
		}
		if cs, _, _ := s.ListCustomers(ctx, store.CustomerFilter{}); len(cs) != 3 {
			t.Fatalf("%d customers, want 3", len(cs))
		}
	})
}

func TestImportCustomersConcurrently(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			cfg := storetest.Config(t, d)
			a, b := storetest.OpenConfig(t, cfg), storetest.OpenConfig(t, cfg)
			var body strings.Builder
			body.WriteString("name,phone,external_ref\n")
			for i := range 200 {
				ref := ""
				if i%2 == 0 {
					ref = fmt.Sprintf("r-%d", i)
				}
				fmt.Fprintf(&body, "N%d,139%08d,%s\n", i, i, ref)
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, s := range []*store.Store{a, b} {
				wg.Go(func() {
					_, errs[i] = importer.Customers(context.Background(), s, strings.NewReader(body.String()), false)
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("import %d: %v", i, err)
				}
			}
			cs, _, err := a.ListCustomers(context.Background(), store.CustomerFilter{Page: store.Page{Limit: 500}})
			if err != nil || len(cs) != 200 {
				t.Fatalf("%d customers, want 200 (%v)", len(cs), err)
			}
		})
	}
}

// A malformed record is a bad row, wherever its quote is; reading goes on.
func TestImportMalformedRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		file := "name,phone\nAda,13800000001\nx\"y,13800000002\n\"Bo,13800000003\n"
		res, err := importer.Customers(context.Background(), s, strings.NewReader(file), true)
		if err != nil {
			t.Fatal(err)
		}
		want := []importer.RowError{
			{Line: 3, Reason: `malformed CSV: parse error on line 3, column 2: bare " in non-quoted-field`},
			{Line: 4, Reason: `malformed CSV: parse error on line 4, column 17: extraneous or missing " in quoted-field`},
		}
		if diff := cmp.Diff(want, res.Rejected); diff != "" || res.Rows != 3 || res.Created != 1 {
			t.Fatalf("result %+v (-want +got):\n%s", res, diff)
		}
	})
}

// A row the checks refuse before a malformed one in the same batch is
// reported once, and the good rows are written (the writing pass skips
// the refused lines in file order, whatever order they were found in).
func TestImportBadRowsFoundOutOfOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		file := "name,phone,birthday\nAda,13800000001,02-30\nBo,13800000002,\n\"Cy,13800000003,\n"
		res, err := importer.Customers(context.Background(), s, strings.NewReader(file), true)
		if err != nil {
			t.Fatal(err)
		}
		want := []importer.RowError{
			{Line: 2, Reason: `birthday: "02-30" is not a calendar date`},
			{Line: 4, Reason: `malformed CSV: parse error on line 4, column 18: extraneous or missing " in quoted-field`},
		}
		if diff := cmp.Diff(want, res.Rejected); diff != "" || res.Rows != 3 || res.Created != 1 {
			t.Fatalf("result %+v (-want +got):\n%s", res, diff)
		}
	})
}

// A record longer than a megabyte stops the import before it fills memory.
func TestImportRecordTooLong(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		file := "name,phone\nAda,13800000001\n" + strings.Repeat("x", 3<<20) + ",13800000002\n"
		res, err := importer.Customers(context.Background(), s, strings.NewReader(file), true)
		if !store.IsCode(err, store.EINVALID) || !strings.Contains(err.Error(), "record after line 2 is longer than") {
			t.Fatalf("import = %+v, %v", res, err)
		}
		if cs, _, _ := s.ListCustomers(context.Background(), store.CustomerFilter{}); len(cs) != 0 {
			t.Fatalf("%d customers written", len(cs))
		}
	})
}

// Identical rows are counted across the batches the store gets them in:
// each is an order, once.
func TestImportOrdersIdenticalAcrossBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		orderCustomers(t, s)
		const n = 1001
		file := "customer_external_ref,kind,amount,occurred_at\n" + strings.Repeat("c-1,purchase,5,2025-05-20\n", n)
		if got, want := countsOf(importOrders(t, s, file)), (counts{Rows: n, Written: n, Created: n}); got != want {
			t.Fatalf("first import = %+v, want %+v", got, want)
		}
		if got, want := countsOf(importOrders(t, s, file)), (counts{Rows: n, Duplicates: n}); got != want {
			t.Fatalf("second import = %+v, want %+v", got, want)
		}
	})
}

// A customer_external_ref finds its customer as the database compares
// refs: MySQL's collation ignores case, SQLite's does not.
func TestImportOrdersRefAsTheDatabaseCompares(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		orderCustomers(t, s)
		res, err := importer.Orders(context.Background(), s, strings.NewReader("customer_external_ref,kind,occurred_at\nC-1,purchase,2025-05-20\n"), false, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		if s.Dialect() == store.MySQL && res.Created != 1 || s.Dialect() == store.SQLite && len(res.Rejected) != 1 {
			t.Fatalf("%s: %+v", s.Dialect(), res)
		}
	})
}

// Amounts are read from their decimal text, exactly (no float on the
// way); a negative one is a refund; more than two decimals is a bad row;
// order_ref is kept as written; city and region are customer columns; the
// customers of the written orders are touched for their figures.
func TestImportExact(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		res, err := importer.Customers(ctx, s, strings.NewReader("name,external_ref,city,region,district\nC1,c-1,杭州,浙江,西湖区\nC2,c-2,,,\n"), false)
		if err != nil || res.Created != 2 {
			t.Fatalf("customers = %+v, %v", res, err)
		}
		cs, _, _ := s.ListCustomers(ctx, store.CustomerFilter{City: "杭州"})
		if len(cs) != 1 || cs[0].Region != "浙江" || cs[0].District != "西湖区" {
			t.Fatalf("by city: %+v", cs)
		}
		res, err = importer.Orders(ctx, s, strings.NewReader("customer_external_ref,kind,amount,occurred_at,order_ref\n"+
			"c-1,purchase,0.29,2026-03-01,R-1\nc-1,purchase,1280.5,2026-03-02,R-2\nc-2,purchase,-3.5,2026-03-03,R-3\n"+
			"c-2,purchase,12.345,2026-03-04,R-4\nc-2,purchase,1e3,2026-03-05,R-5\n"), true, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		wantBad := []importer.RowError{{Line: 5, Reason: `amount: "12.345" has more than two decimals`}, {Line: 6, Reason: `amount: "1e3" is not an amount (like 1280.50)`}}
		if diff := cmp.Diff(wantBad, res.Rejected); diff != "" || res.Created != 3 {
			t.Fatalf("result %+v (-want +got):\n%s", res, diff)
		}
		var got []string
		for _, o := range allOrders(t, s) {
			got = append(got, o.Amount.String()+" "+o.OrderRef)
		}
		if diff := cmp.Diff([]string{"0.29 R-1", "1280.50 R-2", "-3.50 R-3"}, got); diff != "" {
			t.Errorf("orders (-want +got):\n%s", diff)
		}
		if n, err := s.TouchBacklog(ctx, 10); n != 2 || err != nil {
			t.Errorf("touched customers: %d, %v", n, err)
		}
	})
}

// TestImportCustomersInBatches: rows act in file order as if written one by
// one, within a batch and across batches — a later row updates the
// customer an earlier one created — and a file imported again writes
// nothing; a changed tag or field is an update.
func TestImportCustomersInBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var b strings.Builder
		b.WriteString("name,phone,tags,external_ref,city\n")
		const n = 1200 // more than two batches
		for i := range n {
			fmt.Fprintf(&b, "C%d,1390000%04d,vip;car,ref-%d,上海\n", i, i, i)
		}
		// The same phone again without a ref: the customer of line 2 (its
		// empty tags column clears the tags).
		b.WriteString("Renamed,13900000000,,,北京\n")
		// A phone with no ref twice: created, then updated.
		b.WriteString("Solo,13700000001,,,\nSolo Two,13700000001,,,\n")
		file := b.String()
		res, err := importer.Customers(ctx, s, strings.NewReader(file), false)
		want := &importer.Result{Rows: n + 3, Written: n + 3, Created: n + 1, Updated: 2, Rejected: []importer.RowError{}}
		if err != nil || cmp.Diff(want, res) != "" {
			t.Fatalf("first import (-want +got):\n%s %v", cmp.Diff(want, res), err)
		}
		cs, _, err := s.ListCustomers(ctx, store.CustomerFilter{Q: "+8613900000000"})
		if err != nil || len(cs) != 1 || cs[0].Name != "Renamed" || cs[0].City != "北京" || len(cs[0].Tags) != 0 {
			t.Fatalf("line 2's customer = %+v, %v", *cs[0], err)
		}
		res, err = importer.Customers(ctx, s, strings.NewReader(file), false)
		// The renamed customer flips back and forth within the file, Solo too.
		want = &importer.Result{Rows: n + 3, Written: 4, Updated: 4, Unchanged: n - 1, Rejected: []importer.RowError{}}
		if err != nil || cmp.Diff(want, res) != "" {
			t.Fatalf("second import (-want +got):\n%s %v", cmp.Diff(want, res), err)
		}
		res, err = importer.Customers(ctx, s, strings.NewReader("external_ref,name,tags\nref-7,C7,car\nref-8,C8,car;vip\n"), false)
		want = &importer.Result{Rows: 2, Written: 1, Updated: 1, Unchanged: 1, Rejected: []importer.RowError{}}
		if err != nil || cmp.Diff(want, res) != "" {
			t.Fatalf("tags import (-want +got):\n%s %v", cmp.Diff(want, res), err)
		}
		byRef, _, err := s.CustomerIDs(ctx, []string{"ref-7"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.CustomerByID(ctx, byRef["ref-7"])
		if err != nil || cmp.Diff([]string{"car"}, c.Tags) != "" || c.Name != "C7" {
			t.Fatalf("ref-7 = %+v, %v", c, err)
		}
	})
}

// TestImportCustomersRefsTheDatabaseHoldsEqual: two external_refs the
// database compares equal (MySQL's case-insensitive collation) are one
// customer, as when written row by row; SQLite tells them apart.
func TestImportCustomersRefsTheDatabaseHoldsEqual(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		res, err := importer.Customers(ctx, s, strings.NewReader("name,external_ref\nAda,crm-a\nAda L.,CRM-A\n"), false)
		if err != nil {
			t.Fatal(err)
		}
		want := &importer.Result{Rows: 2, Written: 2, Created: 2, Rejected: []importer.RowError{}}
		if s.Dialect() == store.MySQL {
			want.Created, want.Updated = 1, 1
		}
		if diff := cmp.Diff(want, res); diff != "" {
			t.Fatalf("import (-want +got):\n%s", diff)
		}
	})
}
