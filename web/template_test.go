package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
	"github.com/rapport-crm/rapport/web"
	"github.com/rapport-crm/rapport/web/openapitest"
)

func TestTemplateAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.EnsureToken(ctx, "bootstrap", adminToken, store.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(openapitest.Conform(t, web.New(web.Deps{Store: s, Templates: templates.New(s, templates.Config{BusinessName: "安心家电"})})))
		t.Cleanup(srv.Close)
		admin := client{t, srv, adminToken}
		_, st := admin.do("POST", "/api/v1/staff", `{"name":"Meg","role":"manager"}`)
		megID := int64(st["id"].(float64))
		meg := client{t, srv, tokenFor(t, s, store.RoleManager, &megID)}
		agent := client{t, srv, tokenFor(t, s, store.RoleAgent, nil)}

		code, got := agent.do("GET", "/api/v1/templates", "")
		items, _ := got["items"].([]any)
		if code != 200 || len(items) < 10 || got["next_cursor"] != "" {
			t.Fatalf("list: %d %v", code, got)
		}
		first := items[0].(map[string]any)
		if first["key"] != "birthday" || first["locale"] != "zh-CN" || first["version"] != float64(1) || first["updated_by"] != "system" {
			t.Errorf("first item %v", first)
		}
		code, got = agent.do("GET", "/api/v1/templates/holiday?locale=en", "")
		if code != 200 || got["locale"] != "en" || got["version"] != float64(1) || !strings.Contains(got["body"].(string), "Happy") {
			t.Errorf("get en: %d %v", code, got)
		}
		for _, tc := range []struct {
			cl   client
			m, p string
			body string
			want int
		}{
			{agent, "PUT", "/api/v1/templates/birthday", `{"body":"hi"}`, 403},
			{agent, "POST", "/api/v1/templates/birthday/rollback", `{"version":1}`, 403},
			{meg, "PUT", "/api/v1/templates/birthday", `{"body":"{{.Customer.Nmae}}"}`, 422},
			{meg, "PUT", "/api/v1/templates/birthday", `{"body":"{{if}}"}`, 422},
			{meg, "PUT", "/api/v1/templates/birthday", `{"body":"hi","locale":"fr"}`, 422},
			{meg, "PUT", "/api/v1/templates/birthday", `{"body":"hi","extra":1}`, 400},
			{meg, "PUT", "/api/v1/templates/nope", `{"body":"hi"}`, 404},
			{meg, "GET", "/api/v1/templates/nope", ``, 404},
			{meg, "POST", "/api/v1/templates/birthday/rollback", `{"version":7}`, 422},
			{meg, "POST", "/api/v1/templates/birthday/preview", `{"customer_id":999999}`, 404},
			// Previews run the body: managers and admins only.
			{agent, "POST", "/api/v1/templates/birthday/preview", `{"body":"hi"}`, 403},
			{agent, "POST", "/api/v1/templates/birthday/preview", `{}`, 403},
			{admin, "POST", "/api/v1/templates/birthday/preview", `{"body":"hi"}`, 200},
			// Bodies over the render budget: 422 when previewed and saved.
			{meg, "POST", "/api/v1/templates/birthday/preview", `{"body":"{{range 4000}}{{printf \"%0999999d\" 0}}{{end}}"}`, 422},
			{meg, "PUT", "/api/v1/templates/birthday", `{"body":"{{range 150000000}}{{end}}hi"}`, 422},
			{meg, "PUT", "/api/v1/templates/holiday", `{"body":"{{range .Customer.Points}}{{.}}{{end}}"}`, 422},
			{client{t, srv, ""}, "GET", "/api/v1/templates", ``, 401},
		} {
			if code, got := tc.cl.do(tc.m, tc.p, tc.body); code != tc.want {
				t.Errorf("%s %s %s: %d %v, want %d", tc.m, tc.p, tc.body, code, got, tc.want)
			}
		}
		code, got = meg.do("PUT", "/api/v1/templates/birthday", `{"body":"{{.Customer.Nmae}}"}`)
		if msg := fmt.Sprint(got["error"]); !strings.Contains(msg, "line 1") || !strings.Contains(msg, "Nmae") {
			t.Errorf("422 body: %v", got)
		}
		code, got = meg.do("POST", "/api/v1/templates/birthday/preview", `{"body":"hi\n{{range $i := 1000000}}{{$i}}{{end}}"}`)
		if e, _ := got["error"].(map[string]any); code != 422 || e["field"] != "body" || !strings.Contains(fmt.Sprint(e["message"]), "line 2: range over a number") {
			t.Errorf("preview over budget: %d %v", code, got)
		}
		if _, got = agent.do("GET", "/api/v1/templates/birthday", ""); got["version"] != float64(1) {
			t.Errorf("a rejected save changed the template: %v", got)
		}

		code, got = meg.do("PUT", "/api/v1/templates/birthday", `{"body":"{{default \"您\" .Customer.Salutation}}，生日快乐！","locale":"zh-CN"}`)
		if code != 200 || got["version"] != float64(2) || got["updated_by"] != "Meg" || got["updated_at"] == nil {
			t.Fatalf("save: %d %v", code, got)
		}
		c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("张伟"), Gender: ptr("male")})
		if err != nil {
			t.Fatal(err)
		}
		code, got = meg.do("POST", "/api/v1/templates/birthday/preview", fmt.Sprintf(`{"customer_id":%d}`, c.ID))
		if code != 200 || got["text"] != "张先生，生日快乐！" || got["version"] != float64(2) {
			t.Errorf("preview customer: %d %v", code, got)
		}
		code, got = meg.do("POST", "/api/v1/templates/birthday/preview", fmt.Sprintf(`{"customer_id":%d,"version":1}`, c.ID))
		if code != 200 || !strings.HasPrefix(got["text"].(string), "张先生，生日快乐！🎂") || got["version"] != float64(1) {
			t.Errorf("preview v1: %d %v", code, got)
		}
		code, got = meg.do("POST", "/api/v1/templates/birthday/preview", `{"body":"{{.Business}} 见！"}`)
		if code != 200 || got["text"] != "安心家电 见！" || got["version"] != float64(0) {
			t.Errorf("preview body: %d %v", code, got)
		}
		code, got = agent.do("GET", "/api/v1/templates/birthday/versions", "")
		if items, _ := got["items"].([]any); code != 200 || len(items) != 2 || items[0].(map[string]any)["active"] != true || items[0].(map[string]any)["author"] != "Meg" {
			t.Errorf("versions: %d %v", code, got)
		}
		code, got = meg.do("POST", "/api/v1/templates/birthday/rollback", `{"version":1}`)
		if code != 200 || got["version"] != float64(1) || got["updated_by"] != "Meg" {
			t.Errorf("rollback: %d %v", code, got)
		}
		code, got = agent.do("GET", "/api/v1/templates/birthday/audit", "")
		if items, _ := got["items"].([]any); code != 200 || len(items) != 2 || items[0].(map[string]any)["action"] != "rollback" || items[1].(map[string]any)["source"] != "api" {
			t.Errorf("audit: %d %v", code, got)
		}
	})
}

func TestTemplateAPIUnwired(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	admin := client{t, newServer(t, s), adminToken}
	if code, _ := admin.do("GET", "/api/v1/templates", ""); code != http.StatusServiceUnavailable {
		t.Errorf("unwired: %d, want 503", code)
	}
}

// TestTemplatePreviewsAtOnce: previews beyond the service's limit are
// refused with 503 and a JSON error rather than queued (each may spend a
// core for the render budget).
func TestTemplatePreviewsAtOnce(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	if err := s.EnsureToken(context.Background(), "bootstrap", adminToken, store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(openapitest.Conform(t, web.New(web.Deps{Store: s, Templates: templates.New(s, templates.Config{Previews: 1, CheckTime: time.Minute})})))
	t.Cleanup(srv.Close)
	// A legitimate body that takes a few milliseconds: 11 sample entries
	// times 400 comparisons.
	body, _ := json.Marshal(map[string]string{"body": "{{range .Extra}}" + strings.Repeat(`{{if eq . "x"}}{{end}}`, 400) + "{{end}}ok"})
	var mu sync.Mutex
	codes := map[int]int{}
	var busy *http.Response
	var busyBody map[string]any
	for round := 0; round < 20 && busy == nil; round++ {
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", srv.URL+"/api/v1/templates/task_digest/preview", strings.NewReader(string(body)))
				req.Header.Set("Authorization", "Bearer "+adminToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				var got map[string]any
				json.NewDecoder(resp.Body).Decode(&got)
				mu.Lock()
				defer mu.Unlock()
				codes[resp.StatusCode]++
				if resp.StatusCode == http.StatusServiceUnavailable && busy == nil {
					busy, busyBody = resp, got
				}
			}()
		}
		wg.Wait()
	}
	if busy == nil {
		t.Fatalf("no preview refused while another ran: %v", codes)
	}
	if len(codes) != 2 || codes[200] == 0 {
		t.Errorf("statuses %v, want only 200 and 503", codes)
	}
	e, _ := busyBody["error"].(map[string]any)
	if e["code"] != "unavailable" || !strings.Contains(fmt.Sprint(e["message"]), "too many template previews at once") || busy.Header.Get("Retry-After") == "" {
		t.Errorf("503: %v, Retry-After %q", busyBody, busy.Header.Get("Retry-After"))
	}
}
