package web

import (
	"net/http"

	"github.com/rapport-crm/rapport/store"
)

// messageRoutes mounts the message endpoints.
func (s *Server) messageRoutes() {
	s.api("GET /customers/{id}/messages", s.listMessages).doc(op{
		Summary:     "A customer's conversation",
		Description: "Both directions, oldest first. Messages to staff belong to no conversation.",
		Paged:       true,
		Out:         list[*store.Message]{},
	})
	s.api("POST /customers/{id}/messages", s.sendMessage).doc(op{
		Summary: "Send a message to a customer",
		Description: "Queues the text (1-4096 characters) for the chat the customer wrote from last; " +
			"the dispatcher delivers it. 422 when the customer has no reachable chat account.",
		In:     messageInput{},
		Out:    store.Message{},
		Status: http.StatusCreated,
	})
}

// messageInput is POST /customers/{id}/messages.
type messageInput struct {
	Text string `json:"text"`
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
	var ms []*store.Message
	var next string
	switch o := r.URL.Query().Get("order"); o {
	case "", "oldest":
		ms, next, err = s.Store.ListMessagesFor(r.Context(), store.ActorOf(p), id, pg)
	case "newest":
		// The console: the latest page first, next_cursor pages back.
		ms, next, err = s.Store.ListRecentMessagesFor(r.Context(), store.ActorOf(p), id, pg)
	default:
		return store.Invalid("order", "%q is not oldest or newest", o)
	}
	return respondList(w, ms, next, err)
}

// sendMessage is an agent's reply: queued in the outbox for the customer's
// most recent reachable channel; the dispatcher delivers it.
func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in messageInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	m, err := s.Store.SendToCustomerBy(r.Context(), store.ActorOf(p), id, in.Text)
	return respond(w, http.StatusCreated, m, err)
}
