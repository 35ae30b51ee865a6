package web

import (
	"net/http"
	"time"

	"github.com/rapport-crm/rapport/store"
)

func (s *Server) tokenRoutes() {
	s.api("POST /tokens", s.createToken, store.RoleAdmin).doc(op{
		Summary: "Create an API token; the secret is shown once",
		Description: "`staff_id`: an active staff member the token acts as, never with more than their role. " +
			"`expires_at` (RFC 3339, in the future) or `ttl_days` (1-3650), not both; with neither it does not expire.",
		In:     store.TokenInput{},
		Out:    newToken{},
		Status: http.StatusCreated,
	})
	s.api("GET /tokens", s.listTokens, store.RoleAdmin).doc(op{
		Summary:     "API tokens, by id, never their secret",
		Description: "Revoked and expired tokens stay listed.",
		Paged:       true,
		Out:         list[*store.APIToken]{},
	})
	s.api("DELETE /tokens/{id}", s.revokeToken, store.RoleAdmin).doc(op{
		Summary:     "Revoke a token",
		Description: "At once on every replica; revoking a revoked token changes nothing.",
		Status:      http.StatusNoContent,
	})
	s.api("POST /staff", s.createStaff, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Create a staff member (managers: agents only)",
		In:      store.StaffInput{},
		Out:     store.Staff{},
		Status:  http.StatusCreated,
	})
}

// newToken is a created token: its secret, shown once, and its record.
type newToken struct {
	Token     string     `json:"token"`
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Role      store.Role `json:"role"`
	StaffID   *int64     `json:"staff_id"`
	ExpiresAt *time.Time `json:"expires_at"`
	CreatedAt time.Time  `json:"created_at"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	var in store.TokenInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	plain, t, err := s.Store.CreateToken(r.Context(), in)
	if err != nil {
		return err
	}
	s.audit(r, p, "token.create", "token", t.ID, map[string]any{"name": t.Name, "role": t.Role, "staff_id": t.StaffID, "expires_at": t.ExpiresAt})
	writeJSON(w, http.StatusCreated, newToken{Token: plain, ID: t.ID, Name: t.Name, Role: t.Role,
		StaffID: t.StaffID, ExpiresAt: t.ExpiresAt, CreatedAt: t.CreatedAt})
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

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Store.RevokeToken(r.Context(), id); err != nil {
		return err
	}
	s.audit(r, p, "token.revoke", "token", id, nil)
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
	if err != nil {
		return err
	}
	s.audit(r, p, "staff.create", "staff", st.ID, map[string]any{"name": st.Name, "role": st.Role})
	writeJSON(w, http.StatusCreated, st)
	return nil
}
