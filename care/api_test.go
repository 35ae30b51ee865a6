package care

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/web"
	"github.com/rapport-crm/rapport/web/openapitest"
)

// TestAPI drives the care endpoints through web with this service wired
// as Deps.Care, as cmd does.
func TestAPI(t *testing.T) {
	each(t, at("2027-02-06 10:00"), func(t *testing.T, e *env) {
		const token = "care-api-test-token-0123456789"
		if err := e.s.EnsureToken(e.ctx, "t", token, store.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(openapitest.Conform(t, web.New(web.Deps{Store: e.s, Care: e.svc, Location: shanghai, Logger: quietLog})))
		defer srv.Close()
		call := func(method, path, body string) (int, map[string]any) {
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
		c := e.customer("Li", birthday("02-06"))

		code, dry := call("POST", "/care/runs", `{"workflow":"birthday","date":"2027-02-06","dry_run":true}`)
		if code != 200 || dry["planned"] != 1.0 || dry["would_queue"] != 1.0 || dry["queued"] != 0.0 {
			t.Fatalf("dry run: %d %v", code, dry)
		}
		code, run := call("POST", "/care/runs", `{"workflow":"birthday","date":"2027-02-06"}`)
		if code != 200 || run["queued"] != 1.0 || run["workflow"] != "birthday" || run["date"] != "2027-02-06" {
			t.Fatalf("run: %d %v", code, run)
		}
		_, again := call("POST", "/care/runs", `{"workflow":"birthday","date":"2027-02-06"}`)
		if again["id"] != run["id"] || again["queued"] != 1.0 {
			t.Errorf("again: %v", again)
		}
		e.wantMessages(c, 1)
		if _, list := call("GET", "/care/runs?workflow=birthday", ""); len(list["items"].([]any)) != 2 {
			t.Errorf("runs: %v", list)
		}
		for body, want := range map[string]int{
			`{"workflow":"birthday","date":"2027-02-30"}`: 422,
			`{"workflow":"cake","date":"2027-02-06"}`:     422,
			`{"workflow":"birthday"`:                      400,
		} {
			if code, out := call("POST", "/care/runs", body); code != want {
				t.Errorf("%s: %d %v, want %d", body, code, out, want)
			}
		}

		// A date after today: refused naming date unless dry_run or force.
		code, out := call("POST", "/care/runs", `{"workflow":"birthday","date":"2027-02-07"}`)
		if e, _ := out["error"].(map[string]any); code != 422 || e["field"] != "date" || !strings.Contains(fmt.Sprint(e["message"]), "2027-02-07 is in the future") {
			t.Errorf("future date: %d %v", code, out)
		}
		if code, out := call("POST", "/care/runs", `{"workflow":"birthday","date":"2027-02-07","dry_run":true}`); code != 200 || out["dry_run"] != true {
			t.Errorf("future dry run: %d %v", code, out)
		}
		if code, out := call("POST", "/care/runs", `{"workflow":"birthday","date":"2027-02-07","force":true}`); code != 200 || out["status"] != "done" {
			t.Errorf("future forced: %d %v", code, out)
		}

		code, a := call("POST", "/customers/"+itoa(c.ID)+"/assets", `{"name":"Boiler","next_service_due":"2027-02-10"}`)
		if code != 201 || a["next_service_due"] != "2027-02-10" {
			t.Fatalf("asset: %d %v", code, a)
		}
		if code, out := call("POST", "/customers/"+itoa(c.ID)+"/assets", `{"name":"Boiler"}`); code != 422 {
			t.Errorf("asset without dates: %d %v", code, out)
		}
		code, o := call("POST", "/orders", `{"customer_id":`+itoa(c.ID)+`,"kind":"service","amount":120,"occurred_at":"2027-02-06T02:00:00Z","asset_id":`+itoa(int64(a["id"].(float64)))+`}`)
		if code != 201 || o["kind"] != "service" {
			t.Fatalf("order: %d %v", code, o)
		}
		if code, out := call("POST", "/orders", `{"customer_id":`+itoa(c.ID)+`,"kind":"refund"}`); code != 422 {
			t.Errorf("bad kind: %d %v", code, out)
		}

		// People give a service or an order by its day; the due date follows
		// from that day in the business calendar.
		code, a2 := call("POST", "/customers/"+itoa(c.ID)+"/assets", `{"name":"空调","last_service_at":"2026-08-05","service_interval_days":180}`)
		if code != 201 || a2["next_service_due"] != "2027-02-01" {
			t.Errorf("asset by last service date: %d %v", code, a2)
		}
		if code, o := call("POST", "/orders", `{"customer_id":`+itoa(c.ID)+`,"kind":"purchase","amount":5,"occurred_at":"2027-02-05"}`); code != 201 || o["occurred_at"] != "2027-02-05T12:00:00Z" {
			t.Errorf("order by date: %d %v", code, o)
		}
		for body, want := range map[string]string{
			`{"customer_id":` + itoa(c.ID) + `,"kind":"purchase","occurred_at":"yesterday"}`: "occurred_at",
			`{"customer_id":` + itoa(c.ID) + `,"kind":"purchase","occurred_at":20270205}`:    "occurred_at",
			`{"customer_id":` + itoa(c.ID) + `,"kind":"purchase","colour":"red"}`:            "colour",
		} {
			code, out := call("POST", "/orders", body)
			if msg := fmt.Sprint(out); code/100 != 4 || !strings.Contains(msg, want) {
				t.Errorf("%s: %d %v, want a 4xx naming %s", body, code, out, want)
			}
		}
		if code, out := call("GET", "/surveys/responses", ""); code != 200 || len(out["items"].([]any)) != 0 {
			t.Errorf("responses: %d %v", code, out)
		}
		if code, out := call("GET", "/surveys/summary?from=2027-02-01&to=2027-02-28&channel=telegram", ""); code != 200 || out["total"] == nil {
			t.Errorf("summary: %d %v", code, out)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
