package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// TestTaskQueue: a work queue puts complaints first, then overdue tasks,
// then the rest by due time (none last), pages through all of them, and
// names each task's customer.
func TestTaskQueue(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			clock := storetest.NewClock(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			ann := mustStaff(t, s, "Ann", store.RoleAgent)
			bob := mustStaff(t, s, "Bob", store.RoleAgent)
			li := mustCustomer(t, s, "李雷")
			han := mustCustomer(t, s, "韩梅梅")
			at := func(h int) *time.Time { v := clock.Now().Add(time.Duration(h) * time.Hour); return &v }
			open := func(c *store.Customer, kind, title string, due *time.Time, who *store.Staff) int64 {
				t.Helper()
				id := who.ID
				task, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: kind, Title: title, DueAt: due, AssigneeID: &id})
				if err != nil {
					t.Fatal(err)
				}
				return task.ID
			}
			later := open(li, store.TaskManual, "later", at(5), ann)
			none := open(han, store.TaskManual, "no due", nil, ann)
			overdue := open(han, store.TaskRevisit, "overdue", at(-2), ann)
			soon := open(li, store.TaskManual, "soon", at(1), ann)
			complaint := open(li, store.TaskComplaint, "complaint", at(20), ann)
			open(li, store.TaskManual, "bob's", at(-5), bob)
			closed := open(han, store.TaskManual, "closed", at(-9), ann)
			done := store.TaskDone
			if _, err := s.UpdateTask(ctx, closed, store.TaskUpdate{Status: &done}, store.SystemActor()); err != nil {
				t.Fatal(err)
			}

			annActor := store.Actor{StaffID: &ann.ID, Role: store.RoleAgent, Via: store.ViaAPI}
			var got []int64
			var names []string
			cursor := ""
			for page := 0; ; page++ {
				ts, next, err := s.TaskQueue(ctx, annActor, store.QueueFilter{Page: store.Page{Limit: 2, Cursor: cursor}})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.NoteCustomerNames(ctx, ts...); err != nil {
					t.Fatal(err)
				}
				for _, x := range ts {
					got = append(got, x.ID)
					names = append(names, x.CustomerName)
				}
				if cursor = next; cursor == "" || page > 5 {
					break
				}
			}
			if diff := cmp.Diff([]int64{complaint, overdue, soon, later, none}, got); diff != "" {
				t.Errorf("queue order (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"李雷", "韩梅梅", "李雷", "李雷", "韩梅梅"}, names); diff != "" {
				t.Errorf("customer names (-want +got):\n%s", diff)
			}

			// Agents work their own queue; a manager may look at anyone's.
			if _, _, err := s.TaskQueue(ctx, annActor, store.QueueFilter{AssigneeID: &bob.ID}); !store.IsCode(err, store.EFORBIDDEN) {
				t.Errorf("agent reads Bob's queue: %v", err)
			}
			mgr := store.Actor{Role: store.RoleManager, Via: store.ViaAPI}
			ts, _, err := s.TaskQueue(ctx, mgr, store.QueueFilter{AssigneeID: &bob.ID})
			if err != nil || len(ts) != 1 || ts[0].Title != "bob's" {
				t.Errorf("manager reads Bob's queue: %v %v", ts, err)
			}
			if _, _, err := s.TaskQueue(ctx, mgr, store.QueueFilter{}); !store.IsCode(err, store.EINVALID) {
				t.Errorf("a token of no one without assignee_id: %v", err)
			}
			// Time passes: "soon" falls due and moves ahead of "later" among the overdue.
			clock.Advance(3 * time.Hour)
			ts, _, _ = s.TaskQueue(ctx, annActor, store.QueueFilter{})
			if ts[1].ID != overdue || ts[2].ID != soon {
				t.Errorf("after 3h: %d %d", ts[1].ID, ts[2].ID)
			}
		})
	}
}
