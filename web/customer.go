package web

import (
	"net/http"

	"github.com/rapport-crm/rapport/store"
)

func (s *Server) customerRoutes() {
	s.api("GET /customers", s.listCustomers)
	s.api("POST /customers", s.createCustomer, store.RoleAdmin, store.RoleManager)
	s.api("GET /customers/{id}", s.getCustomer)
	s.api("PATCH /customers/{id}", s.patchCustomer, store.RoleAdmin, store.RoleManager)
}

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	by := store.ActorOf(p)
	cs, next, err := s.Store.ListCustomers(r.Context(), store.CustomerFilter{Viewer: &by,
		Channel: q.Get("channel"), ExternalID: q.Get("external_id"), Q: q.Get("q"),
		Tier: store.Tier(q.Get("tier")), Stage: store.Stage(q.Get("stage")), Tag: q.Get("tag"), Page: pg,
	})
	return respondList(w, cs, next, err)
}

func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	var in store.CustomerInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
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

func (s *Server) patchCustomer(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in store.CustomerInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	c, err := s.Store.UpdateCustomer(r.Context(), id, in)
	return respond(w, http.StatusOK, c, err)
}
