package web

import (
	"net/http"

	"github.com/rapport-crm/rapport/store"
)

func (s *Server) tokenRoutes() {
	s.api("POST /tokens", s.createToken, store.RoleAdmin)
	s.api("POST /staff", s.createStaff, store.RoleAdmin)
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
	writeJSON(w, http.StatusCreated, map[string]any{"token": plain, "id": t.ID, "name": t.Name, "role": t.Role, "staff_id": t.StaffID})
	return nil
}

func (s *Server) createStaff(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	var in store.StaffInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	st, err := s.Store.CreateStaff(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, st)
	return nil
}
