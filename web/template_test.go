package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
	"github.com/rapport-crm/rapport/web"
)

func TestTemplateAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.EnsureToken(ctx, "bootstrap", adminToken, store.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(web.New(web.Deps{Store: s, Templates: templates.New(s, templates.Config{BusinessName: "安心家电"})}))
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
			{agent, "POST", "/api/v1/templates/birthday/preview", `{"customer_id":999999}`, 404},
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
		code, got = agent.do("POST", "/api/v1/templates/birthday/preview", fmt.Sprintf(`{"customer_id":%d}`, c.ID))
		if code != 200 || got["text"] != "张先生，生日快乐！" || got["version"] != float64(2) {
			t.Errorf("preview customer: %d %v", code, got)
		}
		code, got = agent.do("POST", "/api/v1/templates/birthday/preview", fmt.Sprintf(`{"customer_id":%d,"version":1}`, c.ID))
		if code != 200 || !strings.HasPrefix(got["text"].(string), "张先生，生日快乐！🎂") || got["version"] != float64(1) {
			t.Errorf("preview v1: %d %v", code, got)
		}
		code, got = agent.do("POST", "/api/v1/templates/birthday/preview", `{"body":"{{.Business}} 见！"}`)
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
