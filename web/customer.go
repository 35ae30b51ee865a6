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
	f, err := s.customerFilter(r, p, pg)
	if err != nil {
		return err
	}
	cs, next, err := s.Store.ListCustomers(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*store.Customer]{Items: cs, NextCursor: next})
	return nil
}

func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	var in store.CustomerInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	by := store.ActorOf(p) // who pins a tier or stage
	in.By = &by
	c, err := s.Store.CreateCustomer(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.Store.CustomerFor(r.Context(), store.ActorOf(p), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) patchCustomer(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
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
	writeJSON(w, http.StatusOK, c)
	return nil
}
