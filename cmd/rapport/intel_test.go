package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store/storetest"
)

// intel is one running `rapport serve` for the customer intelligence
// tests, and its config file (for the CLI beside it).
type intel struct {
	t          *testing.T
	base, path string
}

func startIntel(t *testing.T, dialect string) *intel {
	t.Helper()
	path, base := writeConfig(t, dialect, "timezone: Asia/Shanghai\n")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	var stderr bytes.Buffer
	go func() { errc <- run(ctx, []string{"serve", "-config", path}, io.Discard, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", stderr.String())
		}
	})
	waitReady(t, base, errc)
	return &intel{t: t, base: base, path: path}
}

// call sends body (JSON text) with token and returns the status and the
// raw answer.
func (in *intel) call(token, method, path, body string) (int, []byte) {
	in.t.Helper()
	req, _ := http.NewRequest(method, in.base+"/api/v1"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// ok calls as admin and decodes an answer with the wanted status.
func (in *intel) ok(method, path, body string, want int) map[string]any {
	in.t.Helper()
	code, raw := in.call(e2eToken, method, path, body)
	if code != want {
		in.t.Fatalf("%s %s = %d, want %d: %s", method, path, code, want, raw)
	}
	out := map[string]any{}
	json.Unmarshal(raw, &out)
	return out
}

// refused checks a 4xx naming field.
func (in *intel) refused(method, path, body string, want int, field string) {
	in.t.Helper()
	code, raw := in.call(e2eToken, method, path, body)
	var out struct {
		Error struct{ Code, Message, Field string }
	}
	json.Unmarshal(raw, &out)
	if code != want || out.Error.Field != field {
		in.t.Errorf("%s %s %s = %d %s, want %d naming %q", method, path, body, code, raw, want, field)
	}
}

// names lists the names of a customer list.
func (in *intel) names(query string) string {
	in.t.Helper()
	out := in.ok("GET", "/customers?"+query, "", 200)
	var names []string
	for _, c := range out["items"].([]any) {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	return strings.Join(names, ",")
}

func (in *intel) cli(args ...string) string {
	in.t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), append(args, "-config", in.path), &stdout, &stderr); err != nil {
		in.t.Fatalf("rapport %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// A newcomer imports customers and orders from CSV and, without touching a
// customer, sees figures, tiers, RFM, stages, CLV and risk; orders are
// readable and exact to the fen through API, import and JSON; a pin
// survives a recompute and null unpins; filters are checked; an agent sees
// only their customers' orders.
func TestCustomerIntelligence(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			in := startIntel(t, d)
			dir := t.TempDir()
			now := time.Now().In(time.UTC)
			write := func(name, body string) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			day := func(daysAgo int) string { return now.AddDate(0, 0, -daysAgo).Format(time.DateOnly) }
			out := in.cli("import", "customers", write("c.csv", "name,phone,external_ref,city,region\n"+
				"王芳,13800000001,k1,杭州,浙江\n李雷,13800000002,k2,宁波,浙江\n韩梅,13800000003,k3,上海,上海\n"))
			if !strings.Contains(out, "3 created") {
				t.Fatalf("import customers: %s", out)
			}
			out = in.cli("import", "orders", write("o.csv", "customer_external_ref,kind,amount,occurred_at,order_ref\n"+
				"k1,purchase,250000,"+day(20)+",DMS-1\n"+
				"k1,service,0.29,"+day(10)+",DMS-2\n"+
				"k2,purchase,1280.5,"+day(200)+",DMS-3\n"+
				"k2,purchase,-80.5,"+day(199)+",DMS-4\n"))
			if !strings.Contains(out, "4 created") || !strings.Contains(out, "analytics: figures, tiers and stages updated (3 customers)") {
				t.Fatalf("import orders: %s", out)
			}
			list := in.ok("GET", "/customers?q=王芳", "", 200)["items"].([]any)
			wang := list[0].(map[string]any)
			id := int64(wang["id"].(float64))
			st := wang["stats"].(map[string]any)
			if wang["tier"] != "A" || wang["stage"] != "active" || wang["city"] != "杭州" || wang["region"] != "浙江" ||
				st["orders"] != 2.0 || wang["rfm"] == nil || wang["tier_pinned"] != false || wang["churn_risk"] == nil {
				t.Fatalf("王芳 after the import: %v", wang)
			}
			_, raw := in.call(e2eToken, "GET", fmt.Sprintf("/customers/%d", id), "")
			for _, want := range []string{`"spend":250000.29`, `"lifetime_spend":250000.29`, `"avg_order_value":125000.15`} {
				if !bytes.Contains(raw, []byte(want)) {
					t.Errorf("customer JSON lacks %s: %s", want, raw)
				}
			}
			// Orders readable, exact, newest first; order_ref kept.
			_, raw = in.call(e2eToken, "GET", fmt.Sprintf("/customers/%d/orders", id), "")
			if !bytes.Contains(raw, []byte(`"amount":0.29`)) || !bytes.Contains(raw, []byte(`"order_ref":"DMS-2"`)) ||
				bytes.Index(raw, []byte("DMS-2")) > bytes.Index(raw, []byte("DMS-1")) {
				t.Errorf("customer orders: %s", raw)
			}
			// The API takes an amount as a number or a string, exactly, with
			// items; a refund is negative; three decimals are refused.
			_, raw = in.call(e2eToken, "POST", "/orders", fmt.Sprintf(`{"customer_id":%d,"kind":"service","amount":1280.5,"order_ref":"WEB-1",`+
				`"items":[{"name":"保养","quantity":1,"amount":"880.50"},{"name":"机油","quantity":2,"amount":400}]}`, id))
			for _, want := range []string{`"amount":1280.50`, `"order_ref":"WEB-1"`, `{"name":"机油","quantity":2,"amount":400.00}`} {
				if !bytes.Contains(raw, []byte(want)) {
					t.Errorf("created order lacks %s: %s", want, raw)
				}
			}
			in.refused("POST", "/orders", fmt.Sprintf(`{"customer_id":%d,"kind":"purchase","amount":12.345}`, id), 422, "amount")
			in.refused("POST", "/orders", fmt.Sprintf(`{"customer_id":%d,"kind":"purchase","amount":"1e3"}`, id), 422, "amount")
			in.refused("POST", "/orders", fmt.Sprintf(`{"customer_id":%d,"kind":"purchase","amount":1000000000000}`, id), 422, "amount")
			in.refused("POST", "/orders", fmt.Sprintf(`{"customer_id":%d,"kind":"purchase","amount":1,"items":[{"name":""}]}`, id), 422, "items")
			// The order updated the figures at once.
			c := in.ok("GET", fmt.Sprintf("/customers/%d", id), "", 200)
			if c["stats"].(map[string]any)["orders"] != 3.0 {
				t.Errorf("after POST /orders: %v", c["stats"])
			}
			if got := in.ok("GET", "/orders?kind=purchase&from="+day(300)+"&to="+day(0), "", 200)["items"].([]any); len(got) != 3 {
				t.Errorf("GET /orders?kind=purchase: %d orders", len(got))
			}
			in.refused("GET", "/orders?from=2026-02-30", "", 422, "from")
			in.refused("GET", "/orders?kind=gift", "", 422, "kind")
			in.refused("GET", "/orders?customer_id=x", "", 422, "customer_id")

			// Recompute: API and CLI, one code path, {"customers": N}.
			if got := in.ok("POST", "/analytics/recompute", "", 200); got["customers"] != 3.0 {
				t.Errorf("recompute: %v", got)
			}
			if out := in.cli("analytics", "recompute"); strings.TrimSpace(out) != `{"customers":3}` {
				t.Errorf("rapport analytics recompute: %q", out)
			}
			// Filters.
			for query, want := range map[string]string{
				"tier=a":                        "王芳",
				"city=宁波":                       "李雷",
				"stage=potential":               "韩梅",
				"last_order_before=" + day(100): "李雷",
				"last_order_after=" + day(100):  "王芳",
				"churn_risk_min=1&last_order_after=" + day(1000): "李雷",
				"clv_min=0":      "王芳,李雷,韩梅",
				"clv_min=300000": "王芳",
			} {
				if got := in.names(query); got != want {
					t.Errorf("GET /customers?%s = %q, want %q", query, got, want)
				}
			}
			seg := in.ok("GET", fmt.Sprintf("/customers/%d", id), "", 200)["rfm"].(map[string]any)["segment"].(string)
			if got := in.names("rfm_segment=" + seg); !strings.Contains(got, "王芳") {
				t.Errorf("rfm_segment=%s: %q", seg, got)
			}
			for query, field := range map[string]string{
				"rfm_segment=vip": "rfm_segment", "churn_risk_min=101": "churn_risk_min", "churn_risk_min=x": "churn_risk_min",
				"clv_min=1.234": "clv_min", "last_order_before=yesterday": "last_order_before", "last_order_after=2027-02-30": "last_order_after",
				"tier=D": "tier", "stage=gone": "stage",
			} {
				in.refused("GET", "/customers?"+query, "", 422, field)
			}
			// A pin survives a recompute; null unpins at once.
			c = in.ok("PATCH", fmt.Sprintf("/customers/%d", id), `{"tier":"c","stage":"churned"}`, 200)
			if c["tier"] != "C" || c["tier_pinned"] != true || c["stage_pinned"] != true || c["tier_pinned_at"] == nil {
				t.Fatalf("pinned: %v", c)
			}
			in.ok("POST", "/analytics/recompute", "", 200)
			if c = in.ok("GET", fmt.Sprintf("/customers/%d", id), "", 200); c["tier"] != "C" || c["stage"] != "churned" {
				t.Errorf("after a recompute the pins are gone: %v %v", c["tier"], c["stage"])
			}
			c = in.ok("PATCH", fmt.Sprintf("/customers/%d", id), `{"tier":null,"stage":null}`, 200)
			if c["tier"] != "A" || c["stage"] != "active" || c["tier_pinned"] != false {
				t.Errorf("unpinned: %v %v %v", c["tier"], c["stage"], c["tier_pinned"])
			}
			in.refused("PATCH", fmt.Sprintf("/customers/%d", id), `{"tier":"Z"}`, 422, "tier")
			in.refused("PATCH", fmt.Sprintf("/customers/%d", id), `{"city":"`+strings.Repeat("城", 65)+`"}`, 422, "city")
			// The stage history.
			stages := in.ok("GET", fmt.Sprintf("/customers/%d/stages", id), "", 200)["items"].([]any)
			var hist []string
			for _, s := range stages {
				m := s.(map[string]any)
				hist = append(hist, fmt.Sprintf("%v>%v %v", m["from"], m["to"], m["reason"]))
				if m["at"] == nil {
					t.Errorf("change without at: %v", m)
				}
			}
			if strings.Join(hist, "; ") != "potential>active repeat order; active>churned pinned; churned>active unpinned" {
				t.Errorf("stages: %v", hist)
			}
			// An agent sees the orders of their own customers only.
			staff := in.ok("POST", "/staff", `{"name":"小张","role":"agent"}`, 201)
			tok := in.ok("POST", "/tokens", fmt.Sprintf(`{"name":"a","role":"agent","staff_id":%v}`, staff["id"]), 201)["token"].(string)
			if code, _ := in.call(tok, "GET", fmt.Sprintf("/customers/%d/orders", id), ""); code != 404 {
				t.Errorf("agent, another's customer's orders: %d", code)
			}
			if code, raw := in.call(tok, "GET", "/orders", ""); code != 200 || !bytes.Contains(raw, []byte(`"items":[]`)) {
				t.Errorf("agent, all orders: %d %s", code, raw)
			}
			if code, _ := in.call(tok, "POST", "/analytics/recompute", ""); code != 403 {
				t.Errorf("agent recompute: %d", code)
			}
			in.ok("PATCH", fmt.Sprintf("/customers/%d", id), fmt.Sprintf(`{"owner_staff_id":%v}`, staff["id"]), 200)
			if code, raw := in.call(tok, "GET", fmt.Sprintf("/customers/%d/orders", id), ""); code != 200 || bytes.Count(raw, []byte(`"customer_id"`)) != 3 {
				t.Errorf("agent, own customer's orders: %d %s", code, raw)
			}
		})
	}
}

func TestAnalyticsCommand(t *testing.T) {
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"analytics", "recompute", "-h"}, &stdout, io.Discard); err != nil || !strings.Contains(stdout.String(), "usage: rapport analytics recompute") {
		t.Errorf("-h: %v %s", err, stdout.String())
	}
	for _, args := range [][]string{{"analytics"}, {"analytics", "recount"}, {"analytics", "recompute", "now"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); exitCode(err) != 2 {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
