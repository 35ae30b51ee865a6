package store_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func change(actor string) store.TemplateChange {
	return store.TemplateChange{Key: "birthday", Locale: store.LocaleZH, DefaultBody: "shipped", Actor: actor, Source: store.TemplateSourceAPI}
}

func TestTemplateVersions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if h, err := s.TemplateHeadOf(ctx, "birthday", store.LocaleZH); err != nil || h != nil {
			t.Fatalf("head before any change = %v, %v; want nil", h, err)
		}
		v, err := s.SaveTemplate(ctx, change("Meg"), "second")
		if err != nil {
			t.Fatal(err)
		}
		if v.Version != 2 || v.Author != "Meg" || v.Source != "api" {
			t.Errorf("first save = %+v, want version 2 by Meg", v)
		}
		if _, err := s.SaveTemplate(ctx, change("Ann"), "third"); err != nil {
			t.Fatal(err)
		}
		vs, next, err := s.TemplateVersions(ctx, "birthday", store.LocaleZH, store.Page{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if got := bodies(vs); !cmp.Equal(got, []string{"third", "second"}) || next == "" {
			t.Fatalf("page 1 = %v next %q", got, next)
		}
		vs, next, err = s.TemplateVersions(ctx, "birthday", store.LocaleZH, store.Page{Limit: 2, Cursor: next})
		if err != nil {
			t.Fatal(err)
		}
		if got := bodies(vs); !cmp.Equal(got, []string{"shipped"}) || next != "" || vs[0].Source != store.TemplateSourceDefault {
			t.Fatalf("page 2 = %v next %q", got, next)
		}

		h, err := s.RollbackTemplate(ctx, change("Meg"), 1)
		if err != nil {
			t.Fatal(err)
		}
		if h.Active != 1 || h.Latest != 3 || h.UpdatedBy != "Meg" {
			t.Errorf("after rollback head = %+v", h)
		}
		if _, err := s.RollbackTemplate(ctx, change("Meg"), 9); !store.IsCode(err, store.EINVALID) {
			t.Errorf("rollback to a missing version: %v, want invalid", err)
		}
		v, err = s.SaveTemplate(ctx, change("Ann"), "fourth")
		if err != nil || v.Version != 4 {
			t.Fatalf("save after rollback = %+v, %v; want version 4", v, err)
		}
		// A rejected change writes nothing.
		if _, err := s.SaveTemplate(ctx, change("Ann"), "  "); !store.IsCode(err, store.EINVALID) {
			t.Errorf("empty body: %v", err)
		}
		h, _ = s.TemplateHeadOf(ctx, "birthday", store.LocaleZH)
		if h.Active != 4 || h.Latest != 4 {
			t.Errorf("head = %+v, want active 4", h)
		}
		audit, _, err := s.TemplateAuditLog(ctx, "birthday", store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range audit {
			got = append(got, fmt.Sprintf("%s %d->%d %s %s", a.Action, a.PrevVersion, a.Version, a.Actor, a.Source))
		}
		want := []string{"save 1->4 Ann api", "rollback 3->1 Meg api", "save 2->3 Ann api", "save 1->2 Meg api"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
	})
}

func bodies(vs []store.TemplateVersion) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Body)
	}
	return out
}

// TestTemplateConcurrentSaves: managers saving at once all get versions;
// none is lost or numbered twice.
func TestTemplateConcurrentSaves(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.SaveTemplate(ctx, change(fmt.Sprint("m", i)), fmt.Sprint("body ", i))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		vs, _, err := s.TemplateVersions(ctx, "birthday", store.LocaleZH, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var nums []int
		seen := map[string]bool{}
		for _, v := range vs {
			nums = append(nums, v.Version)
			seen[v.Body] = true
		}
		sort.Ints(nums)
		want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9}
		if !cmp.Equal(nums, want) || len(seen) != n+1 {
			t.Errorf("versions %v (%d bodies), want %v", nums, len(seen), want)
		}
		h, _ := s.TemplateHeadOf(ctx, "birthday", store.LocaleZH)
		if h.Active != 9 || h.Latest != 9 {
			t.Errorf("head = %+v", h)
		}
	})
}

func TestTemplateDrafts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		st, err := s.CreateStaff(ctx, store.StaffInput{Name: "Meg", Role: store.RoleManager})
		if err != nil {
			t.Fatal(err)
		}
		if d, err := s.TemplateDraftOf(ctx, st.ID); d != nil || err != nil {
			t.Fatalf("no draft yet: %v %v", d, err)
		}
		c := change("Meg")
		c.Source = store.TemplateSourceChat
		if err := s.SetTemplateDraft(ctx, store.TemplateDraft{StaffID: st.ID, Key: "birthday", Locale: store.LocaleZH, Body: "old"}); err != nil {
			t.Fatal(err)
		}
		stale, _ := s.TemplateDraftOf(ctx, st.ID)
		if err := s.SetTemplateDraft(ctx, store.TemplateDraft{StaffID: st.ID, Key: "birthday", Locale: store.LocaleZH, Body: "new"}); err != nil {
			t.Fatal(err)
		}
		// The replaced draft cannot be confirmed.
		if _, err := s.ConfirmTemplateDraft(ctx, c, stale); !store.IsCode(err, store.ECONFLICT) {
			t.Fatalf("confirm replaced draft: %v, want conflict", err)
		}
		d, _ := s.TemplateDraftOf(ctx, st.ID)
		if d.Body != "new" {
			t.Fatalf("draft = %+v", d)
		}
		v, err := s.ConfirmTemplateDraft(ctx, c, d)
		if err != nil || v.Version != 2 || v.Body != "new" || v.Source != "chat" {
			t.Fatalf("confirm = %+v, %v", v, err)
		}
		// Confirming again (a redelivered message, another replica) saves nothing.
		if _, err := s.ConfirmTemplateDraft(ctx, c, d); !store.IsCode(err, store.ECONFLICT) {
			t.Fatalf("second confirm: %v, want conflict", err)
		}
		if h, _ := s.TemplateHeadOf(ctx, "birthday", store.LocaleZH); h.Latest != 2 {
			t.Errorf("head = %+v, want latest 2", h)
		}
		if d, _ := s.TemplateDraftOf(ctx, st.ID); d != nil {
			t.Errorf("draft left after confirm: %+v", d)
		}
	})
}

func TestTemplateDefaultsSeed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		defs := []store.TemplateVersion{{Key: "birthday", Locale: store.LocaleZH, Body: "shipped"}, {Key: "birthday", Locale: store.LocaleEN, Body: "shipped en"}}
		for range 2 {
			if err := s.EnsureTemplateDefaults(ctx, defs); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SaveTemplate(ctx, change("Meg"), "second"); err != nil {
			t.Fatal(err)
		}
		if err := s.EnsureTemplateDefaults(ctx, defs); err != nil {
			t.Fatal(err)
		}
		hs, err := s.TemplateHeads(ctx)
		if err != nil || len(hs) != 2 {
			t.Fatalf("heads = %+v, %v", hs, err)
		}
		v, err := s.TemplateVersionOf(ctx, "birthday", store.LocaleZH, 1)
		if err != nil || v.Body != "shipped" {
			t.Errorf("v1 = %+v, %v", v, err)
		}
		if h, _ := s.TemplateHeadOf(ctx, "birthday", store.LocaleZH); h.Active != 2 {
			t.Errorf("seeding again changed the head: %+v", h)
		}
	})
}
