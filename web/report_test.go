package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// fakeReports answers one report with one row; refreshes are counted.
type fakeReports struct{ refreshed int }

func (f *fakeReports) Docs() []store.ReportDoc {
	return []store.ReportDoc{{Name: "overview", Summary: "Overview", Description: "The overview."}}
}

func (f *fakeReports) Report(_ context.Context, name, from, to, section string) (*store.ReportAnswer, error) {
	if from == "bad" {
		return nil, store.Invalid("from", "%q is not a date YYYY-MM-DD", from)
	}
	return &store.ReportAnswer{Report: name, From: "2026-12-01", To: "2026-12-31", Sections: []store.ReportSection{
		{Name: "customers", Unit: "count", Rows: []store.ReportRow{{Key: "new", Current: 2, Previous: 1}}}}}, nil
}

func (f *fakeReports) RefreshToday(context.Context) (string, error) {
	f.refreshed++
	return "2026-12-20", nil
}

func fakeCSV(w io.Writer, a *store.ReportAnswer) error {
	_, err := io.WriteString(w, "section,key\n"+a.Sections[0].Name+","+a.Sections[0].Rows[0].Key+"\n")
	return err
}

func TestReportRoutes(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	ctx := t.Context()
	if err := st.EnsureToken(ctx, "admin", "report-admin-token-0123456789", store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	agent, _, err := st.CreateToken(ctx, store.TokenInput{Name: "agent", Role: store.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeReports{}
	srv := httptest.NewServer(New(Deps{Store: st, Reports: f, ReportCSV: fakeCSV}))
	defer srv.Close()
	for _, c := range []struct {
		token, method, path string
		code                int
		ctype, body         string
	}{
		{"report-admin-token-0123456789", "GET", "/reports/overview?from=2026-12-01&to=2026-12-31", 200, "application/json", `"report":"overview"`},
		{"report-admin-token-0123456789", "GET", "/reports/overview?format=csv", 200, "text/csv", "customers,new"},
		{"report-admin-token-0123456789", "GET", "/reports/overview?format=xml", 422, "application/json", `"field":"format"`},
		{"report-admin-token-0123456789", "GET", "/reports/overview?from=bad", 422, "application/json", `"field":"from"`},
		{"report-admin-token-0123456789", "GET", "/reports/nope", 404, "application/json", ""},
		{agent, "GET", "/reports/overview", 403, "application/json", ""},
		{"report-admin-token-0123456789", "POST", "/reports/refresh", 200, "application/json", `"day":"2026-12-20"`},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+"/api/v1"+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) || !strings.Contains(string(b), c.body) {
			t.Errorf("%s %s: %d %s %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
	if f.refreshed != 1 {
		t.Errorf("refreshed %d times", f.refreshed)
	}
}
