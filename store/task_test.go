package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func mustStaff(t *testing.T, s *store.Store, name string, role store.Role) *store.Staff {
	t.Helper()
	st, err := s.CreateStaff(context.Background(), store.StaffInput{Name: name, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustCustomer(t *testing.T, s *store.Store, name string) *store.Customer {
	t.Helper()
	c, err := s.CreateCustomer(context.Background(), store.CustomerInput{Name: ptr(name)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func openTasksOf(t *testing.T, s *store.Store, staffID int64) int {
	t.Helper()
	ts, _, err := s.ListTasks(context.Background(), store.TaskFilter{Status: store.TaskOpen, AssigneeID: &staffID}, store.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return len(ts)
}

func TestCreateTaskAssignment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := mustCustomer(t, s, "Li")
		// No staff at all: unassigned.
		t0, created, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "manual", Title: "call"})
		if err != nil || !created || t0.AssigneeID != nil {
			t.Fatalf("no staff: %+v %v %v", t0, created, err)
		}
		mgr := mustStaff(t, s, "Boss", store.RoleManager)
		// Only a manager: the manager gets it.
		t1, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "manual", Title: "call"})
		if err != nil || t1.AssigneeID == nil || *t1.AssigneeID != mgr.ID {
			t.Fatalf("manager only: %+v %v", t1, err)
		}
		a1 := mustStaff(t, s, "A1", store.RoleAgent)
		a2 := mustStaff(t, s, "A2", store.RoleAgent)
		// Agents take turns by load, ties to the lowest id.
		var got []int64
		for i := 0; i < 4; i++ {
			tk, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "revisit", Title: fmt.Sprint("r", i)})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, *tk.AssigneeID)
		}
		if want := []int64{a1.ID, a2.ID, a1.ID, a2.ID}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("round robin: got %v want %v", got, want)
		}
		// The owner wins when active; an inactive owner falls back.
		if _, err := s.UpdateCustomer(ctx, c.ID, store.CustomerInput{OwnerStaffID: &a2.ID}); err != nil {
			t.Fatal(err)
		}
		tk, _, _ := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "revisit", Title: "owner"})
		if *tk.AssigneeID != a2.ID {
			t.Errorf("owner: got %d want %d", *tk.AssigneeID, a2.ID)
		}
		if _, err := s.UpdateStaff(ctx, a2.ID, store.StaffUpdate{Active: ptr(false)}, store.Actor{Role: store.RoleAdmin, Via: store.ViaAPI}); err != nil {
			t.Fatal(err)
		}
		tk, _, _ = s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "revisit", Title: "owner gone", AssigneeID: &a2.ID})
		if *tk.AssigneeID != a1.ID {
			t.Errorf("inactive owner: got %d want %d", *tk.AssigneeID, a1.ID)
		}
		// A person naming an inactive assignee is told so.
		by := store.Actor{Role: store.RoleManager, Via: "api"}
		_, _, err = s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "manual", Title: "x", AssigneeID: &a2.ID, By: &by})
		if !store.IsCode(err, store.EINVALID) {
			t.Errorf("inactive explicit assignee: %v", err)
		}
	})
}

func TestCreateTaskConcurrentBalance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := mustCustomer(t, s, "Zhao")
		var agents []*store.Staff
		for i := 0; i < 3; i++ {
			agents = append(agents, mustStaff(t, s, fmt.Sprint("agent", i), store.RoleAgent))
		}
		const n = 24
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "revisit", Title: fmt.Sprint("t", i), DedupKey: fmt.Sprint("k", i)})
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
		for _, a := range agents {
			if got := openTasksOf(t, s, a.ID); got != n/3 {
				t.Errorf("agent %d has %d open tasks, want %d", a.ID, got, n/3)
			}
		}
	})
}

func TestCreateTaskDedup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := mustCustomer(t, s, "Sun")
		mustStaff(t, s, "A", store.RoleAgent)
		in := store.TaskInput{CustomerID: c.ID, Kind: "revisit", Title: "r", DedupKey: "revisit:1"}
		// Concurrent duplicates make one task.
		var wg sync.WaitGroup
		ids := make([]int64, 8)
		var createdN int
		var mu sync.Mutex
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tk, created, err := s.CreateTask(ctx, in)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids[i] = tk.ID
				if created {
					createdN++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if createdN != 1 {
			t.Errorf("created %d times, want 1", createdN)
		}
		for _, id := range ids {
			if id != ids[0] {
				t.Errorf("ids differ: %v", ids)
			}
		}
		// One open complaint per customer, complaint and recovery alike.
		c1, created, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "complaint", Title: "angry"})
		if err != nil || !created || c1.Priority != "high" {
			t.Fatalf("complaint: %+v %v %v", c1, created, err)
		}
		c2, created, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "survey_recovery", Title: "low score", DedupKey: "survey:9"})
		if err != nil || created || c2.ID != c1.ID {
			t.Fatalf("second complaint: %+v %v %v", c2, created, err)
		}
		// Closing it frees the slot; reopening the old one then conflicts.
		if _, err := s.UpdateTask(ctx, c1.ID, store.TaskUpdate{Status: ptr("done"), Note: ptr("refunded")}, store.SystemActor()); err != nil {
			t.Fatal(err)
		}
		c3, created, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "complaint", Title: "again"})
		if err != nil || !created {
			t.Fatalf("after close: %+v %v %v", c3, created, err)
		}
		_, err = s.UpdateTask(ctx, c1.ID, store.TaskUpdate{Status: ptr("open")}, store.SystemActor())
		if !store.IsCode(err, store.ECONFLICT) {
			t.Errorf("reopen with another open complaint: %v", err)
		}
		got, err := s.TaskByID(ctx, c1.ID)
		if err != nil || got.Outcome != "refunded" || got.Status != "done" || len(got.Events) < 2 {
			t.Errorf("closed task: %+v %v", got, err)
		}
	})
}

func TestUpdateTaskAuthorization(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := mustCustomer(t, s, "Wu")
		a1 := mustStaff(t, s, "A1", store.RoleAgent)
		a2 := mustStaff(t, s, "A2", store.RoleAgent)
		mgr := mustStaff(t, s, "M", store.RoleManager)
		tk, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "manual", Title: "x", AssigneeID: &a1.ID})
		if err != nil {
			t.Fatal(err)
		}
		due := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		cases := []struct {
			name string
			by   store.Actor
			up   store.TaskUpdate
			code string
		}{
			{"other agent", store.ActorStaff(a2, "api"), store.TaskUpdate{DueAt: &due}, store.EFORBIDDEN},
			{"agent reassigns", store.ActorStaff(a1, "api"), store.TaskUpdate{AssigneeID: &a2.ID}, store.EFORBIDDEN},
			{"own agent", store.ActorStaff(a1, "telegram"), store.TaskUpdate{DueAt: &due}, ""},
			{"bad status", store.ActorStaff(mgr, "api"), store.TaskUpdate{Status: ptr("later")}, store.EINVALID},
			{"nothing", store.ActorStaff(mgr, "api"), store.TaskUpdate{}, store.EINVALID},
			{"manager reassigns", store.ActorStaff(mgr, "api"), store.TaskUpdate{AssigneeID: &a2.ID}, ""},
			{"unknown assignee", store.ActorStaff(mgr, "api"), store.TaskUpdate{AssigneeID: ptr(int64(999))}, store.EINVALID},
			{"former agent", store.ActorStaff(a1, "api"), store.TaskUpdate{Status: ptr("done")}, store.EFORBIDDEN},
		}
		for _, tc := range cases {
			_, err := s.UpdateTask(ctx, tk.ID, tc.up, tc.by)
			if got := store.ErrorCode(err); got != tc.code {
				t.Errorf("%s: got %q (%v), want %q", tc.name, got, err, tc.code)
			}
		}
		if _, err := s.UpdateTask(ctx, 12345, store.TaskUpdate{Note: ptr("x")}, store.SystemActor()); !store.IsCode(err, store.ENOTFOUND) {
			t.Errorf("missing task: %v", err)
		}
	})
}

// Upgrading to the assignment counters: a task whose notice went out is
// not noticed again, one still waiting for its notice gets it.
func TestMigrateAssignSeq(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			cfg := storetest.Config(t, d)
			s := storetest.OpenConfig(t, cfg)
			ann := mustStaff(t, s, "Ann", store.RoleAgent)
			bindStaff(t, s, ann, "u-ann")
			c := mustCustomer(t, s, "Li")
			var ids []int64
			for _, title := range []string{"noticed", "waiting"} {
				tk, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "manual", Title: title})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, tk.ID)
				if title == "noticed" {
					if ok, err := s.MarkTaskNotified(ctx, tk, nil); !ok || err != nil {
						t.Fatalf("notified: %v %v", ok, err)
					}
				}
			}
			// Back to the schema before the step: no counters.
			driver, dsn := "sqlite", cfg.DSN
			if d == store.MySQL {
				driver = "mysql"
			}
			raw, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				"ALTER TABLE tasks DROP COLUMN assign_seq",
				"ALTER TABLE tasks DROP COLUMN notified_seq",
				"DELETE FROM schema_migrations WHERE id IN ('0503_tasks_assign_seq', '0011_tasks_assign_seq')",
			} {
				if _, err := raw.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			defer raw.Close()
			s.Close()
			s = storetest.OpenConfig(t, cfg) // migrates
			// Twice: a step interrupted before it was recorded runs again.
			for i := 0; i < 2; i++ {
				ts, err := s.TasksNeedingNotice(ctx, 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(ts) != 1 || ts[0].ID != ids[1] || ts[0].AssignSeq != 1 || ts[0].NotifiedSeq != 0 {
					t.Fatalf("run %d: needing notice after upgrade: %+v", i, ts)
				}
				if _, err := raw.ExecContext(ctx, "DELETE FROM schema_migrations WHERE id IN ('0503_tasks_assign_seq', '0011_tasks_assign_seq')"); err != nil {
					t.Fatal(err)
				}
				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
