package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/web"
)

// TestTokenAPI: tokens are listed without their secret, revoked with
// DELETE, expire, and stop working with their staff member.
func TestTokenAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv := newServer(t, s)
		admin := client{t, srv, adminToken}
		_, st := admin.do("POST", "/api/v1/staff", `{"name":"Ann","role":"manager"}`)
		annID := int64(st["id"].(float64))
		code, tok := admin.do("POST", "/api/v1/tokens", pathf(`{"name":"ann's laptop","role":"manager","staff_id":%d,"ttl_days":30}`, annID))
		if code != 201 || tok["expires_at"] == nil {
			t.Fatalf("create: %d %v", code, tok)
		}
		ann := client{t, srv, tok["token"].(string)}
		if code, _ := ann.do("GET", "/api/v1/customers", ""); code != 200 {
			t.Fatalf("fresh token: %d", code)
		}

		code, l := admin.do("GET", "/api/v1/tokens?limit=500", "")
		items, _ := l["items"].([]any)
		if code != 200 || len(items) != 2 {
			t.Fatalf("list: %d %v", code, l)
		}
		for _, it := range items {
			m := it.(map[string]any)
			for _, k := range []string{"id", "name", "role", "staff_id", "created_at", "last_used_at", "expires_at", "revoked_at"} {
				if _, ok := m[k]; !ok {
					t.Errorf("listed token lacks %s: %v", k, m)
				}
			}
			if _, ok := m["token"]; ok || strings.Contains(fmt.Sprint(m), tok["token"].(string)) {
				t.Errorf("listed token shows its secret: %v", m)
			}
		}
		if code, _ := ann.do("GET", "/api/v1/tokens", ""); code != 403 {
			t.Errorf("manager lists tokens: %d", code)
		}

		for body, field := range map[string]string{
			`{"name":"x","role":"agent","expires_at":"2001-01-01T00:00:00Z"}`:              "expires_at",
			`{"name":"x","role":"agent","expires_at":"9999-12-31T23:59:59Z"}`:              "expires_at",
			`{"name":"x","role":"agent","expires_at":"next week"}`:                         "expires_at",
			`{"name":"x","role":"agent","ttl_days":0}`:                                     "ttl_days",
			`{"name":"x","role":"agent","ttl_days":1,"expires_at":"2100-01-01T00:00:00Z"}`: "ttl_days",
		} {
			code, out := admin.do("POST", "/api/v1/tokens", body)
			if e, _ := out["error"].(map[string]any); code != 422 || e["field"] != field {
				t.Errorf("%s: %d %v, want 422 naming %s", body, code, out, field)
			}
		}

		// Deactivating Ann retires her token; reactivating restores it.
		admin.do("PATCH", pathf("/api/v1/staff/%d", annID), `{"active":false}`)
		if code, _ := ann.do("GET", "/api/v1/customers", ""); code != 401 {
			t.Errorf("token of deactivated staff: %d", code)
		}
		admin.do("PATCH", pathf("/api/v1/staff/%d", annID), `{"active":true}`)
		if code, _ := ann.do("GET", "/api/v1/customers", ""); code != 200 {
			t.Errorf("token of reactivated staff: %d", code)
		}

		id := int64(tok["id"].(float64))
		if code, out := ann.do("DELETE", pathf("/api/v1/tokens/%d", id), ""); code != 403 {
			t.Errorf("manager revokes: %d %v", code, out)
		}
		if code, out := admin.do("DELETE", pathf("/api/v1/tokens/%d", id), ""); code != 204 || out != nil {
			t.Errorf("revoke: %d %v", code, out)
		}
		if code, out := ann.do("GET", "/api/v1/customers", ""); code != 401 || errCode(out) != "unauthorized" {
			t.Errorf("revoked token: %d %v", code, out)
		}
		if code, _ := admin.do("DELETE", "/api/v1/tokens/999999", ""); code != 404 {
			t.Errorf("revoke a missing token: %d", code)
		}
	})
}

// Only admins act on admins, through the API too.
func TestAdminsOnlyAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv := newServer(t, s)
		admin := client{t, srv, adminToken}
		_, st := admin.do("POST", "/api/v1/staff", `{"name":"Root","role":"admin"}`)
		rootID := int64(st["id"].(float64))
		_, st = admin.do("POST", "/api/v1/staff", `{"name":"Meg","role":"manager"}`)
		meg := client{t, srv, tokenFor(t, s, store.RoleManager, ptr(int64(st["id"].(float64))))}
		for _, c := range []struct{ method, path, body string }{
			{"PATCH", pathf("/api/v1/staff/%d", rootID), `{"active":false}`},
			{"PATCH", pathf("/api/v1/staff/%d", rootID), `{"name":"Mallory"}`},
			{"POST", pathf("/api/v1/staff/%d/binding-codes", rootID), ``},
			{"POST", "/api/v1/staff", `{"name":"Eve","role":"admin"}`},
			{"POST", "/api/v1/staff", `{"name":"Max","role":"manager"}`},
		} {
			if code, out := meg.do(c.method, c.path, c.body); code != 403 || errCode(out) != "forbidden" {
				t.Errorf("manager %s %s %s: %d %v", c.method, c.path, c.body, code, out)
			}
		}
		// Managers run the team: they add agents (the default role).
		for _, body := range []string{`{"name":"Ann","role":"agent"}`, `{"name":"Bo"}`} {
			if code, out := meg.do("POST", "/api/v1/staff", body); code != 201 || out["role"] != "agent" {
				t.Errorf("manager adds an agent %s: %d %v", body, code, out)
			}
		}
		agent := client{t, srv, tokenFor(t, s, store.RoleAgent, nil)}
		if code, _ := agent.do("POST", "/api/v1/staff", `{"name":"Cy"}`); code != 403 {
			t.Errorf("agent adds staff: %d, want 403", code)
		}
		if code, out := admin.do("POST", pathf("/api/v1/staff/%d/binding-codes", rootID), ``); code != 201 {
			t.Errorf("admin issues a code for an admin: %d %v", code, out)
		}
	})
}

// TestAgentScopeAPI: every per-customer read and the message send answer
// by one rule; a customer the caller may not see is 404, and lists leave
// them out.
func TestAgentScopeAPI(t *testing.T) {
	for _, d := range storetest.Dialects {
		for _, seeAll := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/agents_see_all=%v", d, seeAll), func(t *testing.T) {
				testAgentScope(t, storetest.Open(t, d, store.WithAgentsSeeAll(seeAll)), seeAll)
			})
		}
	}
}

func testAgentScope(t *testing.T, s *store.Store, seeAll bool) {
	ctx := context.Background()
	srv := newServer(t, s)
	staff := map[string]int64{}
	for _, n := range []string{"owner", "assignee", "stranger", "manager"} {
		role := store.RoleAgent
		if n == "manager" {
			role = store.RoleManager
		}
		st, err := s.CreateStaff(ctx, store.StaffInput{Name: n, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		staff[n] = st.ID
	}
	owned, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("owned"), OwnerStaffID: ptr(staff["owner"]),
		Identities: []store.IdentityRef{{Channel: "telegram", ExternalID: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	tasked, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("tasked"), Identities: []store.IdentityRef{{Channel: "telegram", ExternalID: "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: tasked.ID, Kind: "manual", Title: "call", AssigneeID: ptr(staff["assignee"])}); err != nil {
		t.Fatal(err)
	}
	names := map[int64]string{owned.ID: "owned", tasked.ID: "tasked"}
	callers := map[string]client{
		"owner agent":     {t, srv, tokenFor(t, s, store.RoleAgent, ptr(staff["owner"]))},
		"assignee agent":  {t, srv, tokenFor(t, s, store.RoleAgent, ptr(staff["assignee"]))},
		"unrelated agent": {t, srv, tokenFor(t, s, store.RoleAgent, ptr(staff["stranger"]))},
		"agent of no one": {t, srv, tokenFor(t, s, store.RoleAgent, nil)},
		"manager":         {t, srv, tokenFor(t, s, store.RoleManager, ptr(staff["manager"]))},
	}
	want := map[string][]string{
		"owner agent": {"owned"}, "assignee agent": {"tasked"}, "unrelated agent": nil, "agent of no one": nil,
		"manager": {"owned", "tasked"},
	}
	if seeAll {
		for k := range want {
			want[k] = []string{"owned", "tasked"}
		}
	}
	for who, c := range callers {
		var listed []string
		_, l := c.do("GET", "/api/v1/customers?limit=500", "")
		for _, it := range l["items"].([]any) {
			listed = append(listed, it.(map[string]any)["name"].(string))
		}
		slices.Sort(listed)
		if diff := cmp.Diff(want[who], listed); diff != "" {
			t.Errorf("%s: GET /customers (-want +got):\n%s", who, diff)
		}
		for id, name := range names {
			wantOK := slices.Contains(want[who], name)
			for _, r := range []struct{ method, path, body string }{
				{"GET", pathf("/api/v1/customers/%d", id), ""},
				{"GET", pathf("/api/v1/customers/%d/messages", id), ""},
				{"GET", pathf("/api/v1/customers/%d/assets", id), ""},
				{"POST", pathf("/api/v1/customers/%d/messages", id), `{"text":"hello"}`},
			} {
				code, out := c.do(r.method, r.path, r.body)
				if ok := code < 300; ok != wantOK || (!ok && code != 404) {
					t.Errorf("%s: %s %s (%s) = %d %v, want allowed=%v (else 404)", who, r.method, r.path, name, code, out, wantOK)
				}
			}
		}
		// By identity too: an agent can't learn whom a chat id belongs to.
		_, l = c.do("GET", "/api/v1/customers?channel=telegram&external_id=1", "")
		if n := len(l["items"].([]any)); (n == 1) != slices.Contains(want[who], "owned") {
			t.Errorf("%s: find by identity: %v", who, l)
		}
	}
}

// Unknown routes and methods under /api/v1 answer the API's JSON error.
func TestAPIUnknownRoutes(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	srv := newServer(t, s)
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/api/v1/nope", 404, "not_found", ""},
		{"GET", "/api/v1/customers/1/nope", 404, "not_found", ""},
		{"GET", "/api/v1", 404, "not_found", ""},
		{"GET", "/api/v1/", 404, "not_found", ""},
		{"DELETE", "/api/v1/customers", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"PUT", "/api/v1/customers/1", 405, "method_not_allowed", "GET, HEAD, PATCH"},
		{"POST", "/api/v1/tokens/1", 405, "method_not_allowed", "DELETE"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != tc.status || errCode(out) != tc.code ||
			resp.Header.Get("Allow") != tc.allow || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s = %d %q Allow=%q %s, want %d %s Allow=%q", tc.method, tc.path, resp.StatusCode,
				resp.Header.Get("Content-Type"), resp.Header.Get("Allow"), b, tc.status, tc.code, tc.allow)
		}
	}
}

// lockedBuffer collects log output from concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Client errors are the client's: never logged at ERROR.
func TestClientErrorsNotLoggedAsErrors(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	if err := s.EnsureToken(context.Background(), "bootstrap", adminToken, store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(web.New(web.Deps{Store: s, Logger: log}))
	t.Cleanup(srv.Close)
	admin := client{t, srv, adminToken}
	for _, r := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/api/v1/customers", `{"name":`, 400},
		{"POST", "/api/v1/customers", ``, 400},
		{"POST", "/api/v1/customers", `{"name":5}`, 400},
		{"POST", "/api/v1/customers", `{"nickname":"x"}`, 400},
		{"POST", "/api/v1/customers", `{"name":"x","birthday":"1990-02-30"}`, 422},
		{"POST", "/api/v1/tasks", `{"customer_id":1,"title":"x","due_at":"9999-12-31T23:59:59Z"}`, 422},
		{"GET", "/api/v1/customers/42", ``, 404},
		{"GET", "/api/v1/nope", ``, 404},
		{"DELETE", "/api/v1/customers", ``, 405},
		{"POST", "/api/v1/customers", `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, 413},
	} {
		if code, out := admin.do(r.method, r.path, r.body); code != r.status {
			t.Errorf("%s %s: %d %v, want %d", r.method, r.path, code, out, r.status)
		}
	}
	if code, _ := (client{t, srv, "wrong"}).do("GET", "/api/v1/customers", ""); code != 401 {
		t.Errorf("bad token: %d", code)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("client errors logged at ERROR:\n%s", logs.String())
	}
}

// Years outside what the domain (and MySQL's DATETIME) takes are 422
// naming the field, never a 500.
func TestOutOfRangeTimes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		srv := newServer(t, s)
		admin := client{t, srv, adminToken}
		c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("Li")})
		if err != nil {
			t.Fatal(err)
		}
		_, tk := admin.do("POST", "/api/v1/tasks", pathf(`{"customer_id":%d,"title":"call"}`, c.ID))
		taskID := int64(tk["id"].(float64))
		for _, r := range []struct{ method, path, body, field string }{
			{"POST", "/api/v1/tasks", pathf(`{"customer_id":%d,"title":"x","due_at":"9999-12-31T23:59:59Z"}`, c.ID), "due_at"},
			{"POST", "/api/v1/tasks", pathf(`{"customer_id":%d,"title":"x","due_at":"0001-01-01T00:00:00Z"}`, c.ID), "due_at"},
			{"PATCH", pathf("/api/v1/tasks/%d", taskID), `{"due_at":"9999-12-31T23:59:59Z"}`, "due_at"},
			{"PATCH", pathf("/api/v1/tasks/%d", taskID), `{"due_at":"0000-01-01T00:00:00Z"}`, "due_at"},
			{"POST", "/api/v1/tokens", `{"name":"x","role":"agent","expires_at":"9999-12-31T23:59:59Z"}`, "expires_at"},
			{"POST", "/api/v1/customers", `{"name":"x","birthday":"0001-01-01"}`, "birthday"},
			{"PATCH", pathf("/api/v1/customers/%d", c.ID), `{"birthday":"9999-12-31"}`, "birthday"},
		} {
			code, out := admin.do(r.method, r.path, r.body)
			if e, _ := out["error"].(map[string]any); code != 422 || e["field"] != r.field {
				t.Errorf("%s %s %s: %d %v, want 422 naming %s", r.method, r.path, r.body, code, out, r.field)
			}
		}
	})
}
