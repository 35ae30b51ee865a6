package web_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/web"
	"github.com/rapport-crm/rapport/web/openapitest"
)

// TestTaskQueueAPI: GET /tasks/queue is the caller's queue, complaints
// first, with customers' names (as every task answer has them); agents
// may not read another's queue; a token of no one names assignee_id.
func TestTaskQueueAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		srv := newServer(t, s)
		ann, _ := s.CreateStaff(ctx, store.StaffInput{Name: "Ann", Role: store.RoleAgent})
		bob, _ := s.CreateStaff(ctx, store.StaffInput{Name: "Bob", Role: store.RoleAgent})
		annC := client{t, srv, tokenFor(t, s, store.RoleAgent, &ann.ID)}
		mgr := client{t, srv, tokenFor(t, s, store.RoleManager, nil)}
		li, _ := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("李雷")})
		han, _ := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("韩梅梅")})
		due := time.Now().Add(time.Hour)
		for _, in := range []store.TaskInput{
			{CustomerID: li.ID, Kind: store.TaskManual, Title: "回访", DueAt: &due, AssigneeID: &ann.ID},
			{CustomerID: han.ID, Kind: store.TaskComplaint, Title: "投诉", AssigneeID: &ann.ID},
			{CustomerID: han.ID, Kind: store.TaskManual, Title: "Bob's", AssigneeID: &bob.ID},
		} {
			if _, _, err := s.CreateTask(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		code, got := annC.do("GET", "/api/v1/tasks/queue", "")
		items, _ := got["items"].([]any)
		if code != 200 || len(items) != 2 {
			t.Fatalf("queue: %d %v", code, got)
		}
		first, second := items[0].(map[string]any), items[1].(map[string]any)
		if first["title"] != "投诉" || first["customer_name"] != "韩梅梅" || second["customer_name"] != "李雷" {
			t.Errorf("queue order or names: %v", items)
		}
		_, got = annC.do("GET", "/api/v1/tasks?status=open", "")
		for _, it := range got["items"].([]any) {
			if it.(map[string]any)["customer_name"] == "" {
				t.Errorf("GET /tasks without customer_name: %v", it)
			}
		}
		if code, _ := annC.do("GET", pathf("/api/v1/tasks/queue?assignee_id=%d", bob.ID), ""); code != 403 {
			t.Errorf("agent reads Bob's queue: %d", code)
		}
		if code, got := mgr.do("GET", pathf("/api/v1/tasks/queue?assignee_id=%d", bob.ID), ""); code != 200 || len(got["items"].([]any)) != 1 {
			t.Errorf("manager reads Bob's queue: %d %v", code, got)
		}
		if code, got := mgr.do("GET", "/api/v1/tasks/queue", ""); code != 422 || got["error"].(map[string]any)["field"] != "assignee_id" {
			t.Errorf("token of no one: %d %v", code, got)
		}
		if code, _ := mgr.do("GET", "/api/v1/tasks/queue?assignee_id=x", ""); code != 422 {
			t.Errorf("assignee_id=x: %d", code)
		}
	})
}

type schedule []web.ScheduledRun

func (s schedule) NextRuns(time.Time) []web.ScheduledRun { return s }

// TestCareScheduleAPI: the next runs as the schedule gives them; 503
// while no care service is wired.
func TestCareScheduleAPI(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	if code, _ := (client{t, newServer(t, s), adminToken}).do("GET", "/api/v1/care/schedule", ""); code != 503 {
		t.Errorf("unwired: %d", code)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, sh)
	srv := httptest.NewServer(openapitest.Conform(t, web.New(web.Deps{Store: s,
		Schedule: schedule{{Workflow: "birthday", Schedule: "0 9 * * *", At: at, Date: "2026-12-03"}}})))
	t.Cleanup(srv.Close)
	code, got := (client{t, srv, tokenFor(t, s, store.RoleAgent, nil)}).do("GET", "/api/v1/care/schedule", "")
	items, _ := got["items"].([]any)
	if code != 200 || len(items) != 1 || items[0].(map[string]any)["at"] != "2026-12-03T09:00:00+08:00" {
		t.Errorf("schedule: %d %v", code, got)
	}
}
