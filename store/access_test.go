package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// team is a small business: an agent who owns a customer, an agent with an
// open task on another (and a done task on a third), an agent with nothing,
// and a manager.
type team struct {
	owner, assignee, stranger, boss *store.Staff
	// customers by name: owned, tasked, done (only a done task), nobody's
	c map[string]*store.Customer
}

func newTeam(t *testing.T, s *store.Store) team {
	t.Helper()
	ctx := context.Background()
	tm := team{
		owner:    mustStaff(t, s, "Owner", store.RoleAgent),
		assignee: mustStaff(t, s, "Assignee", store.RoleAgent),
		stranger: mustStaff(t, s, "Stranger", store.RoleAgent),
		boss:     mustStaff(t, s, "Boss", store.RoleManager),
		c:        map[string]*store.Customer{},
	}
	for _, n := range []string{"owned", "tasked", "done", "nobody's"} {
		tm.c[n] = mustCustomer(t, s, n)
	}
	if _, err := s.UpdateCustomer(ctx, tm.c["owned"].ID, store.CustomerInput{OwnerStaffID: &tm.owner.ID}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"tasked", "done"} {
		tk, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: tm.c[n].ID, Kind: "manual", Title: "call back", AssigneeID: &tm.assignee.ID})
		if err != nil {
			t.Fatal(err)
		}
		if n == "done" {
			if _, err := s.UpdateTask(ctx, tk.ID, store.TaskUpdate{Status: ptr(store.TaskDone)}, store.SystemActor()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tm
}

func agent(st *store.Staff) store.Actor {
	id := st.ID
	return store.Actor{StaffID: &id, Role: store.RoleAgent, Via: store.ViaAPI}
}

// visible lists, by name, the customers the actor sees: through the list,
// and one by one through every per-customer read; the two must agree.
func visible(t *testing.T, s *store.Store, tm team, by store.Actor) []string {
	t.Helper()
	ctx := context.Background()
	cs, _, err := s.ListCustomers(ctx, store.CustomerFilter{Viewer: &by})
	if err != nil {
		t.Fatal(err)
	}
	var listed, one []string
	for _, c := range cs {
		listed = append(listed, c.Name)
	}
	for _, n := range []string{"owned", "tasked", "done", "nobody's"} {
		id := tm.c[n].ID
		_, err := s.CustomerFor(ctx, by, id)
		_, _, errM := s.ListMessagesFor(ctx, by, id, store.Page{})
		_, errA := s.ListAssetsFor(ctx, by, id)
		errs := []error{err, errM, errA}
		switch {
		case errs[0] == nil && errs[1] == nil && errs[2] == nil:
			one = append(one, n)
		default:
			for _, e := range errs {
				if !store.IsCode(e, store.ENOTFOUND) {
					t.Errorf("%s: not seen, but %v (want not found)", n, e)
				}
			}
		}
	}
	slices.Sort(listed)
	slices.Sort(one)
	if !slices.Equal(listed, one) {
		t.Errorf("list shows %v, reads allow %v", listed, one)
	}
	return one
}

func TestAgentsSeeTheirCustomers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		tm := newTeam(t, s)
		all := []string{"done", "nobody's", "owned", "tasked"}
		for name, tc := range map[string]struct {
			by   store.Actor
			want []string
		}{
			"owner agent":           {agent(tm.owner), []string{"owned"}},
			"task assignee agent":   {agent(tm.assignee), []string{"tasked"}},
			"unrelated agent":       {agent(tm.stranger), nil},
			"agent token of no one": {store.Actor{Role: store.RoleAgent, Via: store.ViaAPI}, nil},
			"manager":               {store.Actor{StaffID: &tm.boss.ID, Role: store.RoleManager, Via: store.ViaAPI}, all},
			"admin token":           {store.Actor{Role: store.RoleAdmin, Via: store.ViaAPI}, all},
		} {
			t.Run(name, func(t *testing.T) {
				if diff := cmp.Diff(tc.want, visible(t, s, tm, tc.by)); diff != "" {
					t.Errorf("visible (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// admin.agents_see_all lifts the agents' scope.
func TestAgentsSeeAllSetting(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			s := storetest.Open(t, d, store.WithAgentsSeeAll(true))
			tm := newTeam(t, s)
			want := []string{"done", "nobody's", "owned", "tasked"}
			if diff := cmp.Diff(want, visible(t, s, tm, agent(tm.stranger))); diff != "" {
				t.Errorf("agents_see_all (-want +got):\n%s", diff)
			}
		})
	}
}

// Access follows the open task: reassigned, the customer moves with it;
// an agent can't open a task (assigned to themselves) to gain sight of a
// customer; and messaging obeys the same rule as reading.
func TestAgentAccessFollowsTasks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tm := newTeam(t, s)
		ts, _, err := s.ListTasks(ctx, store.TaskFilter{Status: store.TaskOpen, AssigneeID: &tm.assignee.ID}, store.Page{})
		if err != nil || len(ts) != 1 {
			t.Fatalf("open tasks: %v %v", ts, err)
		}
		boss := store.Actor{StaffID: &tm.boss.ID, Role: store.RoleManager, Via: store.ViaAPI}
		if _, err := s.UpdateTask(ctx, ts[0].ID, store.TaskUpdate{AssigneeID: &tm.stranger.ID}, boss); err != nil {
			t.Fatal(err)
		}
		if got := visible(t, s, tm, agent(tm.assignee)); len(got) != 0 {
			t.Errorf("after reassignment the former assignee sees %v", got)
		}
		if got := visible(t, s, tm, agent(tm.stranger)); !slices.Equal(got, []string{"tasked"}) {
			t.Errorf("the new assignee sees %v", got)
		}

		by := agent(tm.owner)
		_, _, err = s.CreateTask(ctx, store.TaskInput{CustomerID: tm.c["nobody's"].ID, Kind: "manual", Title: "let me in", By: &by})
		if !store.IsCode(err, store.EINVALID) {
			t.Errorf("agent opening a task on a customer they can't see: %v", err)
		}
		if _, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: tm.c["owned"].ID, Kind: "manual", Title: "mine", By: &by}); err != nil {
			t.Errorf("agent opening a task on their own customer: %v", err)
		}

		inChat, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("nobody's, in chat"), Identities: []store.IdentityRef{{Channel: "telegram", ExternalID: "42"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SendToCustomerBy(ctx, by, inChat.ID, "hello"); !store.IsCode(err, store.ENOTFOUND) {
			t.Errorf("agent messaging a customer they can't see: %v", err)
		}
		if _, err := s.SendToCustomerBy(ctx, boss, inChat.ID, "hello"); err != nil {
			t.Errorf("manager messaging: %v", err)
		}
	})
}

func TestSurveyResponsesScope(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tm := newTeam(t, s)
		var ss []store.Survey
		for _, n := range []string{"owned", "nobody's"} {
			ss = append(ss, store.Survey{CustomerID: tm.c[n].ID, Key: "k-" + n, Channel: "telegram", ExpiresAt: s.Now().Add(time.Hour)})
		}
		ids, err := s.CreateSurveys(ctx, ss)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if _, err := s.AnswerSurvey(ctx, id, 4, ""); err != nil {
				t.Fatal(err)
			}
		}
		for name, tc := range map[string]struct {
			by   store.Actor
			want []int64
		}{
			"owner agent":     {agent(tm.owner), []int64{tm.c["owned"].ID}},
			"unrelated agent": {agent(tm.stranger), nil},
			"manager":         {store.Actor{Role: store.RoleManager}, []int64{tm.c["nobody's"].ID, tm.c["owned"].ID}},
		} {
			rs, _, err := s.ListSurveyResponses(ctx, store.SurveyFilter{Viewer: &tc.by})
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, r := range rs {
				got = append(got, r.CustomerID)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", name, diff)
			}
		}
	})
}

// Only admins act on admins: a manager may not rename, deactivate or issue
// a binding code for an admin; an admin may.
func TestOnlyAdminsActOnAdmins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		root := mustStaff(t, s, "Root", store.RoleAdmin)
		ann := mustStaff(t, s, "Ann", store.RoleAgent)
		boss := mustStaff(t, s, "Boss", store.RoleManager)
		manager := store.Actor{StaffID: &boss.ID, Role: store.RoleManager, Via: store.ViaAPI}
		admin := store.Actor{Role: store.RoleAdmin, Via: store.ViaAPI}
		for i, up := range []store.StaffUpdate{{Active: ptr(false)}, {Name: ptr("Mallory")}, {Role: ptr(store.RoleAgent)}} {
			if _, err := s.UpdateStaff(ctx, root.ID, up, manager); !store.IsCode(err, store.EFORBIDDEN) {
				t.Errorf("manager's change %d to an admin: %v", i, err)
			}
		}
		if _, _, err := s.CreateBindingCode(ctx, root.ID, manager); !store.IsCode(err, store.EFORBIDDEN) {
			t.Errorf("manager issuing a binding code for an admin: %v", err)
		}
		st, err := s.StaffByID(ctx, root.ID)
		if err != nil || !st.Active || st.Name != "Root" {
			t.Errorf("admin after refused changes: %+v %v", st, err)
		}
		// Managers still run the rest of the team; admins act on admins.
		if _, _, err := s.CreateBindingCode(ctx, ann.ID, manager); err != nil {
			t.Errorf("manager, code for an agent: %v", err)
		}
		if _, err := s.UpdateStaff(ctx, ann.ID, store.StaffUpdate{Name: ptr("Ann Li")}, manager); err != nil {
			t.Errorf("manager renaming an agent: %v", err)
		}
		if _, _, err := s.CreateBindingCode(ctx, root.ID, admin); err != nil {
			t.Errorf("admin, code for an admin: %v", err)
		}
		if _, err := s.UpdateStaff(ctx, root.ID, store.StaffUpdate{Name: ptr(fmt.Sprint("Root ", 2))}, admin); err != nil {
			t.Errorf("admin renaming an admin: %v", err)
		}
	})
}
