package web

import (
	"net/http"

	"github.com/rapport-crm/rapport/store"
)

func (s *Server) tokenRoutes() {
	s.api("POST /tokens", s.createToken, store.RoleAdmin)
	s.api("GET /tokens", s.listTokens, store.RoleAdmin)
	s.api("DELETE /tokens/{id}", s.revokeToken, store.RoleAdmin)
	s.api("POST /staff", s.createStaff, store.RoleAdmin, store.RoleManager)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	var in store.TokenInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	plain, t, err := s.Store.CreateToken(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": plain, "id": t.ID, "name": t.Name, "role": t.Role,
		"staff_id": t.StaffID, "expires_at": t.ExpiresAt, "created_at": t.CreatedAt})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	items, next, err := s.Store.ListTokens(r.Context(), p)
	return respondList(w, items, next, err)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Store.RevokeToken(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// createStaff adds a staff member: managers add agents, admins anyone.
func (s *Server) createStaff(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	var in store.StaffInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	by := store.ActorOf(p)
	in.By = &by
	st, err := s.Store.CreateStaff(r.Context(), in)
	return respond(w, http.StatusCreated, st, err)
}
