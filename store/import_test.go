package store_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gorm.io/gorm/schema"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// TestCustomerCols: the import writes and reads every column of the
// model (a column it left out would be lost when it saves a customer it
// read), and no other.
func TestCustomerCols(t *testing.T) {
	sch, err := schema.Parse(&store.Customer{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(sch.DBNames))
	got := slices.Sorted(slices.Values(strings.Split(store.CustomerCols, ", ")))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("columns (-model +import):\n%s", diff)
	}
}

// TestImportCustomerRoundTrip: a customer with every column set, written
// by the import's INSERT, reads back through GORM as it was written, and
// through the import's read as GORM reads it.
func TestImportCustomerRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		// Distinct values, so that two columns swapped show.
		ann, bo, cy := mustStaff(t, s, "Ann", store.RoleManager), mustStaff(t, s, "Bo", store.RoleManager), mustStaff(t, s, "Cy", store.RoleManager)
		at := func(day int) *time.Time {
			t := time.Date(2026, 3, day, 8, 30, 15, 123e6, time.UTC)
			return &t
		}
		str := func(v string) *string { return &v }
		in := store.Customer{Name: "Ada", Phone: "+8613800000001", PhoneKey: str("+8613800000001"), Email: "ada@example.com",
			Birthday: store.Birthday{Month: 5, Day: 17, Year: 1990}, Gender: "female", Company: "ACME", Source: "import",
			Tier: store.TierA, Stage: store.StageActive, OptOut: true, OwnerStaffID: &ann.ID, Points: 7, Locale: store.LocaleEN,
			ExternalRef: str("crm-1"), LastInboundAt: at(1), CreatedAt: *at(2), UpdatedAt: *at(3), City: "杭州", Region: "浙江",
			District: "西湖区", OptOutAt: at(4), TierPinnedAt: at(5), TierPinnedBy: &bo.ID, StagePinnedAt: at(6), StagePinnedBy: &cy.ID}
		written := in
		var read []*store.Customer
		err := s.ImportCustomers(ctx, func(w *store.CustomerImport) error {
			if err := w.Insert([]*store.Customer{&written}); err != nil {
				return err
			}
			var err error
			read, err = w.CustomersWhere("external_ref", []string{"crm-1"})
			return err
		})
		if err != nil || written.ID == 0 || len(read) != 1 {
			t.Fatalf("insert: id %d, read %d, %v", written.ID, len(read), err)
		}
		byGORM, err := s.CustomerByID(ctx, written.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored := func(c store.Customer) store.Customer {
			return store.Customer{ID: c.ID, Name: c.Name, Phone: c.Phone, PhoneKey: c.PhoneKey, Email: c.Email, Birthday: c.Birthday,
				Gender: c.Gender, Company: c.Company, Source: c.Source, Tier: c.Tier, Stage: c.Stage, OptOut: c.OptOut,
				OwnerStaffID: c.OwnerStaffID, Points: c.Points, Locale: c.Locale, ExternalRef: c.ExternalRef, LastInboundAt: c.LastInboundAt,
				CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, City: c.City, Region: c.Region, District: c.District, OptOutAt: c.OptOutAt,
				TierPinnedAt: c.TierPinnedAt, TierPinnedBy: c.TierPinnedBy, StagePinnedAt: c.StagePinnedAt, StagePinnedBy: c.StagePinnedBy}
		}
		in.ID = written.ID
		if diff := cmp.Diff(stored(in), stored(*byGORM), cmpopts.EquateComparable(store.Money{})); diff != "" {
			t.Errorf("written, read by GORM (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(stored(*byGORM), stored(*read[0]), cmpopts.EquateComparable(store.Money{})); diff != "" {
			t.Errorf("read by the import (-GORM +import):\n%s", diff)
		}
	})
}

// TestImportCustomerIDs: created customers get their own ids back whatever
// key they have (an external_ref, a phone, neither), in batches whose
// INSERT is prepared (as big as the first big one) or written out.
func TestImportCustomerIDs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var batches [][]store.CustomerRow
		n := 0
		for _, size := range []int{150, 150, 40, 150} {
			var rows []store.CustomerRow
			for range size {
				name := fmt.Sprintf("C%d", n)
				in := store.CustomerInput{Name: &name}
				switch n % 3 {
				case 0:
					ref := fmt.Sprintf("ref-%d", n)
					in.ExternalRef = &ref
				case 1:
					phone := fmt.Sprintf("1390000%04d", n)
					in.Phone = &phone
				}
				rows = append(rows, store.CustomerRow{Line: n + 2, In: in})
				n++
			}
			batches = append(batches, rows)
		}
		created := 0
		err := s.ImportCustomers(ctx, func(w *store.CustomerImport) error {
			created = 0
			for _, rows := range batches {
				c, _, _, err := w.Write(rows)
				if err != nil {
					return err
				}
				created += c
			}
			return nil
		})
		if err != nil || created != n {
			t.Fatalf("created %d of %d: %v", created, n, err)
		}
		cs, _, err := s.ListCustomers(ctx, store.CustomerFilter{Page: store.Page{Limit: 500}})
		if err != nil || len(cs) != n {
			t.Fatalf("%d customers, want %d: %v", len(cs), n, err)
		}
		for _, c := range cs {
			var i int
			fmt.Sscanf(c.Name, "C%d", &i)
			ref, phone := "", ""
			switch i % 3 {
			case 0:
				ref = fmt.Sprintf("ref-%d", i)
			case 1:
				phone = fmt.Sprintf("+861390000%04d", i)
			}
			if got := c.ExternalRef; (got == nil) != (ref == "") || got != nil && *got != ref || c.Phone != phone {
				t.Errorf("%s: external_ref %v, phone %q; want %q, %q", c.Name, c.ExternalRef, c.Phone, ref, phone)
			}
		}
	})
}

// TestImportCustomerIDsInterleaved: the ids an import gives the customers
// it creates are theirs (the tags it writes by them land on them) while
// another writer creates customers between and during its INSERTs; on
// MySQL also with ids two apart (auto_increment_increment, as on a Galera
// node), which the import must step by rather than assume consecutive.
func TestImportCustomerIDsInterleaved(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			cfg := storetest.Config(t, dialect)
			if dialect == store.MySQL {
				cfg.DSN += "?auto_increment_increment=2"
			}
			s := storetest.OpenConfig(t, cfg)
			ctx := context.Background()
			const batches, size = 4, 200
			var rows [][]store.CustomerRow
			for b := range batches {
				var batch []store.CustomerRow
				for i := b * size; i < (b+1)*size; i++ {
					name, tags := fmt.Sprintf("C%d", i), []string{fmt.Sprintf("t-%d", i)}
					in := store.CustomerInput{Name: &name, Tags: &tags}
					if i%2 == 0 {
						ref := fmt.Sprintf("ref-%d", i)
						in.ExternalRef = &ref
					}
					batch = append(batch, store.CustomerRow{Line: i + 2, In: in})
				}
				rows = append(rows, batch)
			}
			octx, stop := context.WithCancel(ctx)
			made := make(chan struct{}, 1000)
			done := make(chan error)
			go func() {
				for n := 0; ; n++ {
					name, tags := fmt.Sprintf("other-%d", n), []string{"other"}
					_, err := s.CreateCustomer(octx, store.CustomerInput{Name: &name, Tags: &tags})
					if octx.Err() != nil {
						done <- nil
						return
					} else if err != nil {
						done <- err
						return
					}
					made <- struct{}{}
				}
			}()
			err := s.ImportCustomers(ctx, func(w *store.CustomerImport) error {
				for _, batch := range rows {
					if dialect == store.MySQL {
						<-made // another customer since the last INSERT
					}
					if _, _, _, err := w.Write(batch); err != nil {
						return err
					}
				}
				return nil
			})
			stop()
			if err := <-done; err != nil {
				t.Fatalf("other writer: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			var imported int
			for page := ""; ; {
				cs, next, err := s.ListCustomers(ctx, store.CustomerFilter{Page: store.Page{Limit: 500, Cursor: page}})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cs {
					want := []string{"other"}
					if i, err := strconv.Atoi(strings.TrimPrefix(c.Name, "C")); err == nil {
						want = []string{fmt.Sprintf("t-%d", i)}
						imported++
					}
					if diff := cmp.Diff(want, c.Tags); diff != "" {
						t.Errorf("customer %d %s: tags (-want +got):\n%s", c.ID, c.Name, diff)
					}
				}
				if page = next; page == "" {
					break
				}
			}
			if imported != batches*size {
				t.Errorf("%d customers imported, want %d", imported, batches*size)
			}
		})
	}
}

// TestImportCustomersReadOnlyWhenNeeded: a batch of rows that match no
// stored customer is written without reading; one that matches a customer
// stored before the import, or created by an earlier batch, is written as
// if read first, and the batches after it read until one finds nobody.
func TestImportCustomersReadOnlyWhenNeeded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		str := func(v string) *string { return &v }
		row := func(ref, name, phone string) store.CustomerRow {
			in := store.CustomerInput{ExternalRef: str(ref), Name: str(name)}
			if phone != "" {
				in.Phone = str(phone)
			}
			return store.CustomerRow{In: in}
		}
		x, err := s.CreateCustomer(ctx, store.CustomerInput{Name: str("X"), Phone: str("13800000001"), ExternalRef: str("x-1")})
		if err != nil {
			t.Fatal(err)
		}
		type want struct {
			created, updated, unchanged int
			reads                       int   // batches so far that read first
			rejected                    []int // rows with an Err
		}
		steps := []struct {
			name string
			rows []store.CustomerRow
			want want
		}{
			{"new", []store.CustomerRow{row("a", "A", "13900000001"), row("b", "B", "")}, want{created: 2}},
			{"new again", []store.CustomerRow{row("c", "C", "")}, want{created: 1}},
			{"stored before", []store.CustomerRow{row("d", "D", ""), row("x-1", "X2", "")}, want{created: 1, updated: 1, reads: 1}},
			// Reads, finds nobody: the next batch tries without.
			{"new after reading", []store.CustomerRow{row("e", "E", "")}, want{created: 1, reads: 2}},
			{"an earlier batch's", []store.CustomerRow{row("f", "F", ""), row("a", "A", "13900000001"), row("b", "B2", "")}, want{created: 1, updated: 1, unchanged: 1, reads: 3}},
			{"phone taken", []store.CustomerRow{row("g", "G", "13800000001"), row("h", "H", "")}, want{created: 1, rejected: []int{0}, reads: 4}},
			{"new, reading", []store.CustomerRow{row("i", "I", "")}, want{created: 1, reads: 5}},
			{"new, not reading", []store.CustomerRow{row("j", "J", "")}, want{created: 1, reads: 5}},
		}
		err = s.ImportCustomers(ctx, func(w *store.CustomerImport) error {
			for _, st := range steps {
				c, u, n, err := w.Write(st.rows)
				if err != nil {
					return fmt.Errorf("%s: %w", st.name, err)
				}
				got := want{created: c, updated: u, unchanged: n, reads: w.Reads()}
				for i, r := range st.rows {
					if r.Err != nil {
						got.rejected = append(got.rejected, i)
					}
				}
				if diff := cmp.Diff(st.want, got, cmp.AllowUnexported(want{})); diff != "" {
					t.Errorf("%s (-want +got):\n%s", st.name, diff)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		cs, _, err := s.ListCustomers(ctx, store.CustomerFilter{Page: store.Page{Limit: 50}})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
			if c.ID == x.ID && c.Name != "X2" {
				t.Errorf("x-1 is %q, want X2", c.Name)
			}
		}
		slices.Sort(names)
		if diff := cmp.Diff([]string{"A", "B2", "C", "D", "E", "F", "H", "I", "J", "X2"}, names); diff != "" {
			t.Errorf("customers (-want +got):\n%s", diff)
		}
	})
}
