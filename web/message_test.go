package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func TestMessagesAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		admin := client{t, newServer(t, s), adminToken}
		id, err := s.ResolveIdentity(ctx, store.Contact{Channel: "telegram", ExternalID: "501", DisplayName: "Mia"})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, _, err := s.RecordInbound(ctx, id, store.Inbound{Channel: "telegram", DedupKey: fmt.Sprint("u", i), ChatID: "501", Text: fmt.Sprint("问题 ", i)}); err != nil {
				t.Fatal(err)
			}
		}
		base := fmt.Sprintf("/api/v1/customers/%d/messages", id.CustomerID)
		code, out := admin.do("POST", base, `{"text":"您好，马上为您处理 🙂"}`)
		if code != http.StatusCreated || out["status"] != "queued" || out["direction"] != "out" || out["channel"] != "telegram" {
			t.Fatalf("send: %d %v", code, out)
		}

		// The conversation, oldest first, two per page.
		var got []string
		cursor := ""
		for range 5 {
			code, out := admin.do("GET", base+"?limit=2&cursor="+cursor, "")
			if code != 200 {
				t.Fatalf("list: %d %v", code, out)
			}
			for _, it := range out["items"].([]any) {
				m := it.(map[string]any)
				got = append(got, fmt.Sprint(m["direction"], ":", m["text"], ":", m["status"]))
			}
			if cursor = out["next_cursor"].(string); cursor == "" {
				break
			}
		}
		want := []string{"in:问题 0:received", "in:问题 1:received", "in:问题 2:received", "out:您好，马上为您处理 🙂:queued"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("conversation = %v, want %v", got, want)
		}

		lonely, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("No Chat")})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name, method, path, body string
			want                     int
		}{
			{"no identity", "POST", fmt.Sprintf("/api/v1/customers/%d/messages", lonely.ID), `{"text":"hi"}`, 422},
			{"empty text", "POST", base, `{"text":"  "}`, 422},
			{"unknown field", "POST", base, `{"txt":"hi"}`, 400},
			{"unknown customer", "POST", "/api/v1/customers/99999/messages", `{"text":"hi"}`, 404},
			{"unknown customer list", "GET", "/api/v1/customers/99999/messages", "", 404},
		}
		for _, tt := range tests {
			if code, out := admin.do(tt.method, tt.path, tt.body); code != tt.want {
				t.Errorf("%s: %d %v, want %d", tt.name, code, out, tt.want)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }
