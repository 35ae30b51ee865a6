package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// CareSchedule tells when the enabled care workflows run next; cmd wires
// the care service's schedule.
type CareSchedule interface {
	NextRuns(after time.Time) []ScheduledRun
}

// ScheduledRun is a care workflow's next scheduled run.
type ScheduledRun struct {
	Workflow string    `json:"workflow"`
	Schedule string    `json:"schedule"`
	At       time.Time `json:"at"`
	Date     string    `json:"date"`
}

func (s *Server) handleCareSchedule(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	if s.Schedule == nil {
		return writeCareError(w, errUnavailable)
	}
	runs := s.Schedule.NextRuns(s.Store.Now())
	if runs == nil {
		runs = []ScheduledRun{}
	}
	writeJSON(w, http.StatusOK, list[ScheduledRun]{Items: runs})
	return nil
}

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
	dates := []param{
		query("from", "First business date (YYYY-MM-DD).", schema{"type": "string", "format": "date"}),
		query("to", "Last business date, inclusive.", schema{"type": "string", "format": "date"}),
	}
	s.api("POST /care/runs", s.handleCareRun, managers...).doc(op{
		Summary: "Run a care workflow for a date now",
		Description: "A (workflow, date) that ran before picks up customers who became due since and sends nobody " +
			"anything twice; one running elsewhere answers that run. `dry_run` plans and renders without queueing " +
			"(`would_queue`, `sample`). A date after today is 422 naming `date` for a real run unless `force`.",
		In:     careRunRequest{},
		Out:    store.CareRun{},
		Errors: []int{http.StatusServiceUnavailable},
	})
	s.api("GET /care/runs", s.handleCareRuns).doc(op{
		Summary: "Care runs, newest first",
		Query: []param{
			query("workflow", "", ref("Workflow")),
			query("date", "", schema{"type": "string", "format": "date"}),
		},
		Paged: true,
		Out:   list[*store.CareRun]{},
	})
	s.api("GET /care/runs/{id}", s.handleCareRunGet).doc(op{
		Summary:     "One care run",
		Description: "Its outcome: `planned`, `queued`, `skipped` with `skip_reasons` (reason → count), `tasks`, `failed`, `duplicates`, `error`.",
		Out:         store.CareRun{},
	})
	s.api("GET /care/schedule", s.handleCareSchedule).doc(op{
		Summary: "When each enabled care workflow runs next",
		Description: "From the `care:` cron specs, in the business time zone (`at` carries its offset, `date` is the business " +
			"date the run is for), soonest first.",
		Out:    list[ScheduledRun]{},
		Errors: []int{http.StatusServiceUnavailable},
	})
	s.api("POST /customers/{id}/assets", s.handleAssetCreate, managers...).doc(op{
		Summary: "Record a serviced item",
		Description: "`{\"name\", \"last_service_at\", \"service_interval_days\"}` (the next due date follows) or " +
			"`{\"name\", \"next_service_due\": \"YYYY-MM-DD\"}`; the maintenance workflow reminds the customer.",
		In:     store.AssetInput{},
		Out:    assetView{},
		Status: http.StatusCreated,
		Errors: []int{http.StatusServiceUnavailable},
	})
	s.api("GET /customers/{id}/assets", s.handleAssets).doc(op{
		Summary:     "A customer's serviced items",
		Description: "All of them in one page.",
		Out:         list[assetView]{},
	})
	s.api("POST /orders", s.handleOrderCreate, managers...).doc(op{
		Summary: "Record an order",
		Description: "`amount` 0 to 999,999,999,999.99; `occurred_at` default now; `asset_id` only on a service order. " +
			"An `order_ref` already stored answers the stored order; the same `order_ref` with another customer, " +
			"kind or amount is 409. An unknown customer is 404.",
		In:     store.OrderInput{},
		Out:    store.Order{},
		Status: http.StatusCreated,
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	})
	s.api("GET /surveys/responses", s.handleSurveyResponses).doc(op{
		Summary: "Survey answers, newest first",
		Query: append(slices.Clone(dates),
			query("channel", "", ref("Channel")),
			query("customer_id", "", schema{"type": "integer", "format": "int64"})),
		Paged:  true,
		Out:    list[store.SurveyResponse]{},
		Errors: []int{http.StatusServiceUnavailable},
	})
	s.api("GET /surveys/summary", s.handleSurveySummary).doc(op{
		Summary:     "Score counts and CSAT",
		Description: "Over all answers, for every role. `csat` is the share of 4s and 5s; in the answer `to` is the first day after the range.",
		Query: append(slices.Clone(dates),
			query("channel", "", ref("Channel")),
			query("period", "How `periods` group (default day).", enum("day", "week", "month"))),
		Out:    surveySummarySchema(),
		Errors: []int{http.StatusServiceUnavailable},
	})
}

// surveySummarySchema is the answer of GET /surveys/summary, made by the
// care service (web does not import care, so it is written out here).
func surveySummarySchema() schema {
	tally := func(extra schema) schema {
		props := schema{
			"responses": schema{"type": "integer"},
			"csat":      schema{"type": "number", "minimum": 0, "maximum": 1},
			"scores": schema{"type": "object", "additionalProperties": schema{"type": "integer"},
				"propertyNames": enum("1", "2", "3", "4", "5")},
		}
		required := []string{"responses", "csat", "scores"}
		for k, v := range extra {
			props[k] = v
			required = append(required, k)
		}
		slices.Sort(required)
		return schema{"type": "object", "properties": props, "required": required}
	}
	date := schema{"type": "string", "format": "date"}
	return schema{"type": "object", "required": []string{"period", "total", "channels", "periods"},
		"properties": schema{
			"from":     date,
			"to":       date,
			"period":   enum("day", "week", "month"),
			"total":    tally(nil),
			"channels": schema{"type": "object", "additionalProperties": tally(nil)},
			"periods":  schema{"type": "array", "items": tally(schema{"period": date, "channel": ref("Channel")})},
		}}
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
func (s *Server) handleCareRun(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
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
	s.audit(r, p, "care_run.start", "care_run", run.ID, map[string]any{"workflow": run.Workflow, "date": run.Date,
		"dry_run": in.DryRun, "force": in.Force, "queued": run.Queued})
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
	out := make([]assetView, len(as))
	for i, a := range as {
		out[i] = assetJSON(a)
	}
	writeJSON(w, http.StatusOK, list[assetView]{Items: out})
	return nil
}

// assetView is an asset with next_service_due as a date ("" when none),
// per the contract.
type assetView struct {
	*store.Asset
	NextServiceDue string `json:"next_service_due"`
}

func assetJSON(a *store.Asset) assetView {
	due := ""
	if a.NextServiceDue != nil {
		due = a.NextServiceDue.Format("2006-01-02")
	}
	return assetView{a, due}
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
