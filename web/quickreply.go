package web

import (
	"net/http"

	"github.com/rapport-crm/rapport/store"
)

// quickReplyRoutes: every role reads the quick replies (快捷回复);
// managers and admins maintain them.
func (s *Server) quickReplyRoutes() {
	s.api("GET /quick-replies", s.listQuickReplies).doc(op{
		Summary: "Quick replies (快捷回复) agents pick from",
		Out:     list[*store.QuickReply]{},
	})
	s.api("POST /quick-replies", s.createQuickReply, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Add a quick reply",
		In:      store.QuickReplyInput{},
		Out:     store.QuickReply{},
		Status:  http.StatusCreated,
	})
	s.api("PATCH /quick-replies/{id}", s.updateQuickReply, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Change a quick reply",
		In:      store.QuickReplyInput{},
		Out:     store.QuickReply{},
	})
	s.api("DELETE /quick-replies/{id}", s.deleteQuickReply, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Remove a quick reply",
		Status:  http.StatusNoContent,
	})
}

func (s *Server) listQuickReplies(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	items, err := s.Store.ListQuickReplies(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*store.QuickReply]{Items: items})
	return nil
}

func (s *Server) createQuickReply(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	var in store.QuickReplyInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	q, err := s.Store.CreateQuickReply(r.Context(), store.ActorOf(p), in)
	if err != nil {
		return err
	}
	s.audit(r, p, "quick_reply.create", "quick_reply", q.ID, map[string]any{"title": q.Title})
	writeJSON(w, http.StatusCreated, q)
	return nil
}

func (s *Server) updateQuickReply(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in store.QuickReplyInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	q, err := s.Store.UpdateQuickReply(r.Context(), id, in)
	if err != nil {
		return err
	}
	s.audit(r, p, "quick_reply.update", "quick_reply", q.ID, map[string]any{"title": q.Title})
	writeJSON(w, http.StatusOK, q)
	return nil
}

func (s *Server) deleteQuickReply(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Store.DeleteQuickReply(r.Context(), id); err != nil {
		return err
	}
	s.audit(r, p, "quick_reply.delete", "quick_reply", id, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
