package web_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
	"github.com/rapport-crm/rapport/web"
	"github.com/rapport-crm/rapport/web/openapitest"
)

// TestAuditLog: each audited admin or manager action leaves one event
// naming its actor, subject and change; a refused action leaves none;
// managers and admins read the log, filtered; agents may not.
func TestAuditLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.EnsureToken(ctx, "bootstrap", adminToken, store.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(openapitest.Conform(t, web.New(web.Deps{Store: s, Templates: templates.New(s, templates.Config{})})))
		t.Cleanup(srv.Close)
		admin := client{t, srv, adminToken}
		_, st := admin.do("POST", "/api/v1/staff", `{"name":"Meg","role":"manager"}`)
		megID := int64(st["id"].(float64))
		meg := client{t, srv, tokenFor(t, s, store.RoleManager, &megID)}
		_, st = admin.do("POST", "/api/v1/staff", `{"name":"Ann","role":"agent"}`)
		annID := int64(st["id"].(float64))
		ann := client{t, srv, tokenFor(t, s, store.RoleAgent, &annID)}
		li, _ := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("李雷")})

		// Refused actions leave nothing.
		for _, c := range []struct {
			cl              client
			method, p, body string
			want            int
		}{
			{admin, "POST", "/api/v1/tokens", `{"name":"","role":"agent"}`, 422},
			{meg, "POST", "/api/v1/tokens", `{"name":"x","role":"agent"}`, 403},
			{ann, "PATCH", pathf("/api/v1/customers/%d", li.ID), `{"tier":"A"}`, 403},
			{meg, "PUT", "/api/v1/templates/birthday", `{"body":"{{if}}"}`, 422},
		} {
			if code, out := c.cl.do(c.method, c.p, c.body); code != c.want {
				t.Fatalf("%s %s: %d %v", c.method, c.p, code, out)
			}
		}
		_, got := admin.do("GET", "/api/v1/audit", "")
		if n := len(got["items"].([]any)); n != 2 {
			t.Fatalf("after refused actions: %d events (want the 2 staff.create): %v", n, got)
		}

		steps := []struct {
			cl              client
			method, p, body string
			want            int
		}{
			{admin, "POST", "/api/v1/tokens", `{"name":"laptop","role":"agent","ttl_days":30}`, 201},
			{meg, "PATCH", pathf("/api/v1/staff/%d", annID), `{"name":"Ann Li"}`, 200},
			{meg, "POST", pathf("/api/v1/staff/%d/binding-codes", annID), ``, 201},
			{admin, "PUT", pathf("/api/v1/staff/%d/password", annID), `{"password":"a long enough secret"}`, 204},
			{meg, "PUT", "/api/v1/templates/birthday", `{"body":"生日快乐 {{.Customer.Name}}"}`, 200},
			{meg, "POST", "/api/v1/templates/birthday/rollback", `{"version":1}`, 200},
			{meg, "POST", "/api/v1/quick-replies", `{"title":"营业时间","body":"9:00-18:00"}`, 201},
			{meg, "PATCH", pathf("/api/v1/customers/%d", li.ID), `{"tier":"A","phone":"13800138000","tags":["vip"]}`, 200},
			{meg, "POST", "/api/v1/outbox/requeue", `{"channel":"telegram"}`, 200},
			{meg, "PATCH", pathf("/api/v1/staff/%d", annID), `{"active":false}`, 200},
		}
		var tokenID float64
		for _, c := range steps {
			code, out := c.cl.do(c.method, c.p, c.body)
			if code != c.want {
				t.Fatalf("%s %s: %d %v", c.method, c.p, code, out)
			}
			if c.p == "/api/v1/tokens" {
				tokenID = out["id"].(float64)
			}
		}
		if code, _ := admin.do("DELETE", pathf("/api/v1/tokens/%d", int64(tokenID)), ""); code != 204 {
			t.Fatalf("revoke: %d", code)
		}

		type event struct{ Action, Actor, Via, Subject string }
		events := func(c client, query string) []event {
			t.Helper()
			code, got := c.do("GET", "/api/v1/audit"+query, "")
			if code != 200 {
				t.Fatalf("audit%s: %d %v", query, code, got)
			}
			var out []event
			for _, it := range got["items"].([]any) {
				m := it.(map[string]any)
				out = append(out, event{m["action"].(string), m["actor_name"].(string), m["via"].(string), m["subject_type"].(string) + ":" + m["subject_id"].(string)})
			}
			return out
		}
		ann2 := pathf("staff:%d", annID)
		want := []event{
			{"token.revoke", "bootstrap", "api", pathf("token:%d", int64(tokenID))},
			{"staff.deactivate", "Meg", "api", ann2},
			{"outbox.requeue", "Meg", "api", "outbox:"},
			{"customer.update", "Meg", "api", pathf("customer:%d", li.ID)},
			{"quick_reply.create", "Meg", "api", "quick_reply:1"},
			{"template.rollback", "Meg", "api", "template:birthday"},
			{"template.save", "Meg", "api", "template:birthday"},
			{"staff.password_set", "bootstrap", "api", ann2},
			{"staff.binding_code", "Meg", "api", ann2},
			{"staff.update", "Meg", "api", ann2},
			{"token.create", "bootstrap", "api", pathf("token:%d", int64(tokenID))},
			{"staff.create", "bootstrap", "api", ann2},
			{"staff.create", "bootstrap", "api", pathf("staff:%d", megID)},
		}
		if diff := cmp.Diff(want, events(meg, "")); diff != "" {
			t.Errorf("the log (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want[len(want)-3:len(want)-2], events(admin, "?action=token.create")); diff != "" {
			t.Errorf("action=token.create (-want +got):\n%s", diff)
		}
		if got := events(admin, "?action=token"); len(got) != 2 {
			t.Errorf("action=token: %v", got)
		}
		if got := events(admin, pathf("?actor=%d&action=template", megID)); len(got) != 2 || got[0].Action != "template.rollback" {
			t.Errorf("Meg's template actions: %v", got)
		}
		if got := events(admin, "?actor=token:1&limit=2"); len(got) != 2 || got[0].Actor != "bootstrap" {
			t.Errorf("the bootstrap token's: %v", got)
		}
		if got := events(admin, "?from=2000-01-01&to=2000-01-02"); len(got) != 0 {
			t.Errorf("in 2000: %v", got)
		}

		// What a customer update says: the fields given, the tier's value, not the phone's.
		_, got = admin.do("GET", "/api/v1/audit?action=customer.update", "")
		sum := got["items"].([]any)[0].(map[string]any)["summary"].(map[string]any)
		if diff := cmp.Diff(map[string]any{"fields": []any{"phone", "tags", "tier"}, "tier": "A"}, sum); diff != "" {
			t.Errorf("customer.update summary (-want +got):\n%s", diff)
		}
		if strings.Contains(pathf("%v", got), "13800138000") {
			t.Errorf("the audit log keeps a phone number: %v", got)
		}

		for q, field := range map[string]string{"?actor=ann": "actor", "?actor=robot:3": "actor", "?from=yesterday": "from", "?limit=0": "limit"} {
			if code, out := admin.do("GET", "/api/v1/audit"+q, ""); code != 422 || out["error"].(map[string]any)["field"] != field {
				t.Errorf("audit%s: %d %v", q, code, out)
			}
		}
		agent := client{t, srv, tokenFor(t, s, store.RoleAgent, nil)}
		if code, _ := agent.do("GET", "/api/v1/audit", ""); code != 403 {
			t.Errorf("agent reads the audit log: %d", code)
		}
	})
}

// TestAuditViaConsole: an action through a console session is audited as
// the signed-in staff member, via console.
func TestAuditViaConsole(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	srv := consoleServer(t, s)
	bound(t, s, "王经理", store.RoleManager, "3003")
	b := signIn(t, s, srv.URL, "王经理", nil)
	resp, body := b.call("PUT", "/console/api/password", `{"password":"correct horse battery"}`, map[string]string{"X-CSRF-Token": b.csrf})
	if resp.StatusCode != 204 {
		t.Fatalf("password: %d %s", resp.StatusCode, body)
	}
	resp, body = b.call("GET", "/api/v1/audit?action=staff.password_set", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"via":"console"`) || !strings.Contains(body, `"actor_name":"王经理"`) {
		t.Errorf("audit: %d %s", resp.StatusCode, body)
	}
}
