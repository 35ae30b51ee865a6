package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/importer"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/web"
	"github.com/rapport-crm/rapport/web/openapitest"
)

// importServer is a server whose imports run in the background.
func importServer(t *testing.T, s *store.Store, limit int64) *httptest.Server {
	t.Helper()
	if err := s.EnsureToken(context.Background(), "bootstrap", adminToken, store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	jobs := importer.NewJobs(s, importer.JobOptions{Dir: t.TempDir(), Beat: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- jobs.Run(ctx) }()
	srv := httptest.NewServer(openapitest.Conform(t, web.New(web.Deps{Store: s, Imports: jobs, ImportLimit: limit})))
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
	})
	return srv
}

// upload posts a file as the console does.
func upload(t *testing.T, srv *httptest.Server, token, query, contentType, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/imports"+query, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

// TestImportAPI: a manager uploads a CSV, watches the job to its end and
// downloads its bad rows; agents may not; malformed uploads are refused
// with what is wrong.
func TestImportAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv := importServer(t, s, 4096)
		meg := client{t, srv, tokenFor(t, s, store.RoleManager, nil)}
		agentTok := tokenFor(t, s, store.RoleAgent, nil)

		csv := "name,phone,birthday\n甲,13800000001,1990-01-02\n乙,13800000002,1990-02-30\n丙,13800000003,\n"
		code, job, _ := upload(t, srv, meg.token, "?kind=customers&skip_bad_rows=1&file_name=team.csv", "text/csv", csv)
		if code != 202 || job["status"] != "queued" || job["rows_total"] != float64(3) || job["file_name"] != "team.csv" || job["skip_bad_rows"] != true {
			t.Fatalf("upload: %d %v", code, job)
		}
		id := int64(job["id"].(float64))
		deadline := time.Now().Add(20 * time.Second)
		for job["status"] != "done" && job["status"] != "failed" {
			if time.Now().After(deadline) {
				t.Fatalf("job stuck: %v", job)
			}
			time.Sleep(20 * time.Millisecond)
			_, job = meg.do("GET", pathf("/api/v1/imports/%d", id), "")
		}
		if job["status"] != "done" || job["written"] != float64(2) || job["bad_rows"] != float64(1) || job["rows_done"] != float64(3) {
			t.Errorf("ended: %v", job)
		}
		_, l := meg.do("GET", "/api/v1/imports", "")
		if items := l["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != float64(id) {
			t.Errorf("list: %v", l)
		}

		req, _ := http.NewRequest("GET", srv.URL+pathf("/api/v1/imports/%d/bad-rows.csv", id), nil)
		req.Header.Set("Authorization", "Bearer "+meg.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "\ufeffline,reason\n3,\"birthday: \"\"1990-02-30\"\" is not a calendar date\"\n"
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") || string(body) != want {
			t.Errorf("bad rows: %d %v %q", resp.StatusCode, resp.Header, body)
		}

		for _, c := range []struct {
			name, token, query, ctype, body string
			code                            int
			field                           string
		}{
			{"agent", agentTok, "?kind=customers", "text/csv", csv, 403, ""},
			{"no kind", meg.token, "", "text/csv", csv, 422, "kind"},
			{"bad skip", meg.token, "?kind=orders&skip_bad_rows=maybe", "text/csv", csv, 422, "skip_bad_rows"},
			{"a form", meg.token, "?kind=orders", "multipart/form-data; boundary=x", csv, 400, ""},
			{"empty", meg.token, "?kind=orders", "text/csv", "", 422, "file"},
			{"too big", meg.token, "?kind=orders", "text/csv", "customer_phone\n" + strings.Repeat("13800000001\n", 400), 413, ""},
		} {
			code, out, _ := upload(t, srv, c.token, c.query, c.ctype, c.body)
			e, _ := out["error"].(map[string]any)
			if code != c.code || (c.field != "" && e["field"] != c.field) {
				t.Errorf("%s: %d %v, want %d %s", c.name, code, out, c.code, c.field)
			}
		}
		agent := client{t, srv, agentTok}
		for _, p := range []string{"/api/v1/imports", pathf("/api/v1/imports/%d", id), pathf("/api/v1/imports/%d/bad-rows.csv", id)} {
			if code, _ := agent.do("GET", p, ""); code != 403 {
				t.Errorf("agent GET %s: %d", p, code)
			}
		}
		if code, _ := meg.do("GET", "/api/v1/imports/999", ""); code != 404 {
			t.Errorf("unknown job: %d", code)
		}
		_, got := meg.do("GET", "/api/v1/audit?action=import", "")
		if items := got["items"].([]any); len(items) != 1 || items[0].(map[string]any)["subject_id"] != fmt.Sprint(id) {
			t.Errorf("audit: %v", got)
		}
	})
}

// TestImportAPIUnwired: without an import runner the route answers 503.
func TestImportAPIUnwired(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	srv := newServer(t, s)
	code, out, hdr := upload(t, srv, adminToken, "?kind=customers", "text/csv", "name\nx\n")
	if code != 503 || hdr.Get("Retry-After") == "" || errCode(out) != "unavailable" {
		t.Errorf("unwired: %d %v", code, out)
	}
}
