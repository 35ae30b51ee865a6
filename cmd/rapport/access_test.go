package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/rapport-crm/rapport/store"
)

// serveWith runs `rapport serve` on the config until the test ends.
func serveWith(t *testing.T, path, base string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"serve", "-config", path}, &bytes.Buffer{}, &bytes.Buffer{}) }()
	waitReady(t, base, errc)
	return func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

func apiAs(t *testing.T, base, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, base+"/api/v1"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// admin.agents_see_all reaches the store, and a new admin.bootstrap_token
// retires the previous one at the next start.
func TestServeAdminSettings(t *testing.T) {
	path, base := writeConfig(t, store.SQLite, "  agents_see_all: true\n")
	const boot = "serve-test-token-0123456789"
	stop := serveWith(t, path, base)
	_, st := apiAs(t, base, boot, "POST", "/staff", `{"name":"Ann","role":"agent"}`)
	_, tok := apiAs(t, base, boot, "POST", "/tokens", fmt.Sprintf(`{"name":"ann","role":"agent","staff_id":%v}`, st["id"]))
	_, c := apiAs(t, base, boot, "POST", "/customers", `{"name":"Li"}`)
	if code, out := apiAs(t, base, tok["token"].(string), "GET", fmt.Sprintf("/customers/%v", c["id"]), ""); code != 200 {
		t.Errorf("agent with agents_see_all: %d %v", code, out)
	}
	stop()

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(b), boot, "rotated-serve-token-9876543210", 1)
	y = strings.Replace(y, "agents_see_all: true", "agents_see_all: false", 1)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	stop = serveWith(t, path, base)
	defer stop()
	if code, _ := apiAs(t, base, boot, "GET", "/customers", ""); code != 401 {
		t.Errorf("previous bootstrap token after rotation: %d", code)
	}
	if code, _ := apiAs(t, base, "rotated-serve-token-9876543210", "GET", "/customers", ""); code != 200 {
		t.Errorf("new bootstrap token: %d", code)
	}
	if code, _ := apiAs(t, base, tok["token"].(string), "GET", fmt.Sprintf("/customers/%v", c["id"]), ""); code != 404 {
		t.Errorf("agent without agents_see_all: %d", code)
	}
}
