package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// CareDesk is the rest of the care service the API needs: asset and order
// recording (their dates are in the business zone) and the survey summary.
// cmd wires a care.Service as Deps.Care, which implements it too.
type CareDesk interface {
	CareRunner
	CreateAsset(ctx context.Context, customerID int64, in store.AssetInput) (*store.Asset, error)
	CreateOrder(ctx context.Context, in store.OrderInput) (*store.Order, error)
	// SurveySummaryJSON returns a JSON-encodable summary of survey answers
	// answered in [from, to) (zero = open), per channel and period.
	SurveySummaryJSON(ctx context.Context, from, to time.Time, channel, period string) (any, error)
	ParseDate(v string) (time.Time, error)
}

// careRoutes mounts the care endpoints.
func (s *Server) careRoutes() {
	managers := []store.Role{store.RoleAdmin, store.RoleManager}
	s.api("POST /care/runs", s.handleCareRun, managers...)
	s.api("GET /care/runs", s.handleCareRuns)
	s.api("GET /care/runs/{id}", s.handleCareRunGet)
	s.api("POST /customers/{id}/assets", s.handleAssetCreate, managers...)
	s.api("GET /customers/{id}/assets", s.handleAssets)
	s.api("POST /orders", s.handleOrderCreate, managers...)
	s.api("GET /surveys/responses", s.handleSurveyResponses)
	s.api("GET /surveys/summary", s.handleSurveySummary)
}

func (s *Server) careDesk() (CareDesk, error) {
	d, ok := s.Care.(CareDesk)
	if s.Care == nil || !ok {
		return nil, errUnavailable
	}
	return d, nil
}

// errUnavailable answers 503 for a service that is not wired.
var errUnavailable = unavailable{}

type unavailable struct{}

func (unavailable) Error() string { return "care service unavailable" }

func writeCareError(w http.ResponseWriter, err error) error {
	if err == errUnavailable {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{"code": "unavailable", "message": err.Error()}})
		return nil
	}
	return err
}

type careRunRequest struct {
	Workflow string `json:"workflow"`
	Date     string `json:"date"`
	DryRun   bool   `json:"dry_run"`
	// Force runs a date after today for real (refused otherwise).
	Force bool `json:"force"`
}

// handleCareRun runs a workflow for a date now. A (workflow, date) that
// already ran answers its existing run (same id, nothing sent again); a
// date after today needs "dry_run" or "force".
func (s *Server) handleCareRun(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	desk, err := s.careDesk()
	if err != nil {
		return writeCareError(w, err)
	}
	var in careRunRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Workflow == "" {
		return store.Invalid("workflow", "required")
	}
	date, err := dateParam(desk, "date", in.Date)
	if err != nil {
		return err
	}
	run, err := desk.Run(r.Context(), in.Workflow, date, in.DryRun, in.Force)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *Server) handleCareRuns(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	runs, next, err := s.Store.ListCareRuns(r.Context(), store.CareRunFilter{Workflow: q.Get("workflow"), Date: q.Get("date"), Page: p})
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []*store.CareRun{}
	}
	writeJSON(w, http.StatusOK, list[*store.CareRun]{Items: runs, NextCursor: next})
	return nil
}

func (s *Server) handleCareRunGet(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	run, err := s.Store.CareRunByID(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *Server) handleAssetCreate(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	desk, err := s.careDesk()
	if err != nil {
		return writeCareError(w, err)
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in store.AssetInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := desk.CreateAsset(r.Context(), id, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, assetJSON(a))
	return nil
}

func (s *Server) handleAssets(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	as, err := s.Store.ListAssetsFor(r.Context(), store.ActorOf(p), id)
	if err != nil {
		return err
	}
	out := make([]any, len(as))
	for i, a := range as {
		out[i] = assetJSON(a)
	}
	writeJSON(w, http.StatusOK, list[any]{Items: out})
	return nil
}

// assetJSON renders next_service_due as a date, per the contract.
func assetJSON(a *store.Asset) any {
	due := ""
	if a.NextServiceDue != nil {
		due = a.NextServiceDue.Format("2006-01-02")
	}
	return struct {
		*store.Asset
		NextServiceDue string `json:"next_service_due"`
	}{a, due}
}

func (s *Server) handleOrderCreate(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	desk, err := s.careDesk()
	if err != nil {
		return writeCareError(w, err)
	}
	var in store.OrderInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	o, err := desk.CreateOrder(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, o)
	return nil
}

// dateParam reads a business date (YYYY-MM-DD) within the years the
// domain takes (a year like 0001 or 9999 is a 422, not a database error).
func dateParam(desk CareDesk, field, v string) (time.Time, error) {
	d, err := desk.ParseDate(v)
	if err != nil {
		return d, store.Invalid(field, "%q is not YYYY-MM-DD", v)
	}
	return d, store.CheckTime(field, d)
}

// rangeQuery reads from= and to= (YYYY-MM-DD, business dates; to is
// inclusive) as [from, to+1 day).
func rangeQuery(desk CareDesk, r *http.Request) (from, to time.Time, err error) {
	q := r.URL.Query()
	if v := q.Get("from"); v != "" {
		if from, err = dateParam(desk, "from", v); err != nil {
			return from, to, err
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = dateParam(desk, "to", v); err != nil {
			return from, to, err
		}
		to = to.AddDate(0, 0, 1)
	}
	return from, to, nil
}

func (s *Server) handleSurveyResponses(w http.ResponseWriter, r *http.Request, by *store.Principal) error {
	desk, err := s.careDesk()
	if err != nil {
		return writeCareError(w, err)
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	from, to, err := rangeQuery(desk, r)
	if err != nil {
		return err
	}
	viewer := store.ActorOf(by)
	f := store.SurveyFilter{From: from, To: to, Channel: r.URL.Query().Get("channel"), Viewer: &viewer, Page: p}
	if v := r.URL.Query().Get("customer_id"); v != "" {
		if f.CustomerID, err = strconv.ParseInt(v, 10, 64); err != nil {
			return store.Invalid("customer_id", "%q is not an id", v)
		}
	}
	items, next, err := s.Store.ListSurveyResponses(r.Context(), f)
	if err != nil {
		return err
	}
	if items == nil {
		items = []store.SurveyResponse{}
	}
	writeJSON(w, http.StatusOK, list[store.SurveyResponse]{Items: items, NextCursor: next})
	return nil
}

func (s *Server) handleSurveySummary(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	desk, err := s.careDesk()
	if err != nil {
		return writeCareError(w, err)
	}
	from, to, err := rangeQuery(desk, r)
	if err != nil {
		return err
	}
	sum, err := desk.SurveySummaryJSON(r.Context(), from, to, r.URL.Query().Get("channel"), r.URL.Query().Get("period"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sum)
	return nil
}
