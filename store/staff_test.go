package store_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func bindStaff(t *testing.T, s *store.Store, st *store.Staff, account string) {
	t.Helper()
	ctx := context.Background()
	code, _, err := s.CreateBindingCode(ctx, st.ID, store.SystemActor())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemBindingCode(ctx, store.BindRequest{Channel: "telegram", ExternalID: account, Code: code}); err != nil {
		t.Fatal(err)
	}
}

func off(t *testing.T, s *store.Store, st *store.Staff) {
	t.Helper()
	if _, err := s.UpdateStaff(context.Background(), st.ID, store.StaffUpdate{Active: ptr(false)}, store.Actor{Role: store.RoleAdmin, Via: store.ViaAPI}); err != nil {
		t.Fatal(err)
	}
}

func TestDeactivateStaffReassignsOpenTasks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ann := mustStaff(t, s, "Ann", store.RoleAgent)
		bob := mustStaff(t, s, "Bob", store.RoleAgent)
		cat := mustStaff(t, s, "Cat", store.RoleAgent)
		boss := mustStaff(t, s, "Boss", store.RoleManager)
		wang := mustCustomer(t, s, "Wang") // owned by Ann
		li := mustCustomer(t, s, "Li")     // owned by Cat
		for c, owner := range map[int64]int64{wang.ID: ann.ID, li.ID: cat.ID} {
			if _, err := s.UpdateCustomer(ctx, c, store.CustomerInput{OwnerStaffID: &owner}); err != nil {
				t.Fatal(err)
			}
		}
		// Bob starts with one open task, Cat with none.
		if _, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: wang.ID, Kind: "manual", Title: "bob's", AssigneeID: &bob.ID}); err != nil {
			t.Fatal(err)
		}
		mk := func(c *store.Customer, title, status string) *store.Task {
			tk, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "manual", Title: title, AssigneeID: &ann.ID})
			if err != nil {
				t.Fatal(err)
			}
			if status != store.TaskOpen {
				if tk, err = s.UpdateTask(ctx, tk.ID, store.TaskUpdate{Status: &status}, store.SystemActor()); err != nil {
					t.Fatal(err)
				}
			}
			return tk
		}
		tasks := []struct {
			tk   *store.Task
			want *store.Staff // nil: stays with Ann
		}{
			{mk(wang, "w1", store.TaskOpen), cat}, // Ann inactive: least loaded (Bob 1, Cat 0)
			{mk(li, "l1", store.TaskOpen), cat},   // owner Cat is active
			{mk(wang, "w2", store.TaskOpen), bob}, // Bob 1, Cat 2
			{mk(wang, "done", store.TaskDone), nil},
		}
		by := store.ActorOf(&store.Principal{Role: store.RoleManager, StaffID: &boss.ID})
		st, err := s.UpdateStaff(ctx, ann.ID, store.StaffUpdate{Active: ptr(false)}, by)
		if err != nil || st.Active {
			t.Fatalf("deactivate: %+v %v", st, err)
		}
		for _, tc := range tasks {
			got, err := s.TaskByID(ctx, tc.tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if *got.AssigneeID != ann.ID || got.Events[len(got.Events)-1].Action == "reassigned" {
					t.Errorf("%s: closed task handed on: %+v", got.Title, got)
				}
				continue
			}
			if got.AssigneeID == nil || *got.AssigneeID != tc.want.ID {
				t.Errorf("%s: assignee %v, want %s", got.Title, got.AssigneeID, tc.want.Name)
			}
			ev := got.Events[len(got.Events)-1]
			want := store.TaskEvent{Action: "reassigned", Via: "api", From: strconv.FormatInt(ann.ID, 10), To: strconv.FormatInt(tc.want.ID, 10), Note: store.ReasonAssigneeDeactivated}
			if ev.Action != want.Action || ev.Via != want.Via || ev.From != want.From || ev.To != want.To || ev.Note != want.Note || ev.StaffID == nil || *ev.StaffID != boss.ID {
				t.Errorf("%s: event %+v, want %+v by %d", got.Title, ev, want, boss.ID)
			}
		}
		if c, _ := s.CustomerByID(ctx, wang.ID); c.OwnerStaffID == nil || *c.OwnerStaffID != ann.ID {
			t.Errorf("owner changed: %v", c.OwnerStaffID)
		}
		// Deactivating again changes nothing.
		if _, err := s.UpdateStaff(ctx, ann.ID, store.StaffUpdate{Active: ptr(false)}, by); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.TaskByID(ctx, tasks[0].tk.ID); *got.AssigneeID != cat.ID || len(got.Events) != 3 {
			t.Errorf("second deactivation: %+v", got)
		}
		// The last staff member going leaves the tasks unassigned.
		off(t, s, bob)
		off(t, s, cat)
		if got := openTasksOf(t, s, boss.ID); got != 4 {
			t.Errorf("manager took %d tasks, want 4", got)
		}
		off(t, s, boss)
		if got := openTasksOf(t, s, 0); got != 4 {
			t.Errorf("unassigned: %d, want 4", got)
		}
		got, _ := s.TaskByID(ctx, tasks[0].tk.ID)
		if ev := got.Events[len(got.Events)-1]; ev.Action != "reassigned" || ev.To != "" || ev.StaffID != nil {
			t.Errorf("unassigned event: %+v", ev)
		}
	})
}

// A deactivation racing with task assignments leaves nothing on the
// deactivated staff member.
func TestDeactivateStaffRacesAssignment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ann := mustStaff(t, s, "Ann", store.RoleAgent)
		mustStaff(t, s, "Bob", store.RoleAgent)
		c := mustCustomer(t, s, "Zhao")
		var tasks []*store.Task
		for i := 0; i < 6; i++ {
			tk, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "manual", Title: fmt.Sprint("t", i)})
			if err != nil {
				t.Fatal(err)
			}
			tasks = append(tasks, tk)
		}
		mgr := store.Actor{Role: store.RoleManager, Via: store.ViaAPI}
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := 0; i < 6; i++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "manual", Title: fmt.Sprint("n", i), AssigneeID: &ann.ID})
				errs <- err
			}()
			go func() {
				defer wg.Done()
				// Refused once Ann is inactive; otherwise handed on with the rest.
				_, err := s.UpdateTask(ctx, tasks[i].ID, store.TaskUpdate{AssigneeID: &ann.ID}, mgr)
				if store.IsCode(err, store.EINVALID) {
					err = nil
				}
				errs <- err
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateStaff(ctx, ann.ID, store.StaffUpdate{Active: ptr(false)}, store.Actor{Role: store.RoleManager, Via: store.ViaAPI})
			errs <- err
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := openTasksOf(t, s, ann.ID); got != 0 {
			t.Errorf("deactivated staff has %d open tasks", got)
		}
	})
}

// A chat account stops (and starts again) acting as staff as soon as the
// staff member's active flag changes, in this process and in another.
func TestStaffIdentityFollowsActive(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			cfg := storetest.Config(t, d)
			s := storetest.OpenConfig(t, cfg)
			other := storetest.OpenConfig(t, cfg) // another replica
			ann := mustStaff(t, s, "Ann", store.RoleAgent)
			bindStaff(t, s, ann, "u-ann")
			isStaff := func(s *store.Store) bool {
				t.Helper()
				st, err := s.StaffByIdentity(ctx, "telegram", "u-ann")
				if err != nil {
					t.Fatal(err)
				}
				return st != nil && st.ID == ann.ID
			}
			if !isStaff(s) || !isStaff(other) {
				t.Fatal("bound account is not staff")
			}
			off(t, s, ann)
			// Both replicas at once: the active flag is read every time,
			// whatever the 2 s binding cache holds.
			if isStaff(s) || isStaff(other) {
				t.Error("deactivated staff still acts as staff")
			}
			// Back at once in the process that made the change (it forgets
			// its cache); other replicas within the cache's 2 s.
			if _, err := s.UpdateStaff(ctx, ann.ID, store.StaffUpdate{Active: ptr(true)}, store.Actor{Role: store.RoleAdmin, Via: store.ViaAPI}); err != nil {
				t.Fatal(err)
			}
			if !isStaff(s) {
				t.Error("reactivated staff is not staff")
			}
		})
	}
}
