package web

import (
	"net/http"
	"strconv"

	"github.com/rapport-crm/rapport/store"
)

// careRoutes mounts the care endpoints: runs, and what care reads and
// writes through the store (assets, orders, survey answers; their dates
// are in the business zone, Deps.Location).
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
	if s.Care == nil {
		return store.Errorf(store.EUNAVAILABLE, "care service unavailable")
	}
	var in careRunRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Workflow == "" {
		return store.Invalid("workflow", "required")
	}
	date, err := s.date("date", in.Date)
	if err != nil {
		return err
	}
	run, err := s.Care.Run(r.Context(), in.Workflow, date, in.DryRun, in.Force)
	return respond(w, http.StatusOK, run, err)
}

func (s *Server) handleCareRuns(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	runs, next, err := s.Store.ListCareRuns(r.Context(), store.CareRunFilter{Workflow: q.Get("workflow"), Date: q.Get("date"), Page: p})
	return respondList(w, runs, next, err)
}

func (s *Server) handleCareRunGet(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	run, err := s.Store.CareRunByID(r.Context(), id)
	return respond(w, http.StatusOK, run, err)
}

func (s *Server) handleAssetCreate(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in store.AssetInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := s.Store.CreateAsset(r.Context(), id, in, s.Location)
	if err != nil {
		return err
	}
	return respond(w, http.StatusCreated, assetJSON(a), nil)
}

func (s *Server) handleAssets(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	as, err := s.Store.ListAssetsFor(r.Context(), store.ActorOf(p), id)
	out := make([]any, len(as))
	for i, a := range as {
		out[i] = assetJSON(a)
	}
	return respondList(w, out, "", err)
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

// handleOrderCreate records an order; a service order moves its asset's
// due date.
func (s *Server) handleOrderCreate(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	var in store.OrderInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	o, err := s.Store.CreateOrder(r.Context(), in, s.Location)
	return respond(w, http.StatusCreated, o, err)
}

// surveyFilter reads the survey answers a request selects (from, to,
// channel), as the caller may see them.
func (s *Server) surveyFilter(r *http.Request, by *store.Principal) (store.SurveyFilter, error) {
	from, to, err := s.dateRange(r)
	viewer := store.ActorOf(by)
	return store.SurveyFilter{From: from, To: to, Channel: r.URL.Query().Get("channel"), Viewer: &viewer}, err
}

func (s *Server) handleSurveyResponses(w http.ResponseWriter, r *http.Request, by *store.Principal) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	f, err := s.surveyFilter(r, by)
	if err != nil {
		return err
	}
	f.Page = p
	if v := r.URL.Query().Get("customer_id"); v != "" {
		if f.CustomerID, err = strconv.ParseInt(v, 10, 64); err != nil {
			return store.Invalid("customer_id", "%q is not an id", v)
		}
	}
	items, next, err := s.Store.ListSurveyResponses(r.Context(), f)
	return respondList(w, items, next, err)
}

// handleSurveySummary is CSAT and score counts of the answers the caller
// may see (an agent: their customers'), overall, per channel and period.
func (s *Server) handleSurveySummary(w http.ResponseWriter, r *http.Request, by *store.Principal) error {
	f, err := s.surveyFilter(r, by)
	if err != nil {
		return err
	}
	sum, err := s.Store.SummarizeSurveys(r.Context(), f, r.URL.Query().Get("period"), s.Location)
	return respond(w, http.StatusOK, sum, err)
}
