package web_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/web"
	"github.com/rapport-crm/rapport/web/openapitest"
)

// The loyalty loop over the API, as its description says (Conform): a
// manager tops a customer up with a reason, adds a reward, redeems it on
// their behalf; the voucher is used once; points are not PATCHed.
func TestPointsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.EnsureToken(ctx, "bootstrap", adminToken, store.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(openapitest.Conform(t, web.New(web.Deps{Store: s})))
		t.Cleanup(srv.Close)
		admin := client{t, srv, adminToken}
		code, c := admin.do("POST", "/api/v1/customers", `{"name":"王芳"}`)
		if code != 201 {
			t.Fatalf("create: %d %v", code, c)
		}
		id := int64(c["id"].(float64))
		cust := fmt.Sprintf("/api/v1/customers/%d", id)
		if code, out := admin.do("PATCH", cust, `{"points":500}`); code != 422 || errCode(out) != "invalid" {
			t.Fatalf("PATCH points: %d %v", code, out)
		}
		for _, bad := range []string{`{"points":0,"reason":"x"}`, `{"points":5}`} {
			if code, _ := admin.do("POST", cust+"/points/adjustments", bad); code != 422 {
				t.Errorf("adjust %s: %d, want 422", bad, code)
			}
		}
		if code, out := admin.do("POST", cust+"/points/adjustments", `{"points":250,"reason":"开业礼"}`); code != 201 || out["kind"] != "adjust" {
			t.Fatalf("adjust: %d %v", code, out)
		}
		code, rw := admin.do("POST", "/api/v1/rewards", `{"name":"维修券","points":200,"value":50,"kind":"repair","valid_days":60,"stock":5}`)
		if code != 201 || rw["kind"] != "repair" || rw["value"] != 50.0 {
			t.Fatalf("reward: %d %v", code, rw)
		}
		rid := int64(rw["id"].(float64))
		if code, out := admin.do("PATCH", fmt.Sprintf("/api/v1/rewards/%d", rid), `{"valid_days":0}`); code != 422 {
			t.Fatalf("patch reward: %d %v", code, out)
		}
		if code, out := admin.do("GET", "/api/v1/rewards?active=true", ""); code != 200 || len(out["items"].([]any)) != 1 {
			t.Fatalf("rewards: %d %v", code, out)
		}
		code, v := admin.do("POST", cust+"/redemptions", fmt.Sprintf(`{"reward_id":%d}`, rid))
		if code != 201 || v["status"] != "unused" || v["value"] != 50.0 {
			t.Fatalf("redeem: %d %v", code, v)
		}
		if code, out := admin.do("POST", cust+"/redemptions", fmt.Sprintf(`{"reward_id":%d}`, rid)); code != 409 {
			t.Fatalf("redeem without points: %d %v", code, out)
		}
		code, pts := admin.do("GET", cust+"/points", "")
		if code != 200 || pts["balance"] != 50.0 || len(pts["items"].([]any)) != 2 {
			t.Fatalf("points: %d %v", code, pts)
		}
		use := fmt.Sprintf("/api/v1/vouchers/%s/use", v["code"])
		if code, out := admin.do("POST", use, `{}`); code != 200 || out["status"] != "used" {
			t.Fatalf("use: %d %v", code, out)
		}
		if code, out := admin.do("POST", use, ""); code != 409 {
			t.Fatalf("use twice: %d %v", code, out)
		}
		if code, out := admin.do("GET", cust+"/vouchers?unused=true", ""); code != 200 || len(out["items"].([]any)) != 0 {
			t.Fatalf("vouchers: %d %v", code, out)
		}
		if code, _ := admin.do("POST", "/api/v1/vouchers/NOSUCHCODE/use", ""); code != 404 {
			t.Fatalf("unknown voucher: %d", code)
		}
	})
}
