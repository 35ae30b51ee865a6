package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func TestConsoleServed(t *testing.T) {
	srv := newServer(t, storetest.Open(t, store.SQLite))
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/console/" || !strings.Contains(string(b), "Rapport console") {
		t.Errorf("GET / -> %d %s", resp.StatusCode, resp.Request.URL.Path)
	}
}
