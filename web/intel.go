package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// Recomputer recomputes every customer's figures now; cmd wires an
// *analytics.Service.
type Recomputer interface {
	Recompute(ctx context.Context) (int, error)
}

// intelRoutes mounts the customer intelligence endpoints: orders, stage
// history, recompute.
func (s *Server) intelRoutes() {
	period := []param{
		query("kind", "", ref("OrderKind")),
		query("from", "A business date (YYYY-MM-DD, its start) or an RFC 3339 time.", schema{"type": "string"}),
		query("to", "A business date (inclusive: to its end) or an RFC 3339 time (exclusive).", schema{"type": "string"}),
	}
	s.api("GET /orders", s.listOrders).doc(op{
		Summary:     "List orders, newest first",
		Description: "By occurred_at, then id. An agent sees only the orders of their customers.",
		Query:       append([]param{query("customer_id", "", schema{"type": "integer", "format": "int64"})}, period...),
		Paged:       true,
		Out:         list[*store.Order]{},
	})
	s.api("GET /customers/{id}/orders", s.customerOrders).doc(op{
		Summary: "A customer's orders, newest first",
		Query:   period,
		Paged:   true,
		Out:     list[*store.Order]{},
	})
	s.api("GET /customers/{id}/stages", s.customerStages).doc(op{
		Summary:     "A customer's lifecycle stage changes, oldest first",
		Description: "`from`, `to`, `at`, `reason`; each change once, whoever made it (an order, the nightly run, a pin).",
		Paged:       true,
		Out:         list[*store.CustomerChange]{},
	})
	s.api("POST /analytics/recompute", s.recompute, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Recompute every customer's figures, tier, RFM, CLV, churn risk and stage now",
		Description: "What the nightly run does (pinned tiers and stages stay); answers when done with how many " +
			"customers it went through. Takes no body. 409 while another recompute runs.",
		Out:    recomputed{},
		Errors: []int{http.StatusConflict, http.StatusServiceUnavailable},
	})
}

// recomputed answers POST /analytics/recompute.
type recomputed struct {
	Customers int `json:"customers"`
}

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	by := store.ActorOf(p)
	f := store.OrderFilter{Kind: q.Get("kind"), Viewer: &by, Page: pg}
	if v := q.Get("customer_id"); v != "" {
		if f.CustomerID, err = strconv.ParseInt(v, 10, 64); err != nil || f.CustomerID <= 0 {
			return store.Invalid("customer_id", "%q is not an id", v)
		}
	}
	if f.From, f.To, err = s.timeRange(r); err != nil {
		return err
	}
	os, next, err := s.Store.ListOrders(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*store.Order]{Items: os, NextCursor: next})
	return nil
}

func (s *Server) customerOrders(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	f := store.OrderFilter{CustomerID: id, Kind: r.URL.Query().Get("kind"), Page: pg}
	if f.From, f.To, err = s.timeRange(r); err != nil {
		return err
	}
	os, next, err := s.Store.ListOrdersFor(r.Context(), store.ActorOf(p), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*store.Order]{Items: os, NextCursor: next})
	return nil
}

func (s *Server) customerStages(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	cs, next, err := s.Store.ListStageChangesFor(r.Context(), store.ActorOf(p), id, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*store.CustomerChange]{Items: cs, NextCursor: next})
	return nil
}

// recompute is POST /analytics/recompute: every customer now, answered
// with how many. It takes no body (one sent is not read).
func (s *Server) recompute(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	if s.Analytics == nil {
		return store.Errorf(store.EUNAVAILABLE, "analytics is not running")
	}
	n, err := s.Analytics.Recompute(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, recomputed{Customers: n})
	return nil
}

// when reads a query time: a business date YYYY-MM-DD (its start in the
// business zone) or an RFC 3339 time.
func (s *Server) when(field, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, store.CheckTime(field, t)
	}
	if _, err := time.Parse(time.DateOnly, v); err != nil {
		return time.Time{}, store.Invalid(field, "%q is not YYYY-MM-DD or an RFC 3339 time", v)
	}
	return s.date(field, v)
}

// timeRange reads from= and to= as [from, to): a date as to is inclusive
// (its whole day), an RFC 3339 time exclusive.
func (s *Server) timeRange(r *http.Request) (from, to time.Time, err error) {
	q := r.URL.Query()
	if v := q.Get("from"); v != "" {
		if from, err = s.when("from", v); err != nil {
			return from, to, err
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = s.when("to", v); err != nil {
			return from, to, err
		}
		if len(strings.TrimSpace(v)) == len(time.DateOnly) {
			to = to.AddDate(0, 0, 1)
		}
	}
	return from, to, nil
}

// customerFilter reads GET /customers' query into a filter, each value
// checked (422 naming the key).
func (s *Server) customerFilter(r *http.Request, p *store.Principal, pg store.Page) (store.CustomerFilter, error) {
	q := r.URL.Query()
	by := store.ActorOf(p)
	f := store.CustomerFilter{Viewer: &by,
		Channel: q.Get("channel"), ExternalID: q.Get("external_id"), Q: q.Get("q"),
		Tier: store.Tier(q.Get("tier")), Stage: store.Stage(q.Get("stage")), Tag: q.Get("tag"),
		City: strings.TrimSpace(q.Get("city")), Region: strings.TrimSpace(q.Get("region")),
		RFMSegment: q.Get("rfm_segment"), Page: pg,
	}
	if v := q.Get("churn_risk_min"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return f, store.Invalid("churn_risk_min", "%q is not a number 0-100", v)
		}
		f.ChurnRiskMin = &n
	}
	if v := q.Get("clv_min"); v != "" {
		m, err := store.ParseMoney("clv_min", v)
		if err != nil {
			return f, err
		}
		f.CLVMin = &m
	}
	var err error
	if v := q.Get("last_order_before"); v != "" {
		if f.LastOrderBefore, err = s.when("last_order_before", v); err != nil {
			return f, err
		}
	}
	if v := q.Get("last_order_after"); v != "" {
		if f.LastOrderAfter, err = s.when("last_order_after", v); err != nil {
			return f, err
		}
	}
	f.Source = q.Get("source")
	if v := q.Get("owner_staff_id"); v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return f, store.Invalid("owner_staff_id", "%q is not a staff id (0 for none)", v)
		}
		f.OwnerStaffID = &n
	}
	if v := q.Get("created_from"); v != "" {
		if f.CreatedFrom, err = s.when("created_from", v); err != nil {
			return f, err
		}
	}
	if v := q.Get("created_to"); v != "" {
		if f.CreatedTo, err = s.when("created_to", v); err != nil {
			return f, err
		}
		if len(strings.TrimSpace(v)) == len(time.DateOnly) {
			f.CreatedTo = f.CreatedTo.AddDate(0, 0, 1)
		}
	}
	return f, nil
}
