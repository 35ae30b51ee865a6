package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/web"
	"github.com/rapport-crm/rapport/web/openapitest"
)

const adminToken = "test-admin-token-0123456789"

// client calls the API as one bearer token.
type client struct {
	t     *testing.T
	srv   *httptest.Server
	token string
}

func newServer(t *testing.T, s *store.Store) *httptest.Server {
	t.Helper()
	if err := s.EnsureToken(context.Background(), "bootstrap", adminToken, store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	// Every answer must match the OpenAPI description.
	srv := httptest.NewServer(openapitest.Conform(t, web.New(web.Deps{Store: s})))
	t.Cleanup(srv.Close)
	return srv
}

func (c client) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.srv.URL+path, r)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 && json.Unmarshal(b, &out) != nil {
		c.t.Fatalf("%s %s: non-JSON body %q", method, path, b)
	}
	return resp.StatusCode, out
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestCustomerAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		admin := client{t, newServer(t, s), adminToken}

		code, c := admin.do("POST", "/api/v1/customers", `{"name":"李雷","phone":"13800138000","birthday":"1990-02-28","tags":["vip"],"identities":[{"channel":"telegram","external_id":"777"}]}`)
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, c)
		}
		id := int64(c["id"].(float64))
		if c["birthday"] != "1990-02-28" || c["source"] != "api" || c["tier"] != "C" || c["opt_out"] != false {
			t.Errorf("created: %v", c)
		}
		code, got := admin.do("GET", "/api/v1/customers?channel=telegram&external_id=777", "")
		items, _ := got["items"].([]any)
		if code != 200 || len(items) != 1 || got["next_cursor"] != "" {
			t.Fatalf("find by identity: %d %v", code, got)
		}
		code, got = admin.do("PATCH", pathf("/api/v1/customers/%d", id), `{"birthday":"03-01","tier":"A","opt_out":true}`)
		if code != 200 || got["birthday"] != "03-01" || got["tier"] != "A" || got["opt_out"] != true {
			t.Errorf("patch: %d %v", code, got)
		}
		idents := got["identities"].([]any)
		if idents[0].(map[string]any)["channel"] != "telegram" || idents[0].(map[string]any)["external_id"] != "777" {
			t.Errorf("identities: %v", idents)
		}

		// A token for an agent, made by the admin.
		code, st := admin.do("POST", "/api/v1/staff", `{"name":"Agent A","role":"agent"}`)
		if code != 201 {
			t.Fatalf("staff: %d %v", code, st)
		}
		code, tok := admin.do("POST", "/api/v1/tokens", pathf(`{"name":"a","role":"agent","staff_id":%d}`, int64(st["id"].(float64))))
		if code != 201 || tok["token"] == "" {
			t.Fatalf("token: %d %v", code, tok)
		}
		agent := client{t, admin.srv, tok["token"].(string)}

		tests := []struct {
			name     string
			c        client
			method   string
			path     string
			body     string
			want     int
			wantCode string
		}{
			{"no token", client{t, admin.srv, ""}, "GET", "/api/v1/customers", "", 401, "unauthorized"},
			{"bad token", client{t, admin.srv, "nope"}, "GET", "/api/v1/customers", "", 401, "unauthorized"},
			{"agent reads a customer not theirs", agent, "GET", pathf("/api/v1/customers/%d", id), "", 404, "not_found"},
			{"agent may not create", agent, "POST", "/api/v1/customers", `{"name":"x"}`, 403, "forbidden"},
			{"agent may not mint tokens", agent, "POST", "/api/v1/tokens", `{"name":"x","role":"admin"}`, 403, "forbidden"},
			{"malformed json", admin, "POST", "/api/v1/customers", `{"name":`, 400, "invalid"},
			{"unknown field", admin, "POST", "/api/v1/customers", `{"name":"x","nickname":"y"}`, 400, "invalid"},
			{"wrong type", admin, "POST", "/api/v1/customers", `{"name":5}`, 400, "invalid"},
			{"empty body", admin, "POST", "/api/v1/customers", ``, 400, "invalid"},
			{"bad birthday", admin, "POST", "/api/v1/customers", `{"name":"x","birthday":"1990-02-30"}`, 422, "invalid"},
			{"bad phone", admin, "POST", "/api/v1/customers", `{"name":"x","phone":"abc"}`, 422, "invalid"},
			{"bad email", admin, "POST", "/api/v1/customers", `{"name":"x","email":"@@"}`, 422, "invalid"},
			{"dup identity", admin, "POST", "/api/v1/customers", `{"name":"x","identities":[{"channel":"telegram","external_id":"777"}]}`, 409, "conflict"},
			{"unknown customer", admin, "GET", "/api/v1/customers/999999", "", 404, "not_found"},
			{"non-numeric id", admin, "GET", "/api/v1/customers/abc", "", 404, "not_found"},
			{"bad limit", admin, "GET", "/api/v1/customers?limit=9999", "", 422, "invalid"},
			{"bad stage filter", admin, "GET", "/api/v1/customers?stage=zombie", "", 422, "invalid"},
			{"bad role", admin, "POST", "/api/v1/tokens", `{"name":"x","role":"root"}`, 422, "invalid"},
		}
		for _, tt := range tests {
			code, out := tt.c.do(tt.method, tt.path, tt.body)
			if code != tt.want || errCode(out) != tt.wantCode {
				t.Errorf("%s: got %d %q (%v), want %d %q", tt.name, code, errCode(out), out, tt.want, tt.wantCode)
			}
		}
		// Bad input wrote nothing: still exactly one customer.
		_, got = admin.do("GET", "/api/v1/customers", "")
		if n := len(got["items"].([]any)); n != 1 {
			t.Errorf("customers after bad input = %d, want 1", n)
		}
	})
}

func TestBodyTooLarge(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	srv := newServer(t, s)
	body := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/customers", bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", resp.StatusCode)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	srv := newServer(t, s)
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s = %d", p, resp.StatusCode)
		}
	}
	s.Close()
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database closed = %d, want 503", resp.StatusCode)
	}
}

func pathf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
