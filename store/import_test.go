package store_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
		res, err := s.ImportCustomers(ctx, open("customers.csv"), false)
		if err != nil {
			t.Fatal(err)
		}
		wantBad := []store.RowError{
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
		res, err = s.ImportCustomers(ctx, open("customers.csv"), true)
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 2 || len(res.Rejected) != 3 {
			t.Fatalf("skip result = %+v", res)
		}
		cs, _, _ := s.ListCustomers(ctx, store.CustomerFilter{})
		if len(cs) != 2 || cs[0].Name != "张三" || cs[0].Phone != "13800138000" || cs[0].Email != "zs@example.com" ||
			cs[0].Birthday.String() != "1990-02-28" || strings.Join(cs[0].Tags, ",") != "vip,wine" || cs[0].Source != "import" {
			t.Fatalf("customers = %+v", cs[0])
		}
		// Importing again updates by external_ref instead of duplicating.
		res, err = s.ImportCustomers(ctx, strings.NewReader("name,external_ref\nZhang San,crm-1\n"), false)
		if err != nil || res.Updated != 1 || res.Created != 0 {
			t.Fatalf("re-import = %+v, %v", res, err)
		}
		// Header errors stop the whole file.
		if _, err := s.ImportCustomers(ctx, strings.NewReader("name,shoe_size\nx,42\n"), true); !store.IsCode(err, store.EINVALID) {
			t.Errorf("unknown column: %v", err)
		}

		res, err = s.ImportOrders(ctx, open("orders.csv"), false, sh)
		if err != nil {
			t.Fatal(err)
		}
		if res.Written != 0 || len(res.Rejected) != 2 || res.Rejected[0].Line != 4 || res.Rejected[1].Line != 5 {
			t.Fatalf("orders = %+v", res)
		}
		res, err = s.ImportOrders(ctx, open("orders.csv"), true, sh)
		if err != nil || res.Written != 2 {
			t.Fatalf("orders skip = %+v, %v", res, err)
		}
		os, err := s.OrdersBetween(ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, sh), time.Date(2026, 3, 2, 0, 0, 0, 0, sh), "", 0, 10)
		if err != nil || len(os) != 2 || os[0].Amount != 99.5 || !os[0].OccurredAt.Equal(time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)) {
			t.Fatalf("stored orders = %+v, %v", os, err)
		}
	})
}
