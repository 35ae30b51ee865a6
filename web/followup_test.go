package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func tokenFor(t *testing.T, s *store.Store, role store.Role, staffID *int64) string {
	t.Helper()
	tok, _, err := s.CreateToken(context.Background(), store.TokenInput{Name: fmt.Sprint(role, staffID), Role: role, StaffID: staffID})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestFollowupAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		srv := newServer(t, s)
		admin := client{t, srv, adminToken}
		code, st := admin.do("POST", "/api/v1/staff", `{"name":"Ann","role":"agent"}`)
		if code != http.StatusCreated {
			t.Fatalf("staff: %d %v", code, st)
		}
		annID := int64(st["id"].(float64))
		_, st = admin.do("POST", "/api/v1/staff", `{"name":"Bob","role":"agent"}`)
		bobID := int64(st["id"].(float64))
		_, st = admin.do("POST", "/api/v1/staff", `{"name":"Meg","role":"manager"}`)
		megID := int64(st["id"].(float64))
		ann := client{t, srv, tokenFor(t, s, store.RoleAgent, &annID)}
		bob := client{t, srv, tokenFor(t, s, store.RoleAgent, &bobID)}
		meg := client{t, srv, tokenFor(t, s, store.RoleManager, &megID)}
		loose := client{t, srv, tokenFor(t, s, store.RoleAgent, nil)}
		// Bob owns Li: agents open tasks on customers they may see.
		c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("Li"), OwnerStaffID: &bobID})
		if err != nil {
			t.Fatal(err)
		}

		// Manual tasks.
		code, tk := meg.do("POST", "/api/v1/tasks", fmt.Sprintf(`{"customer_id":%d,"title":"Call Li","due_at":"2030-01-02T03:04:05Z","assignee_id":%d}`, c.ID, annID))
		if code != http.StatusCreated || tk["kind"] != "manual" || tk["priority"] != "normal" || tk["assignee_id"] != float64(annID) || tk["status"] != "open" || tk["due_at"] != "2030-01-02T03:04:05Z" {
			t.Fatalf("create: %d %v", code, tk)
		}
		taskID := int64(tk["id"].(float64))
		code, own := bob.do("POST", "/api/v1/tasks", fmt.Sprintf(`{"customer_id":%d,"title":"Mine"}`, c.ID))
		if code != http.StatusCreated || own["assignee_id"] != float64(bobID) || own["source"] != fmt.Sprint("staff:", bobID) {
			t.Errorf("agent's own task: %d %v", code, own)
		}
		bad := []struct {
			name   string
			cl     client
			method string
			path   string
			body   string
			status int
		}{
			{"malformed", meg, "POST", "/api/v1/tasks", `{"customer_id":`, 400},
			{"unknown field", meg, "POST", "/api/v1/tasks", `{"customer_id":1,"title":"x","colour":"red"}`, 400},
			{"no title", meg, "POST", "/api/v1/tasks", fmt.Sprintf(`{"customer_id":%d}`, c.ID), 422},
			{"bad kind", meg, "POST", "/api/v1/tasks", fmt.Sprintf(`{"customer_id":%d,"title":"x","kind":"party"}`, c.ID), 422},
			{"no customer", meg, "POST", "/api/v1/tasks", `{"customer_id":999999,"title":"x"}`, 422},
			{"bad assignee", meg, "POST", "/api/v1/tasks", fmt.Sprintf(`{"customer_id":%d,"title":"x","assignee_id":999999}`, c.ID), 422},
			{"agent assigns other", bob, "POST", "/api/v1/tasks", fmt.Sprintf(`{"customer_id":%d,"title":"x","assignee_id":%d}`, c.ID, annID), 403},
			{"no token", client{t, srv, ""}, "GET", "/api/v1/tasks", "", 401},
			{"agent lists other", bob, "GET", fmt.Sprintf("/api/v1/tasks?assignee_id=%d", annID), "", 403},
			{"bad status filter", meg, "GET", "/api/v1/tasks?status=later", "", 422},
			{"bad id filter", meg, "GET", "/api/v1/tasks?customer_id=x", "", 422},
			{"agent reads other", bob, "GET", fmt.Sprintf("/api/v1/tasks/%d", taskID), "", 403},
			{"missing task", meg, "GET", "/api/v1/tasks/999999", "", 404},
			{"bad task id", meg, "GET", "/api/v1/tasks/abc", "", 404},
			{"agent patches other", bob, "PATCH", fmt.Sprintf("/api/v1/tasks/%d", taskID), `{"status":"done"}`, 403},
			{"agent token without staff", loose, "PATCH", fmt.Sprintf("/api/v1/tasks/%d", taskID), `{"status":"done"}`, 403},
			{"bad patch status", meg, "PATCH", fmt.Sprintf("/api/v1/tasks/%d", taskID), `{"status":"later"}`, 422},
			{"bad patch due", meg, "PATCH", fmt.Sprintf("/api/v1/tasks/%d", taskID), `{"due_at":"tomorrow"}`, 400},
			{"empty patch", meg, "PATCH", fmt.Sprintf("/api/v1/tasks/%d", taskID), `{}`, 422},
			{"agent lists staff", ann, "GET", "/api/v1/staff", "", 403},
			{"manager changes role", meg, "PATCH", fmt.Sprintf("/api/v1/staff/%d", annID), `{"role":"manager"}`, 403},
			{"bad role", admin, "PATCH", fmt.Sprintf("/api/v1/staff/%d", annID), `{"role":"boss"}`, 422},
			{"missing staff", admin, "PATCH", "/api/v1/staff/999999", `{"active":false}`, 404},
			{"agent makes code", ann, "POST", fmt.Sprintf("/api/v1/staff/%d/binding-codes", annID), "", 403},
			{"code for missing staff", meg, "POST", "/api/v1/staff/999999/binding-codes", "", 404},
		}
		for _, b := range bad {
			code, out := b.cl.do(b.method, b.path, b.body)
			if code != b.status || (code != 401 && errCode(out) == "") {
				t.Errorf("%s: got %d %v, want %d", b.name, code, out, b.status)
			}
		}

		// Agents see their own tasks; managers filter freely.
		_, l := ann.do("GET", "/api/v1/tasks?status=open", "")
		if items := l["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != float64(taskID) {
			t.Errorf("ann's list: %v", l)
		}
		_, l = meg.do("GET", fmt.Sprintf("/api/v1/tasks?customer_id=%d&limit=1", c.ID), "")
		if items := l["items"].([]any); len(items) != 1 || l["next_cursor"] == "" {
			t.Errorf("paged list: %v", l)
		}
		_, l2 := meg.do("GET", fmt.Sprintf("/api/v1/tasks?customer_id=%d&limit=1&cursor=%s", c.ID, l["next_cursor"]), "")
		if items := l2["items"].([]any); len(items) != 1 || l2["next_cursor"] != "" || items[0].(map[string]any)["id"] == l["items"].([]any)[0].(map[string]any)["id"] {
			t.Errorf("second page: %v", l2)
		}
		_, l = meg.do("GET", "/api/v1/tasks?status=done", "")
		if items := l["items"].([]any); len(items) != 0 {
			t.Errorf("done list: %v", l)
		}

		// Ann closes her task with a note; the history shows who and how.
		code, done := ann.do("PATCH", fmt.Sprintf("/api/v1/tasks/%d", taskID), `{"status":"done","note":"called, all good"}`)
		if code != 200 || done["status"] != "done" || done["outcome"] != "called, all good" {
			t.Fatalf("done: %d %v", code, done)
		}
		code, got := ann.do("GET", fmt.Sprintf("/api/v1/tasks/%d", taskID), "")
		evs, _ := got["events"].([]any)
		if code != 200 || len(evs) != 3 {
			t.Fatalf("history: %d %v", code, got)
		}
		last := evs[2].(map[string]any)
		if last["action"] != "status" || last["from"] != "open" || last["to"] != "done" || last["via"] != "api" || last["staff_id"] != float64(annID) {
			t.Errorf("last event: %v", last)
		}
		// A manager reassigns and reopens.
		code, re := meg.do("PATCH", fmt.Sprintf("/api/v1/tasks/%d", taskID), fmt.Sprintf(`{"status":"open","assignee_id":%d}`, bobID))
		if code != 200 || re["assignee_id"] != float64(bobID) || re["status"] != "open" {
			t.Errorf("reassign: %d %v", code, re)
		}

		// Staff: list, binding code, deactivate (manager), role (admin).
		code, sl := meg.do("GET", "/api/v1/staff", "")
		if items := sl["items"].([]any); code != 200 || len(items) != 3 {
			t.Errorf("staff list: %d %v", code, sl)
		}
		code, bc := meg.do("POST", fmt.Sprintf("/api/v1/staff/%d/binding-codes", annID), "")
		if code != http.StatusCreated || len(bc["code"].(string)) != 8 || bc["expires_at"] == "" {
			t.Errorf("binding code: %d %v", code, bc)
		}
		code, up := meg.do("PATCH", fmt.Sprintf("/api/v1/staff/%d", annID), `{"active":false}`)
		if code != 200 || up["active"] != false {
			t.Errorf("deactivate: %d %v", code, up)
		}
		code, up = admin.do("PATCH", fmt.Sprintf("/api/v1/staff/%d", bobID), `{"role":"manager"}`)
		if code != 200 || up["role"] != "manager" {
			t.Errorf("promote: %d %v", code, up)
		}
	})
}

// Deactivating an agent over the API hands their open tasks on, and the
// history says who did it and why.
func TestDeactivateStaffAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		srv := newServer(t, s)
		admin := client{t, srv, adminToken}
		ids := map[string]int64{}
		for _, st := range []struct{ name, role string }{{"Ann", "agent"}, {"Bob", "agent"}, {"Meg", "manager"}} {
			code, out := admin.do("POST", "/api/v1/staff", fmt.Sprintf(`{"name":%q,"role":%q}`, st.name, st.role))
			if code != http.StatusCreated {
				t.Fatalf("staff %s: %d %v", st.name, code, out)
			}
			ids[st.name] = int64(out["id"].(float64))
		}
		meg := client{t, srv, tokenFor(t, s, store.RoleManager, ptr(ids["Meg"]))}
		c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("Li")})
		if err != nil {
			t.Fatal(err)
		}
		_, tk := meg.do("POST", "/api/v1/tasks", fmt.Sprintf(`{"customer_id":%d,"title":"Call Li","assignee_id":%d}`, c.ID, ids["Ann"]))
		taskID := int64(tk["id"].(float64))

		if code, out := meg.do("PATCH", fmt.Sprintf("/api/v1/staff/%d", ids["Ann"]), `{"active":false}`); code != 200 || out["active"] != false {
			t.Fatalf("deactivate: %d %v", code, out)
		}
		_, got := meg.do("GET", fmt.Sprintf("/api/v1/tasks/%d", taskID), "")
		if got["assignee_id"] != float64(ids["Bob"]) {
			t.Errorf("assignee: %v, want Bob %d", got["assignee_id"], ids["Bob"])
		}
		evs, _ := got["events"].([]any)
		if len(evs) == 0 {
			t.Fatalf("no history: %v", got)
		}
		last := evs[len(evs)-1].(map[string]any)
		want := map[string]any{"action": "reassigned", "from": fmt.Sprint(ids["Ann"]), "to": fmt.Sprint(ids["Bob"]),
			"note": "assignee deactivated", "via": "api", "staff_id": float64(ids["Meg"])}
		for k, v := range want {
			if last[k] != v {
				t.Errorf("event %s: got %v, want %v", k, last[k], v)
			}
		}
	})
}

// TestChatReachWarnings: the API says when tasks go to someone chat does
// not reach: staff items carry chat_bound and open_tasks, tasks carry
// assignee_chat_bound.
func TestChatReachWarnings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		srv := newServer(t, s)
		admin := client{t, srv, adminToken}
		_, st := admin.do("POST", "/api/v1/staff", `{"name":"Ann","role":"agent"}`)
		annID := int64(st["id"].(float64))
		c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("Li")})
		if err != nil {
			t.Fatal(err)
		}
		staffItem := func() map[string]any {
			t.Helper()
			_, out := admin.do("GET", "/api/v1/staff", "")
			for _, it := range out["items"].([]any) {
				if m := it.(map[string]any); m["id"] == float64(annID) {
					return m
				}
			}
			t.Fatalf("Ann not in %v", out)
			return nil
		}
		code, tk := admin.do("POST", "/api/v1/tasks", fmt.Sprintf(`{"customer_id":%d,"title":"Call Li","assignee_id":%d}`, c.ID, annID))
		if code != http.StatusCreated || tk["assignee_chat_bound"] != false {
			t.Fatalf("create for an unbound assignee: %d %v", code, tk)
		}
		path := fmt.Sprintf("/api/v1/tasks/%d", int64(tk["id"].(float64)))
		if it := staffItem(); it["chat_bound"] != false || it["open_tasks"] != 1.0 {
			t.Errorf("unbound staff item: %v", it)
		}
		code, bindCode := admin.do("POST", fmt.Sprintf("/api/v1/staff/%d/binding-codes", annID), "")
		if code != http.StatusCreated {
			t.Fatalf("binding code: %d %v", code, bindCode)
		}
		if _, err := s.RedeemBindingCode(ctx, store.BindRequest{Channel: "telegram", ExternalID: "42", Code: bindCode["code"].(string)}); err != nil {
			t.Fatal(err)
		}
		if it := staffItem(); it["chat_bound"] != true || it["open_tasks"] != 1.0 {
			t.Errorf("bound staff item: %v", it)
		}
		if _, got := admin.do("GET", path, ""); got["assignee_chat_bound"] != true {
			t.Errorf("get: %v", got)
		}
		if _, got := admin.do("GET", "/api/v1/tasks", ""); got["items"].([]any)[0].(map[string]any)["assignee_chat_bound"] != true {
			t.Errorf("list: %v", got)
		}
		if _, got := admin.do("PATCH", path, `{"note":"called"}`); got["assignee_chat_bound"] != true {
			t.Errorf("patch: %v", got)
		}
		// Deactivated: chat no longer reaches them.
		if code, out := admin.do("PATCH", fmt.Sprintf("/api/v1/staff/%d", annID), `{"active":false}`); code != http.StatusOK {
			t.Fatalf("deactivate: %d %v", code, out)
		}
		if it := staffItem(); it["chat_bound"] != false {
			t.Errorf("inactive staff item: %v", it)
		}
	})
}
