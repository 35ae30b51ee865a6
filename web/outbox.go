package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// outboxRoutes mounts the outbox endpoints.
func (s *Server) outboxRoutes() {
	s.api("POST /outbox/requeue", s.handleRequeue, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Send failed outbound messages again",
		Description: "At least one of `channel`, `from`, `to`, `ids` (up to 1000); all given must match. `from` and " +
			"`to` bound the messages' creation: a business date (`to` inclusive) or an RFC 3339 time (`to` exclusive). " +
			"Only `failed` outbound messages go back to `queued`, with a fresh 24-hour retry window.",
		In:  requeueRequest{},
		Out: requeued{},
	})
}

// requeued is the answer of POST /outbox/requeue.
type requeued struct {
	Requeued int `json:"requeued"`
}

// requeueRequest picks failed messages to send again; at least one field
// is required. from and to bound the messages' creation: a business date
// (YYYY-MM-DD; to is inclusive) or an RFC 3339 time (to is exclusive).
type requeueRequest struct {
	Channel string  `json:"channel"`
	From    string  `json:"from"`
	To      string  `json:"to"`
	IDs     []int64 `json:"ids"`
}

// handleRequeue puts failed outbound messages back in the queue (after a
// provider outage, say) and answers how many: {"requeued": N}.
func (s *Server) handleRequeue(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	var in requeueRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	f := store.RequeueFilter{Channel: strings.TrimSpace(in.Channel), IDs: in.IDs}
	var err error
	if f.From, err = s.boundParam("from", in.From, false); err != nil {
		return err
	}
	if f.To, err = s.boundParam("to", in.To, true); err != nil {
		return err
	}
	n, err := s.Store.RequeueFailed(r.Context(), f)
	if err != nil {
		return err
	}
	s.audit(r, p, "outbox.requeue", "outbox", nil, map[string]any{"channel": f.Channel, "from": in.From, "to": in.To,
		"ids": len(in.IDs), "requeued": n})
	return respond(w, http.StatusOK, requeued{Requeued: n}, nil)
}

// boundParam reads a from/to bound: an RFC 3339 time, or a date, which is
// a business day (in Deps.Location); an inclusive end date means up to the
// next day's start.
func (s *Server) boundParam(field, v string, end bool) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	day, err := time.ParseInLocation(time.DateOnly, v, s.Location)
	if err != nil {
		return time.Time{}, store.Invalid(field, "%q is not YYYY-MM-DD or an RFC 3339 time", v)
	}
	if end {
		day = day.AddDate(0, 0, 1)
	}
	return day, nil
}
