package web

import (
	"net/http"

	"github.com/rapport-crm/rapport/store"
)

// messageRoutes mounts the message endpoints.
func (s *Server) messageRoutes() {
	s.api("GET /customers/{id}/messages", s.listMessages)
	s.api("POST /customers/{id}/messages", s.sendMessage)
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	ms, next, err := s.Store.ListMessagesFor(r.Context(), store.ActorOf(p), id, pg)
	return respondList(w, ms, next, err)
}

// sendMessage is an agent's reply: queued in the outbox for the customer's
// most recent reachable channel; the dispatcher delivers it.
func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Text string `json:"text"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	m, err := s.Store.SendToCustomerBy(r.Context(), store.ActorOf(p), id, in.Text)
	return respond(w, http.StatusCreated, m, err)
}
