package main

import (
	"encoding/json"
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

// The segment and campaign routes as a manager, an agent and an admin use
// them, every answer checked against the OpenAPI description.
func TestCampaignAPI(t *testing.T) {
	eachCampaign(t, campaignStart, func(t *testing.T, e *campaignEnv) {
		r := e.replica("a")
		e.customers(r.st, 4)
		const admin = "campaign-admin-token-0123456789"
		if err := r.st.EnsureToken(e.ctx, "bootstrap", admin, store.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		manager, _, err := r.st.CreateToken(e.ctx, store.TokenInput{Name: "m", Role: store.RoleManager})
		if err != nil {
			t.Fatal(err)
		}
		agent, _, err := r.st.CreateToken(e.ctx, store.TokenInput{Name: "a", Role: store.RoleAgent})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(openapitest.Conform(t, web.New(web.Deps{Store: r.st, Campaigns: r.svc, Location: testShanghai})))
		t.Cleanup(srv.Close)
		call := func(tok, method, path, body string) (int, map[string]any, string) {
			t.Helper()
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			req, _ := http.NewRequest(method, srv.URL+"/api/v1"+path, rd)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var out map[string]any
			_ = json.Unmarshal(b, &out)
			return resp.StatusCode, out, string(b)
		}
		// Unknown keys and bad values are 422 naming them.
		for body, field := range map[string]string{
			`{"filter":{"cityy":["上海"]}}`: "filter.cityy",
			`{"filter":{"tier":["Q"]}}`:   "filter.tier",
		} {
			code, _, raw := call(manager, "POST", "/segments/preview", body)
			if code != 422 || !strings.Contains(raw, field) {
				t.Errorf("preview %s: %d %s", body, code, raw)
			}
		}
		code, out, raw := call(agent, "POST", "/segments/preview", `{"filter":{"city":"上海"}}`)
		if code != 200 || out["count"] != float64(2) {
			t.Fatalf("preview: %d %s", code, raw)
		}
		if code, _, _ := call(agent, "POST", "/segments", `{"name":"sh","filter":{"city":"上海"}}`); code != 403 {
			t.Errorf("agent creates a segment: %d", code)
		}
		code, out, raw = call(manager, "POST", "/segments", `{"name":"sh","filter":{"city":["上海"]}}`)
		if code != 201 || out["count"] != float64(2) {
			t.Fatalf("segment: %d %s", code, raw)
		}
		seg := int64(out["id"].(float64))
		if code, out, raw = call(agent, "GET", "/segments/"+itoa(seg)+"/members?limit=1", ""); code != 200 || out["next_cursor"] == "" {
			t.Errorf("members: %d %s", code, raw)
		}
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/segments/"+itoa(seg)+"/members?format=csv", nil)
		req.Header.Set("Authorization", "Bearer "+agent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		csvBody, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if lines := strings.Count(string(csvBody), "\n"); lines != 3 || !strings.Contains(string(csvBody), "上海") {
			t.Errorf("csv: %d lines %q", lines, csvBody)
		}
		code, out, raw = call(manager, "POST", "/campaigns", `{"name":"试驾","segment_id":`+itoa(seg)+`,"body":"{{.Customer.Name}} 周六试驾","cap_exempt":true}`)
		if code != 403 {
			t.Errorf("manager exempting: %d %s", code, raw)
		}
		code, out, raw = call(manager, "POST", "/campaigns", `{"name":"试驾","segment_id":`+itoa(seg)+`,"body":"{{.Customer.Name"}`)
		if code != 422 || !strings.Contains(raw, "body") {
			t.Errorf("bad body: %d %s", code, raw)
		}
		code, out, raw = call(manager, "POST", "/campaigns", `{"name":"试驾","segment_id":`+itoa(seg)+`,"body":"{{.Customer.Name}} 周六试驾"}`)
		if code != 201 || out["status"] != "draft" {
			t.Fatalf("campaign: %d %s", code, raw)
		}
		id := itoa(int64(out["id"].(float64)))
		code, out, raw = call(manager, "POST", "/campaigns/"+id+"/dry-run", "")
		if code != 200 || out["would_send"] != float64(2) {
			t.Errorf("dry run: %d %s", code, raw)
		}
		if code, _, _ := call(agent, "POST", "/campaigns/"+id+"/send", ""); code != 403 {
			t.Errorf("agent sends: %d", code)
		}
		if code, out, raw = call(manager, "POST", "/campaigns/"+id+"/send", ""); code != 200 || out["status"] != "sending" {
			t.Fatalf("send: %d %s", code, raw)
		}
		e.tick(r)
		code, out, raw = call(agent, "GET", "/campaigns/"+id, "")
		res, _ := out["results"].(map[string]any)
		if code != 200 || out["status"] != "done" || res["queued"] != float64(2) {
			t.Errorf("get: %d %s", code, raw)
		}
		if code, out, raw = call(manager, "POST", "/campaigns/"+id+"/trigger", `{"key":"k1","vars":{"alert":"x"}}`); code != 202 || out["created"] != true {
			t.Errorf("trigger: %d %s", code, raw)
		}
		if code, out, raw = call(manager, "POST", "/campaigns/"+id+"/trigger", `{"key":"k1","vars":{"alert":"x"}}`); code != 202 || out["created"] != false {
			t.Errorf("trigger again: %d %s", code, raw)
		}
		// Its runs: the trigger's (newest) and its own send.
		code, out, raw = call(agent, "GET", "/campaigns/"+id+"/runs?limit=1", "")
		items, _ := out["items"].([]any)
		if code != 200 || len(items) != 1 || items[0].(map[string]any)["key"] != "k1" || out["next_cursor"] == "" {
			t.Errorf("runs: %d %s", code, raw)
		}
		code, out, raw = call(agent, "GET", "/campaigns/"+id+"/runs?cursor="+out["next_cursor"].(string), "")
		if items, _ = out["items"].([]any); code != 200 || len(items) != 1 || items[0].(map[string]any)["key"] != "" ||
			items[0].(map[string]any)["queued"] != float64(2) {
			t.Errorf("runs, page 2: %d %s", code, raw)
		}
		if code, _, raw = call(agent, "GET", "/campaigns/999999/runs", ""); code != 404 {
			t.Errorf("runs of no campaign: %d %s", code, raw)
		}
		if code, out, raw = call(manager, "POST", "/campaigns/"+id+"/cancel", ""); code != 200 || out["status"] != "cancelled" {
			t.Errorf("cancel: %d %s", code, raw)
		}
		if code, _, raw = call(manager, "POST", "/campaigns/"+id+"/trigger", `{"key":"k2"}`); code != 409 {
			t.Errorf("trigger cancelled: %d %s", code, raw)
		}
		// Every send, trigger and cancel is audited.
		evs, _, err := r.st.ListAudit(e.ctx, store.AuditFilter{Page: store.Page{Limit: 50}})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, ev := range evs {
			seen[ev.Action] = true
		}
		for _, a := range []string{"segment.create", "campaign.create", "campaign.send", "campaign.trigger", "campaign.cancel"} {
			if !seen[a] {
				t.Errorf("no audit event %s", a)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
