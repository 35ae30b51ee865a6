package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/web"
)

type states map[string]string

func (s states) ChannelStates() map[string]string { return s }

// TestReadyNamesChannels: /readyz is about the database; a degraded chat
// channel is named in the body but keeps the answer 200, and a database
// that is down still shows the channels.
func TestReadyNamesChannels(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	ch := states{"telegram": "degraded", "wechat": "ok", "webchat": "ok"}
	srv := httptest.NewServer(web.New(web.Deps{Store: s, Channels: ch}))
	t.Cleanup(srv.Close)
	get := func() (int, map[string]any) {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	want := map[string]any{"status": "ok", "channels": map[string]any{"telegram": "degraded", "wechat": "ok", "webchat": "ok"}}
	if code, body := get(); code != 200 || !cmp.Equal(body, want) {
		t.Fatalf("/readyz = %d %v; want 200 %v", code, body, want)
	}
	s.Close()
	code, body := get()
	if code != http.StatusServiceUnavailable || !strings.Contains(body["status"].(string), "database") || body["channels"] == nil {
		t.Fatalf("/readyz with the database closed = %d %v", code, body)
	}
}

func TestTrustedProxiesConfig(t *testing.T) {
	got, err := web.Config{TrustedProxies: []string{"10.0.0.0/8", "127.0.0.1", "::1/128", "192.168.1.7/24"}}.Proxies()
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, p := range got {
		s = append(s, p.String())
	}
	if want := []string{"10.0.0.0/8", "127.0.0.1/32", "::1/128", "192.168.1.0/24"}; !cmp.Equal(s, want) {
		t.Errorf("proxies = %v; want %v", s, want)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.internal", ""} {
		if _, err := (web.Config{TrustedProxies: []string{"10.0.0.0/8", bad}}).Proxies(); err == nil || !strings.Contains(err.Error(), "http.trusted_proxies[1]") {
			t.Errorf("%q: err = %v; want it to name http.trusted_proxies[1]", bad, err)
		}
	}
}
