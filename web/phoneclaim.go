package web

import (
	"net/http"
	"strconv"

	"github.com/rapport-crm/rapport/store"
)

// phoneClaimRoutes mounts the staff side of phone proof: claims waiting
// for a call (the number's holder has no chat account to send a code to)
// and duplicates the migration to canonical phones found.
func (s *Server) phoneClaimRoutes() {
	s.api("GET /phone-claims", s.listPhoneClaims, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Phone claims, oldest first",
		Query:   []param{query("status", "", ref("ClaimStatus"))},
		Paged:   true,
		Out:     list[*store.PhoneClaim]{},
	})
	s.api("POST /phone-claims/{id}/approve", s.approvePhoneClaim, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Approve a claim: merge the claimant into the holder of the number",
		Description: "Closes the claim's verify_phone task. A claim that is not pending is 409, and so is one " +
			"whose number the holder no longer has.",
		Out:    store.PhoneClaim{},
		Errors: []int{http.StatusConflict},
	})
	s.api("POST /phone-claims/{id}/reject", s.rejectPhoneClaim, store.RoleAdmin, store.RoleManager).doc(op{
		Summary:     "Reject a claim without merging",
		Description: "Cancels the claim's task. A claim that is not pending is 409.",
		Out:         store.PhoneClaim{},
		Errors:      []int{http.StatusConflict},
	})
}

func (s *Server) listPhoneClaims(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	f := store.PhoneClaimFilter{Status: r.URL.Query().Get("status"), Page: pg}
	if v := r.URL.Query().Get("customer_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return store.Invalid("customer_id", "%q is not an id", v)
		}
		f.CustomerID = &id
	}
	items, next, err := s.Store.ListPhoneClaims(r.Context(), f)
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
	if err != nil {
		return err
	}
	s.audit(r, p, "phone_claim.approve", "phone_claim", id, claimSummary(c))
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) rejectPhoneClaim(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.Store.RejectPhoneClaim(r.Context(), id, store.ActorOf(p))
	if err != nil {
		return err
	}
	s.audit(r, p, "phone_claim.reject", "phone_claim", id, claimSummary(c))
	writeJSON(w, http.StatusOK, c)
	return nil
}

// claimSummary is what the audit keeps of a decided claim.
func claimSummary(c *store.PhoneClaim) map[string]any {
	return map[string]any{"phone": c.Phone, "claimant_id": c.ClaimantID, "target_id": c.TargetID, "status": c.Status}
}
