package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// TestAuditEvents: events are listed newest first with their actors'
// names, filtered by actor, action (or all of a noun's actions) and time,
// a page at a time; an oversized summary is cut, not refused.
func TestAuditEvents(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			clock := storetest.NewClock(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			ann := mustStaff(t, s, "Ann", store.RoleManager)
			_, tok, err := s.CreateToken(ctx, store.TokenInput{Name: "ci", Role: store.RoleAdmin})
			if err != nil {
				t.Fatal(err)
			}
			record := func(ev store.AuditEvent) {
				t.Helper()
				if err := s.RecordAudit(ctx, ev); err != nil {
					t.Fatal(err)
				}
				clock.Advance(time.Hour)
			}
			record(store.AuditEvent{TokenID: &tok.ID, Via: store.AuditViaAPI, Action: "token.create", SubjectType: "token", SubjectID: "2",
				Summary: map[string]any{"name": "laptop", "role": "agent"}})
			record(store.AuditEvent{StaffID: &ann.ID, Via: store.AuditViaConsole, Action: "template.save", SubjectType: "template", SubjectID: "birthday",
				Summary: map[string]any{"version": 2}})
			record(store.AuditEvent{StaffID: &ann.ID, Via: store.AuditViaConsole, Action: "token.revoke", SubjectType: "token", SubjectID: "2"})
			record(store.AuditEvent{StaffID: &ann.ID, Via: store.AuditViaConsole, Action: "tokenish.x"})
			record(store.AuditEvent{Via: store.AuditViaAPI, Action: "outbox.requeue", Summary: map[string]any{"big": strings.Repeat("x", 5000)}})

			list := func(f store.AuditFilter) []string {
				t.Helper()
				evs, _, err := s.ListAudit(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, e := range evs {
					out = append(out, e.Action+" by "+e.ActorName)
				}
				return out
			}
			if diff := cmp.Diff([]string{"outbox.requeue by ", "tokenish.x by Ann", "token.revoke by Ann", "template.save by Ann", "token.create by ci"},
				list(store.AuditFilter{})); diff != "" {
				t.Errorf("all (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"token.revoke by Ann", "token.create by ci"}, list(store.AuditFilter{Action: "token"})); diff != "" {
				t.Errorf("action=token (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"template.save by Ann"}, list(store.AuditFilter{Action: "template.save"})); diff != "" {
				t.Errorf("action=template.save (-want +got):\n%s", diff)
			}
			if got := list(store.AuditFilter{Action: "token_"}); len(got) != 0 {
				t.Errorf("a LIKE wildcard in action matched %v", got)
			}
			if diff := cmp.Diff([]string{"token.create by ci"}, list(store.AuditFilter{TokenID: &tok.ID})); diff != "" {
				t.Errorf("token actor (-want +got):\n%s", diff)
			}
			start := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
			if diff := cmp.Diff([]string{"token.revoke by Ann", "template.save by Ann"},
				list(store.AuditFilter{StaffID: &ann.ID, From: start.Add(time.Hour), To: start.Add(3 * time.Hour)})); diff != "" {
				t.Errorf("staff and time (-want +got):\n%s", diff)
			}

			evs, next, err := s.ListAudit(ctx, store.AuditFilter{Page: store.Page{Limit: 2}})
			if err != nil || len(evs) != 2 || next == "" {
				t.Fatalf("page 1: %v %q %v", evs, next, err)
			}
			if evs[0].Summary["truncated"] != true {
				t.Errorf("oversized summary = %v", evs[0].Summary)
			}
			evs, _, _ = s.ListAudit(ctx, store.AuditFilter{Page: store.Page{Limit: 2, Cursor: next}})
			if len(evs) != 2 || evs[0].Action != "token.revoke" {
				t.Errorf("page 2: %v", evs)
			}
			last, _, _ := s.ListAudit(ctx, store.AuditFilter{Action: "token.create"})
			if last[0].Summary["name"] != "laptop" || last[0].Via != "api" || last[0].SubjectID != "2" || !last[0].At.Equal(start) {
				t.Errorf("stored event = %+v", last[0])
			}
			if err := s.RecordAudit(ctx, store.AuditEvent{Via: "api"}); !store.IsCode(err, store.EINVALID) {
				t.Errorf("no action: %v", err)
			}
			if _, _, err := s.ListAudit(ctx, store.AuditFilter{From: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)}); !store.IsCode(err, store.EINVALID) {
				t.Errorf("year 1: %v", err)
			}
		})
	}
}
