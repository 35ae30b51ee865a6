package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/rapport-crm/rapport/store"
)

// Reports answers the managers' reports; cmd wires a *report.Service.
type Reports interface {
	Docs() []store.ReportDoc
	Report(ctx context.Context, name, from, to, section string) (*store.ReportAnswer, error)
	// RefreshToday recomputes today's figures now and returns the day.
	RefreshToday(ctx context.Context) (string, error)
}

// ReportCSV writes a report as CSV (report.WriteCSV).
type ReportCSV func(w io.Writer, a *store.ReportAnswer) error

// reportRoutes mounts GET /reports/NAME for each report there is.
func (s *Server) reportRoutes() {
	if s.Reports == nil {
		return
	}
	managers := []store.Role{store.RoleAdmin, store.RoleManager}
	s.api("POST /reports/refresh", s.refreshReports, managers...).doc(op{
		Summary: "Recompute today's report figures now",
		Description: "Today's figures are otherwise recomputed every reports.refresh (5 minutes); past days nightly. " +
			"Takes no body; answers the business day recomputed.",
		Out: refreshed{},
	})
	for _, d := range s.Reports.Docs() {
		s.api("GET /reports/"+d.Name, s.getReport(d.Name), managers...).doc(op{
			Summary: d.Summary,
			Description: d.Description + " Each section holds rows (key, label, current, previous) in its unit: count, fen " +
				"(exact money), bp (a share in basis points), minutes or points; a section with `now` holds a current figure " +
				"(previous 0). `?format=csv` answers the same as text/csv: " +
				"section,key,label,current,previous,unit (money in yuan, shares in percent), with a byte order mark.",
			Query: []param{
				query("from", "The period's first business day, YYYY-MM-DD (default: 29 days before to).", schema{"type": "string", "format": "date"}),
				query("to", "The period's last business day, inclusive (default: today). At most 366 days.", schema{"type": "string", "format": "date"}),
				query("section", "Only this section (a chart's export).", schema{"type": "string"}),
				query("format", "json (default) or csv.", schema{"type": "string", "enum": []string{"json", "csv"}}),
			},
			Out: store.ReportAnswer{},
		})
	}
}

func (s *Server) getReport(name string) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
		q := r.URL.Query()
		format := q.Get("format")
		if format != "" && format != "json" && format != "csv" {
			return store.Invalid("format", "%q is not json or csv", format)
		}
		section := q.Get("section")
		if len(section) > 64 {
			return store.Invalid("section", "too long")
		}
		a, err := s.Reports.Report(r.Context(), name, q.Get("from"), q.Get("to"), section)
		if err != nil {
			return err
		}
		if format != "csv" {
			writeJSON(w, http.StatusOK, a)
			return nil
		}
		file := strings.Trim(strings.Join([]string{"report", name, section, a.From, a.To}, "-"), "-")
		file = strings.ReplaceAll(file, "--", "-")
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.csv"`, strings.ReplaceAll(file, ".", "_")))
		return s.ReportCSV(w, a)
	}
}

// refreshed answers POST /reports/refresh.
type refreshed struct {
	Day string `json:"day"`
}

func (s *Server) refreshReports(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	day, err := s.Reports.RefreshToday(r.Context())
	if err != nil {
		return err
	}
	s.audit(r, p, "reports.refresh", "report_day", day, nil)
	writeJSON(w, http.StatusOK, refreshed{Day: day})
	return nil
}
