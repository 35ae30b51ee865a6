package importer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/importer"
	"github.com/rapport-crm/rapport/points"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// Opening balances land once however often the file is imported; bad
// rows name their field.
func TestImportPointsTwice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		orderCustomers(t, s)
		file := "customer_external_ref,customer_phone,points,reason\nc-1,,500,旧系统积分\n,13800000003,120,\n"
		for i, want := range []counts{{Rows: 2, Written: 2, Created: 2}, {Rows: 2, Duplicates: 2}} {
			res, err := importer.Points(ctx, s, strings.NewReader(file), importer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, countsOf(res)); diff != "" {
				t.Fatalf("import %d: %s", i+1, diff)
			}
		}
		for id, want := range map[int64]int64{1: 500, 2: 0, 3: 120} {
			c, err := s.CustomerByID(ctx, id)
			if err != nil || c.Points != want {
				t.Errorf("customer %d: %d points (%v), want %d", id, c.Points, err, want)
			}
		}
		bad := "customer_external_ref,points\nc-2,ten\nc-2,0\nc-9,5\nc-2,5\nc-2,6\n"
		res, err := importer.Points(ctx, s, strings.NewReader(bad), importer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var reasons []string
		for _, r := range res.Rejected {
			reasons = append(reasons, r.Reason)
		}
		want := []string{`points: "ten" is not a whole number`, "points: must be between 1 and 1000000000",
			`customer_external_ref: no customer with external_ref "c-9"`, "customer: already on line 5"}
		if diff := cmp.Diff(want, reasons); diff != "" || res.Written != 0 {
			t.Fatalf("rejected: %s; written %d", diff, res.Written)
		}
	})
}

// An orders file imported twice earns once; a refund row with refund_of
// takes back its share.
func TestImportOrdersEarnOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		s.OnPoints(points.Rules(points.DefaultConfig(), time.UTC))
		orderCustomers(t, s)
		file := "customer_external_ref,kind,amount,occurred_at,order_ref,refund_of\n" +
			"c-1,purchase,300.00,2026-01-05,P-1,\nc-1,purchase,88.80,2026-01-06,,\nc-1,purchase,-150,2026-01-07,R-1,P-1\n"
		importOrders(t, s, file)
		importOrders(t, s, file)
		c, err := s.CustomerByID(context.Background(), 1)
		if err != nil || c.Points != 300+88-150 {
			t.Fatalf("points %d, %v; want 238", c.Points, err)
		}
	})
}

// A refund whose refund_of names no order — stored or earlier in the file
// — or another customer's, or a refund, is a bad row naming refund_of; the
// other rows are written (with -skip-bad-rows), and without it nothing is.
func TestImportOrdersRefundOfBadRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		s.OnPoints(points.Rules(points.DefaultConfig(), time.UTC))
		orderCustomers(t, s)
		importOrders(t, s, "customer_external_ref,kind,amount,occurred_at,order_ref\nc-2,purchase,50,2026-01-01,Q-1\n")
		file := "customer_external_ref,kind,amount,occurred_at,order_ref,refund_of\n" +
			"c-1,purchase,-10,2026-01-04,R-0,P-1\n" + // P-1 comes later
			"c-1,purchase,300.00,2026-01-05,P-1,\n" +
			"c-1,purchase,-100,2026-01-07,R-1,P-1\n" + // earlier in the file: fine
			"c-1,purchase,-20,2026-01-08,R-2,NOPE\n" +
			"c-1,purchase,-20,2026-01-08,R-3,Q-1\n" + // c-2's order
			"c-1,service,-20,2026-01-08,R-4,P-1\n" + // another kind
			"c-1,purchase,-5,2026-01-09,R-5,R-1\n" // a refund
		res, err := importer.Orders(ctx, s, strings.NewReader(file), false, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range res.Rejected {
			got = append(got, fmt.Sprint(r.Line, " ", r.Reason))
		}
		want := []string{
			`2 refund_of: no order "P-1", stored or on an earlier line`,
			`5 refund_of: no order "NOPE", stored or on an earlier line`,
			`6 refund_of: order "Q-1" is not a purchase of this customer`,
			`7 refund_of: order "P-1" is not a service of this customer`,
			`8 refund_of: order "R-1" is not a purchase of this customer`,
		}
		if diff := cmp.Diff(want, got); diff != "" || res.Written != 0 {
			t.Fatalf("rejected (-want +got):\n%s\nwritten %d", diff, res.Written)
		}
		res, err = importer.Orders(ctx, s, strings.NewReader(file), true, time.UTC)
		if err != nil || res.Written != 2 {
			t.Fatalf("with -skip-bad-rows: %+v, %v; want P-1 and R-1 written", res, err)
		}
		c, err := s.CustomerByID(ctx, 1)
		if err != nil || c.Points != 200 {
			t.Errorf("points %d, %v; want 300 earned, 100 reversed", c.Points, err)
		}
	})
}
