package web

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"

	"github.com/rapport-crm/rapport/store"
)

func (s *Server) customerRoutes() {
	s.api("GET /customers", s.listCustomers).doc(op{
		Summary: "List customers",
		Description: "By id. Filters combine with AND. An agent sees only their customers " +
			"(owned, or of their open tasks).",
		Query: []param{
			query("q", "A name containing the text, a whole phone number however written, or the start of a number (at least 4 digits).", schema{"type": "string"}),
			query("channel", "With external_id: the customer with that chat identity.", ref("Channel")),
			query("external_id", "With channel.", schema{"type": "string"}),
			query("tier", "", ref("Tier")),
			query("stage", "", ref("Stage")),
			query("tag", "Customers with this tag.", schema{"type": "string"}),
			query("city", "Customers in this city.", schema{"type": "string"}),
			query("region", "Customers in this region.", schema{"type": "string"}),
			query("rfm_segment", "", ref("RFMSegment")),
			query("churn_risk_min", "Churn risk at least this.", schema{"type": "integer", "minimum": 0, "maximum": 100}),
			query("clv_min", "Lifetime value at least this (yuan, at most two decimals).", schema{"type": "string"}),
			query("last_order_before", "Last order before this business date (its start) or RFC 3339 time.", schema{"type": "string"}),
			query("last_order_after", "Last order on or after this business date or RFC 3339 time.", schema{"type": "string"}),
			query("source", "Customers from this source (exactly; the reports' drill-down).", schema{"type": "string"}),
			query("owner_staff_id", "Customers this staff member owns; 0 for those without an owner.", schema{"type": "integer", "format": "int64", "minimum": 0}),
			query("created_from", "Created on or after this business date (its start) or RFC 3339 time.", schema{"type": "string"}),
			query("created_to", "Created before the end of this business date, or before this RFC 3339 time.", schema{"type": "string"}),
		},
		Paged: true,
		Out:   list[*store.Customer]{},
	})
	s.api("POST /customers", s.createCustomer, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Create a customer",
		Description: "A customer needs a name or a phone. `identities` only on create. " +
			"409 when the phone is on record for another customer, the external_ref is taken, or an identity belongs to someone.",
		In:     store.CustomerInput{},
		Out:    store.Customer{},
		Status: http.StatusCreated,
		Errors: []int{http.StatusConflict},
	})
	s.api("GET /customers/{id}", s.getCustomer).doc(op{
		Summary: "One customer",
		Out:     store.Customer{},
	})
	s.api("PATCH /customers/{id}", s.patchCustomer, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Change a customer",
		Description: "Changes only the fields given. `tags` replaces the list; `owner_staff_id: 0` and " +
			"`external_ref: \"\"` clear them; `identities` is 422. `tier` or `stage` pins the value (recomputes keep it); " +
			"null unpins it (back to the computed value at once). `points` is the ledger's balance, read-only: 422 " +
			"(POST /customers/{id}/points/adjustments changes it).",
		In:     store.CustomerInput{},
		Out:    store.Customer{},
		Errors: []int{http.StatusConflict},
	})
}

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	f, err := s.customerFilter(r, p, pg)
	if err != nil {
		return err
	}
	cs, next, err := s.Store.ListCustomers(r.Context(), f)
	return respondList(w, cs, next, err)
}

func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	var in store.CustomerInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	by := store.ActorOf(p) // who pins a tier or stage
	in.By = &by
	c, err := s.Store.CreateCustomer(r.Context(), in)
	return respond(w, http.StatusCreated, c, err)
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.Store.CustomerFor(r.Context(), store.ActorOf(p), id)
	return respond(w, http.StatusOK, c, err)
}

func (s *Server) patchCustomer(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	// The body twice: as the change, and for the audit, which names the
	// fields given (null among them: it unpins a tier or stage).
	var raw json.RawMessage
	if err := decode(w, r, &raw); err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	var in store.CustomerInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	by := store.ActorOf(p) // who pins a tier or stage
	in.By = &by
	c, err := s.Store.UpdateCustomer(r.Context(), id, in)
	if err != nil {
		return err
	}
	s.audit(r, p, "customer.update", "customer", id, changedFields(raw, "tier", "stage", "owner_staff_id", "opt_out"))
	return respond(w, http.StatusOK, c, nil)
}

// changedFields summarises a PATCH body for the audit: the fields it
// gives, and the values of those worth reading at a glance (a pinned tier,
// say); other values (a phone, a birthday) stay out of the log.
func changedFields(raw json.RawMessage, shown ...string) map[string]any {
	var body map[string]json.RawMessage
	if json.Unmarshal(raw, &body) != nil {
		return nil
	}
	out := map[string]any{}
	fields := make([]string, 0, len(body))
	for k, v := range body {
		fields = append(fields, k)
		if slices.Contains(shown, k) {
			var val any
			json.Unmarshal(v, &val)
			out[k] = val
		}
	}
	slices.Sort(fields)
	out["fields"] = fields
	return out
}
