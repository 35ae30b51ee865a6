package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func ptr[T any](v T) *T { return &v }

func TestCustomerCreateGetUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c, err := s.CreateCustomer(ctx, store.CustomerInput{
			Name: ptr("王芳 🎂"), Phone: ptr("+86 138 0013 8000"), Email: ptr("Wang@Example.com"),
			Birthday: ptr("02-29"), Tags: &[]string{"vip", " 老客户 ", "vip"},
			Identities: []store.IdentityRef{{Channel: "telegram", ExternalID: "1001"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.CustomerByID(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "王芳 🎂" || got.Phone != "+8613800138000" || got.Email != "wang@example.com" {
			t.Errorf("got %q %q %q", got.Name, got.Phone, got.Email)
		}
		if got.Birthday.String() != "02-29" || got.Source != "api" || got.Tier != store.TierC || got.Stage != store.StagePotential || got.Locale != "zh-CN" {
			t.Errorf("defaults: %+v", got)
		}
		if diff := cmp.Diff([]string{"vip", "老客户"}, got.Tags); diff != "" {
			t.Errorf("tags (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]store.IdentityRef{{Channel: "telegram", ExternalID: "1001"}}, refs(got.Identities)); diff != "" {
			t.Errorf("identities (-want +got):\n%s", diff)
		}

		up, err := s.UpdateCustomer(ctx, c.ID, store.CustomerInput{Tier: store.PinTo(store.Tier("a")), Stage: store.PinTo(store.StageAtRisk), Birthday: ptr("1990-03-15"), Tags: &[]string{}})
		if err != nil {
			t.Fatal(err)
		}
		if up.Tier != store.TierA || up.Stage != store.StageAtRisk || up.Birthday.String() != "1990-03-15" || len(up.Tags) != 0 || up.Name != "王芳 🎂" {
			t.Errorf("after update: %+v", up)
		}
	})
}

func refs(ids []store.Identity) []store.IdentityRef {
	out := make([]store.IdentityRef, len(ids))
	for i, id := range ids {
		out[i] = store.IdentityRef{Channel: id.Channel, ExternalID: id.ExternalID}
	}
	return out
}

func TestCustomerBadInputChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("Ann"), Identities: []store.IdentityRef{{Channel: "wechat", ExternalID: "o1"}}})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name      string
			in        store.CustomerInput
			wantCode  string
			wantField string
		}{
			{"bad birthday", store.CustomerInput{Name: ptr("B"), Birthday: ptr("02-30")}, store.EINVALID, "birthday"},
			{"bad phone", store.CustomerInput{Name: ptr("B"), Phone: ptr("call me")}, store.EINVALID, "phone"},
			{"bad email", store.CustomerInput{Name: ptr("B"), Email: ptr("nope@")}, store.EINVALID, "email"},
			{"bad tier", store.CustomerInput{Name: ptr("B"), Tier: store.PinTo(store.Tier("D"))}, store.EINVALID, "tier"},
			{"no owner", store.CustomerInput{Name: ptr("B"), OwnerStaffID: ptr(int64(999))}, store.EINVALID, "owner_staff_id"},
			{"no name", store.CustomerInput{}, store.EINVALID, "name"},
			{"dup identity", store.CustomerInput{Name: ptr("B"), Identities: []store.IdentityRef{{Channel: "wechat", ExternalID: "o1"}}}, store.ECONFLICT, ""},
			{"bad channel", store.CustomerInput{Name: ptr("B"), Identities: []store.IdentityRef{{Channel: "sms", ExternalID: "1"}}}, store.EINVALID, "identities"},
		}
		for _, tt := range tests {
			_, err := s.CreateCustomer(ctx, tt.in)
			if got := store.ErrorCode(err); got != tt.wantCode {
				t.Errorf("%s: code = %q (%v), want %q", tt.name, got, err, tt.wantCode)
			}
			var se *store.Error
			if tt.wantField != "" && (!asError(err, &se) || se.Field != tt.wantField) {
				t.Errorf("%s: field = %v, want %q", tt.name, err, tt.wantField)
			}
		}
		// Nothing half-written: only Ann exists, and a failed update left her alone.
		if _, err := s.UpdateCustomer(ctx, c.ID, store.CustomerInput{Name: ptr("Changed"), Email: ptr("bad")}); store.ErrorCode(err) != store.EINVALID {
			t.Fatalf("update with bad email: %v", err)
		}
		all, _, err := s.ListCustomers(ctx, store.CustomerFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 || all[0].Name != "Ann" {
			t.Errorf("customers after bad input: %d, first %q", len(all), all[0].Name)
		}
		if _, err := s.UpdateCustomer(ctx, 12345, store.CustomerInput{Name: ptr("x")}); store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("update unknown: %v", err)
		}
	})
}

func asError(err error, target **store.Error) bool {
	e, ok := err.(interface{ Unwrap() error })
	for err != nil {
		if se, ok2 := err.(*store.Error); ok2 {
			*target = se
			return true
		}
		if !ok {
			return false
		}
		err = e.Unwrap()
		e, ok = err.(interface{ Unwrap() error })
	}
	return false
}

func TestListCustomersFiltersAndPaging(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for i := 1; i <= 7; i++ {
			in := store.CustomerInput{Name: ptr(fmt.Sprintf("客户%d", i)), Phone: ptr(fmt.Sprintf("1380000000%d", i))}
			if i%2 == 0 {
				in.Tier, in.Tags = store.PinTo(store.TierA), &[]string{"vip"}
			}
			if i == 3 {
				in.Identities = []store.IdentityRef{{Channel: "telegram", ExternalID: "333"}}
				in.Name = ptr("100%_real")
			}
			if _, err := s.CreateCustomer(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		names := func(f store.CustomerFilter) []string {
			t.Helper()
			cs, _, err := s.ListCustomers(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			out := []string{}
			for _, c := range cs {
				out = append(out, c.Name)
			}
			return out
		}
		tests := []struct {
			name string
			f    store.CustomerFilter
			want []string
		}{
			{"identity", store.CustomerFilter{Channel: "telegram", ExternalID: "333"}, []string{"100%_real"}},
			{"tier", store.CustomerFilter{Tier: "A"}, []string{"客户2", "客户4", "客户6"}},
			{"tag", store.CustomerFilter{Tag: "vip"}, []string{"客户2", "客户4", "客户6"}},
			{"name", store.CustomerFilter{Q: "客户5"}, []string{"客户5"}},
			{"phone prefix", store.CustomerFilter{Q: "13800000007"}, []string{"客户7"}},
			{"like is escaped", store.CustomerFilter{Q: "%_"}, []string{"100%_real"}},
			{"no match", store.CustomerFilter{Channel: "wechat", ExternalID: "333"}, []string{}},
		}
		for _, tt := range tests {
			if diff := cmp.Diff(tt.want, names(tt.f)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.name, diff)
			}
		}
		// Paging walks every customer exactly once.
		var seen []int64
		p := store.Page{Limit: 3}
		for pages := 0; ; pages++ {
			cs, next, err := s.ListCustomers(ctx, store.CustomerFilter{Page: p})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				seen = append(seen, c.ID)
			}
			if next == "" {
				break
			}
			p.Cursor = next
		}
		if len(seen) != 7 {
			t.Errorf("paging saw %d customers, want 7", len(seen))
		}
		if _, _, err := s.ListCustomers(ctx, store.CustomerFilter{Page: store.Page{Cursor: "!!"}}); store.ErrorCode(err) != store.EINVALID {
			t.Errorf("bad cursor: %v", err)
		}
		if _, _, err := s.ListCustomers(ctx, store.CustomerFilter{Page: store.Page{Limit: 501}}); store.ErrorCode(err) != store.EINVALID {
			t.Errorf("limit 501: %v", err)
		}
	})
}

func TestResolveIdentityConcurrentFirstContact(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var wg sync.WaitGroup
		ids := make([]int64, 8)
		errs := make([]error, 8)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, err := s.ResolveIdentity(ctx, store.Contact{Channel: "wechat", ExternalID: "oABC", Source: "wechat:qrscene:store42"})
				errs[i] = err
				if err == nil {
					ids[i] = id.CustomerID
				}
			}()
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil {
				t.Fatalf("resolve %d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Fatalf("customers %v: first contact raced into two identities", ids)
			}
		}
		c, err := s.CustomerByID(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if c.Source != "wechat:qrscene:store42" {
			t.Errorf("source = %q", c.Source)
		}
	})
}

func TestRecordInboundDedup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		id, err := s.ResolveIdentity(ctx, store.Contact{Channel: "telegram", ExternalID: "42", DisplayName: "Bob"})
		if err != nil {
			t.Fatal(err)
		}
		in := store.Inbound{Channel: "telegram", DedupKey: "update:7", ChatID: "42", Text: "你好 😀", Raw: make([]byte, store.MaxRawBytes+100)}
		m1, dup1, err := s.RecordInbound(ctx, id, in)
		if err != nil || dup1 {
			t.Fatalf("first: %v dup=%v", err, dup1)
		}
		m2, dup2, err := s.RecordInbound(ctx, id, in)
		if err != nil || !dup2 || m2.ID != m1.ID {
			t.Fatalf("second: %v dup=%v id=%d want %d", err, dup2, m2.ID, m1.ID)
		}
		ms, _, err := s.ListMessages(ctx, id.CustomerID, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 1 || ms[0].Text != "你好 😀" || ms[0].Direction != "in" {
			t.Fatalf("messages: %+v", ms)
		}
		c, _ := s.CustomerByID(ctx, id.CustomerID)
		if c.LastInboundAt == nil {
			t.Error("last_inbound_at not set")
		}
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			cfg := storetest.Config(t, d)
			s := storetest.OpenConfig(t, cfg)
			ctx := context.Background()
			// Concurrent and repeated migrations are no-ops.
			var wg sync.WaitGroup
			errs := make(chan error, 3)
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s2, err := store.Open(ctx, cfg)
					if err != nil {
						errs <- err
						return
					}
					defer s2.Close()
					errs <- s2.Migrate(ctx)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			ok, err := s.SchemaCurrent(ctx)
			if err != nil || !ok {
				t.Fatalf("SchemaCurrent = %v, %v", ok, err)
			}
		})
	}
}
