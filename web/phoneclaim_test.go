package web_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// Phones through the API: canonical, on record, one customer each (409
// naming phone), and shown as phone_verified.
func TestCustomerPhoneAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		admin := client{t, newServer(t, s), adminToken}
		code, a := admin.do("POST", "/api/v1/customers", `{"name":"A","phone":"+86 138 0013 8000"}`)
		if code != http.StatusCreated || a["phone"] != "+8613800138000" || a["phone_verified"] != true {
			t.Fatalf("create: %d %v", code, a)
		}
		_, b := admin.do("POST", "/api/v1/customers", `{"name":"B"}`)
		tests := []struct {
			name, method, path, body string
			want                     int
		}{
			{"same number, other form", "POST", "/api/v1/customers", `{"name":"C","phone":"138-0013-8000"}`, 409},
			{"full-width digits", "POST", "/api/v1/customers", `{"name":"C","phone":"１３８００１３８０００"}`, 409},
			{"patch to a taken number", "PATCH", pathf("/api/v1/customers/%v", b["id"]), `{"phone":"13800138000"}`, 409},
			{"not a number", "POST", "/api/v1/customers", `{"name":"C","phone":"12345"}`, 422},
		}
		for _, tt := range tests {
			code, out := admin.do(tt.method, tt.path, tt.body)
			e, _ := out["error"].(map[string]any)
			if code != tt.want || e["field"] != "phone" {
				t.Errorf("%s: %d %v, want %d naming phone", tt.name, code, out, tt.want)
			}
		}
		code, got := admin.do("GET", "/api/v1/customers?q=138-0013-8000", "")
		if items := got["items"].([]any); code != 200 || len(items) != 1 {
			t.Errorf("search by another form: %d %v", code, got)
		}
	})
}

func TestPhoneClaimAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		srv := newServer(t, s)
		admin := client{t, srv, adminToken}
		manager := client{t, srv, tokenFor(t, s, store.RoleManager, nil)}
		agent := client{t, srv, tokenFor(t, s, store.RoleAgent, nil)}
		holder, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("李雷"), Phone: ptr("13800138000")})
		if err != nil {
			t.Fatal(err)
		}
		claimant, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("访客")})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.ClaimPhone(ctx, store.PhoneClaimInput{CustomerID: claimant.ID, Phone: "13800138000"})
		if err != nil || res.Claim == nil {
			t.Fatalf("claim %+v, %v", res, err)
		}
		id := res.Claim.ID

		if code, _ := agent.do("GET", "/api/v1/phone-claims", ""); code != http.StatusForbidden {
			t.Errorf("agent lists claims: %d", code)
		}
		if code, _ := agent.do("POST", pathf("/api/v1/phone-claims/%d/approve", id), ""); code != http.StatusForbidden {
			t.Errorf("agent approves: %d", code)
		}
		code, got := manager.do("GET", "/api/v1/phone-claims?status=pending", "")
		items, _ := got["items"].([]any)
		if code != 200 || len(items) != 1 {
			t.Fatalf("pending: %d %v", code, got)
		}
		c := items[0].(map[string]any)
		if c["method"] != "staff" || c["phone"] != "+8613800138000" || c["target_id"] != float64(holder.ID) || c["task_id"] == nil {
			t.Errorf("claim %v", c)
		}
		if code, _ := manager.do("GET", "/api/v1/phone-claims?status=bogus", ""); code != 422 {
			t.Errorf("bad status: %d", code)
		}
		code, got = manager.do("POST", pathf("/api/v1/phone-claims/%d/approve", id), "")
		if code != 200 || got["status"] != "verified" || got["kept_id"] != float64(holder.ID) {
			t.Fatalf("approve: %d %v", code, got)
		}
		for _, p := range []string{"approve", "reject"} {
			if code, out := admin.do("POST", pathf("/api/v1/phone-claims/%d/%s", id, p), ""); code != 409 || errCode(out) != "conflict" {
				t.Errorf("%s a decided claim: %d %v", p, code, out)
			}
		}
		if code, _ := admin.do("POST", "/api/v1/phone-claims/999999/reject", ""); code != 404 {
			t.Errorf("unknown claim: %d", code)
		}
		if code, _ := admin.do("GET", pathf("/api/v1/customers/%d", claimant.ID), ""); code != 404 {
			t.Errorf("claimant after approval: %d", code)
		}
	})
}
