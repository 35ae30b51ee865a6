package web

import (
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
		return store.Errorf(store.EUNAVAILABLE, "care schedule unavailable")
	}
	return respondList(w, s.Schedule.NextRuns(s.Store.Now()), "", nil)
}

// careRoutes mounts the care endpoints: runs, and what care reads and
// writes through the store (assets, orders, survey answers; their dates
// are in the business zone, Deps.Location).
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
		Description: "`amount` exact to the fen (a number or a string, at most two decimals), -999,999,999,999.99 to " +
			"999,999,999,999.99, negative for a refund; `items` optional lines; `occurred_at` default now; `asset_id` only on a service order. " +
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
	if err != nil {
		return err
	}
	s.audit(r, p, "care_run.start", "care_run", run.ID, map[string]any{"workflow": run.Workflow, "date": run.Date,
		"dry_run": in.DryRun, "force": in.Force, "queued": run.Queued})
	return respond(w, http.StatusOK, run, nil)
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
	out := make([]assetView, len(as))
	for i, a := range as {
		out[i] = assetJSON(a)
	}
	return respondList(w, out, "", err)
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
