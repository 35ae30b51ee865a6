package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/analytics"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/web"
	"github.com/rapport-crm/rapport/web/openapitest"
)

// The intelligence routes, with the analytics service wired as cmd wires
// it, answer as their OpenAPI description says (Conform): orders exact to
// the fen, the stage history, recompute, the figure filters and pins.
func TestIntelligenceAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.EnsureToken(ctx, "bootstrap", adminToken, store.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		svc, err := analytics.New(analytics.DefaultConfig(), analytics.Options{Store: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		s.OnFigures(svc.Figures)
		srv := httptest.NewServer(openapitest.Conform(t, web.New(web.Deps{Store: s, Analytics: svc})))
		t.Cleanup(srv.Close)
		admin := client{t, srv, adminToken}
		code, c := admin.do("POST", "/api/v1/customers", `{"name":"王芳","city":"杭州","region":"浙江"}`)
		if code != 201 || c["city"] != "杭州" || c["stage"] != "potential" || c["tier_pinned"] != false {
			t.Fatalf("create: %d %v", code, c)
		}
		id := int64(c["id"].(float64))
		// Orders straight into the store (POST /orders is care's desk).
		at := time.Now().Add(-48 * time.Hour)
		for _, a := range []string{"1280.5", "0.29", "-80.5"} {
			m, _ := store.ParseMoney("amount", a)
			if _, err := s.CreateOrder(ctx, store.OrderInput{CustomerID: id, Kind: store.OrderPurchase, Amount: m, OccurredAt: &at, OrderRef: "R" + a}, time.UTC); err != nil {
				t.Fatal(err)
			}
		}
		raw := func(path string) string {
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		got := raw(fmt.Sprintf("/api/v1/customers/%d/orders", id))
		for _, want := range []string{`"amount":1280.50`, `"amount":0.29`, `"amount":-80.50`, `"order_ref":"R0.29"`, `"items":[]`} {
			if !strings.Contains(got, want) {
				t.Errorf("orders lack %s: %s", want, got)
			}
		}
		if got := raw(fmt.Sprintf("/api/v1/customers/%d", id)); !strings.Contains(got, `"spend":1200.29`) || !strings.Contains(got, `"stage":"new"`) {
			t.Errorf("customer after the orders: %s", got)
		}
		if code, out := admin.do("GET", fmt.Sprintf("/api/v1/orders?customer_id=%d&kind=purchase&from=%s", id, at.Format(time.DateOnly)), ""); code != 200 || len(out["items"].([]any)) != 3 {
			t.Errorf("GET /orders: %d %v", code, out)
		}
		for path, field := range map[string]string{
			"/api/v1/orders?kind=gift":                  "kind",
			"/api/v1/orders?to=2027-13-01":              "to",
			"/api/v1/customers?rfm_segment=vip":         "rfm_segment",
			"/api/v1/customers?churn_risk_min=-1":       "churn_risk_min",
			"/api/v1/customers?clv_min=1e9":             "clv_min",
			"/api/v1/customers?last_order_after=sunday": "last_order_after",
		} {
			code, out := admin.do("GET", path, "")
			if e, _ := out["error"].(map[string]any); code != 422 || e["field"] != field {
				t.Errorf("%s: %d %v, want 422 naming %s", path, code, out, field)
			}
		}
		if code, out := admin.do("POST", "/api/v1/analytics/recompute", ""); code != 200 || out["customers"] != 1.0 {
			t.Errorf("recompute: %d %v", code, out)
		}
		if code, out := admin.do("GET", "/api/v1/customers?city=杭州&tier=a&churn_risk_min=0&clv_min=100", ""); code != 200 || len(out["items"].([]any)) != 1 {
			t.Errorf("filters: %d %v", code, out)
		}
		if code, out := admin.do("PATCH", fmt.Sprintf("/api/v1/customers/%d", id), `{"stage":"churned"}`); code != 200 || out["stage_pinned"] != true {
			t.Errorf("pin: %d %v", code, out)
		}
		if code, out := admin.do("PATCH", fmt.Sprintf("/api/v1/customers/%d", id), `{"stage":null}`); code != 200 || out["stage"] != "new" || out["stage_pinned"] != false {
			t.Errorf("unpin: %d %v", code, out)
		}
		if code, out := admin.do("PATCH", fmt.Sprintf("/api/v1/customers/%d", id), `{"stage":7}`); code != 400 {
			t.Errorf("a number for a stage: %d %v", code, out)
		}
		code, out := admin.do("GET", fmt.Sprintf("/api/v1/customers/%d/stages", id), "")
		items, _ := out["items"].([]any)
		if code != 200 || len(items) != 3 || items[0].(map[string]any)["reason"] != "first order" {
			t.Errorf("stages: %d %v", code, out)
		}
		// Without analytics wired, recompute is 503.
		bare := httptest.NewServer(openapitest.Conform(t, web.New(web.Deps{Store: s})))
		t.Cleanup(bare.Close)
		if code, _ := (client{t, bare, adminToken}).do("POST", "/api/v1/analytics/recompute", ""); code != 503 {
			t.Errorf("recompute without analytics: %d", code)
		}
	})
}
