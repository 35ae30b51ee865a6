package care

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/web"
	"github.com/rapport-crm/rapport/web/openapitest"
)

// apiCall calls the API with a token.
func apiCall(t *testing.T, srv *httptest.Server, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+"/api/v1"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// The care endpoints' times and dates outside the years the domain takes
// answer 422 naming the field, never a 500 from the database.
func TestAPIOutOfRangeDates(t *testing.T) {
	each(t, at("2027-02-06 10:00"), func(t *testing.T, e *env) {
		const token = "care-dates-test-token-0123456789"
		if err := e.s.EnsureToken(e.ctx, "t", token, store.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(openapitest.Conform(t, web.New(web.Deps{Store: e.s, Care: e.svc, Location: shanghai, Logger: quietLog})))
		defer srv.Close()
		c := e.customer("Li")
		for _, r := range []struct{ method, path, body, field string }{
			{"POST", "/orders", `{"customer_id":` + itoa(c.ID) + `,"kind":"purchase","amount":1,"occurred_at":"0001-01-01T00:00:00Z"}`, "occurred_at"},
			{"POST", "/orders", `{"customer_id":` + itoa(c.ID) + `,"kind":"purchase","amount":1,"occurred_at":"1899-12-31"}`, "occurred_at"},
			{"POST", "/customers/" + itoa(c.ID) + "/assets", `{"name":"a","last_service_at":"9999-12-31T23:59:59Z","service_interval_days":3660}`, "last_service_at"},
			{"POST", "/customers/" + itoa(c.ID) + "/assets", `{"name":"a","next_service_due":"9999-12-31"}`, "next_service_due"},
			{"POST", "/customers/" + itoa(c.ID) + "/assets", `{"name":"a","next_service_due":"0000-01-01"}`, "next_service_due"},
			{"GET", "/surveys/responses?to=9999-12-31", "", "to"},
			{"GET", "/surveys/responses?from=0001-01-01", "", "from"},
			{"GET", "/surveys/summary?to=9999-12-31", "", "to"},
			{"POST", "/care/runs", `{"workflow":"maintenance","date":"9999-12-31","dry_run":true}`, "date"},
			{"POST", "/care/runs", `{"workflow":"survey","date":"0001-01-01","dry_run":true}`, "date"},
		} {
			code, out := apiCall(t, srv, token, r.method, r.path, r.body)
			if e, _ := out["error"].(map[string]any); code != 422 || e["field"] != r.field {
				t.Errorf("%s %s %s: %d %v, want 422 naming %s", r.method, r.path, r.body, code, out, r.field)
			}
		}
	})
}

// Survey answers and assets follow the agents' customer rule.
func TestAPIAgentScope(t *testing.T) {
	each(t, at("2027-02-06 10:00"), func(t *testing.T, e *env) {
		ann, err := e.s.CreateStaff(e.ctx, store.StaffInput{Name: "Ann", Role: store.RoleAgent})
		if err != nil {
			t.Fatal(err)
		}
		token, _, err := e.s.CreateToken(e.ctx, store.TokenInput{Name: "ann", Role: store.RoleAgent, StaffID: &ann.ID})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(openapitest.Conform(t, web.New(web.Deps{Store: e.s, Care: e.svc, Location: shanghai, Logger: quietLog})))
		defer srv.Close()
		mine, theirs := e.customer("Mine"), e.customer("Theirs")
		if _, err := e.s.UpdateCustomer(e.ctx, mine.ID, store.CustomerInput{OwnerStaffID: &ann.ID}); err != nil {
			t.Fatal(err)
		}
		var ss []store.Survey
		for _, c := range []*store.Customer{mine, theirs} {
			ss = append(ss, store.Survey{CustomerID: c.ID, Key: "k" + itoa(c.ID), Channel: "telegram", ExpiresAt: e.s.Now().Add(time.Hour)})
		}
		ids, err := e.s.CreateSurveys(e.ctx, ss)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if _, err := e.s.AnswerSurvey(e.ctx, id, 5, "good"); err != nil {
				t.Fatal(err)
			}
		}
		code, out := apiCall(t, srv, token, "GET", "/surveys/responses", "")
		items, _ := out["items"].([]any)
		if code != 200 || len(items) != 1 || items[0].(map[string]any)["customer_id"] != float64(mine.ID) {
			t.Errorf("agent's survey responses: %d %v", code, out)
		}
		code, out = apiCall(t, srv, token, "GET", "/surveys/summary", "")
		if total, _ := out["total"].(map[string]any); code != 200 || total["responses"] != float64(1) {
			t.Errorf("agent's survey summary counts others' answers: %d %v", code, out)
		}
		if code, _ := apiCall(t, srv, token, "GET", "/customers/"+itoa(theirs.ID)+"/assets", ""); code != 404 {
			t.Errorf("assets of a customer not theirs: %d", code)
		}
		if code, _ := apiCall(t, srv, token, "GET", "/customers/"+itoa(mine.ID)+"/assets", ""); code != 200 {
			t.Errorf("assets of their customer: %d", code)
		}
	})
}
