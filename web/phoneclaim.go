package web

import (
	"net/http"

	"github.com/rapport-crm/rapport/store"
)

// phoneClaimRoutes mounts the staff side of phone proof: claims waiting
// for a call (the number's holder has no chat account to send a code to)
// and duplicates the migration to canonical phones found.
func (s *Server) phoneClaimRoutes() {
	s.api("GET /phone-claims", s.listPhoneClaims, store.RoleAdmin, store.RoleManager)
	s.api("POST /phone-claims/{id}/approve", s.approvePhoneClaim, store.RoleAdmin, store.RoleManager)
	s.api("POST /phone-claims/{id}/reject", s.rejectPhoneClaim, store.RoleAdmin, store.RoleManager)
}

func (s *Server) listPhoneClaims(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, next, err := s.Store.ListPhoneClaims(r.Context(), store.PhoneClaimFilter{Status: r.URL.Query().Get("status"), Page: pg})
	return respondList(w, items, next, err)
}

// approvePhoneClaim merges the claimant into the holder of the number (a
// staff member confirmed it by phone) and closes the claim's task.
func (s *Server) approvePhoneClaim(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.Store.ApprovePhoneClaim(r.Context(), id, store.ActorOf(p))
	return respond(w, http.StatusOK, c, err)
}

func (s *Server) rejectPhoneClaim(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.Store.RejectPhoneClaim(r.Context(), id, store.ActorOf(p))
	return respond(w, http.StatusOK, c, err)
}
