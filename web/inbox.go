package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// inboxRoutes mount the shared inbox: conversations waiting for a reply,
// one customer's conversation state, and a stream of changes.
func (s *Server) inboxRoutes() {
	s.api("GET /inbox", s.listInbox).doc(op{
		Summary: "Conversations of the shared inbox, the longest waiting first",
		Description: "Agents see the conversations of customers they may see. `view` is mine, unassigned, " +
			"open, pending or resolved; `assignee` a staff id; `complaint=1` only customers with an open complaint.",
		Query: []param{query("view", "which conversations", schema{"type": "string"}),
			query("assignee", "a staff id", schema{"type": "string"}),
			query("channel", "", ref("Channel")),
			query("complaint", "1: only open complaints", schema{"type": "string", "enum": []any{"0", "1", "true", "false"}})},
		Paged: true,
		Out:   list[*store.Conversation]{},
	})
	s.api("GET /inbox/counts", s.inboxCounts).doc(op{
		Summary: "The inbox's badges for the caller",
		Out:     store.InboxCounts{},
	})
	s.api("GET /inbox/events", s.inboxEvents).doc(op{
		Summary: "Live inbox updates (server-sent events)",
		Description: "`event: inbox` when a conversation changes; with `watch=CUSTOMER`, `event: message` for each " +
			"new message of that customer and each change of an outbound message's status.",
		Query:  []param{query("watch", "a customer id", schema{"type": "integer"})},
		Media:  "text/event-stream",
		Out:    schema{"type": "string"},
		Errors: []int{http.StatusTooManyRequests},
	})
	s.api("GET /customers/{id}/conversation", s.getConversation).doc(op{
		Summary: "A customer's conversation state: status, assignee, waiting since, unread",
		Out:     store.Conversation{},
	})
	s.api("PATCH /customers/{id}/conversation", s.patchConversation).doc(op{
		Summary: "Take, hand over, mark read, resolve or reopen a conversation",
		In:      store.ConversationUpdate{},
		Out:     store.Conversation{},
	})
	s.api("GET /staff/directory", s.staffDirectory).doc(op{
		Summary: "Every staff member's id, name, role and whether active (for showing names)",
		Paged:   true,
		Out:     list[staffEntry]{},
	})
}

func (s *Server) listInbox(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.ConversationFilter{Viewer: store.ActorOf(p), View: q.Get("view"), Assignee: q.Get("assignee"),
		Channel: q.Get("channel"), Page: pg}
	switch v := q.Get("complaint"); v {
	case "", "0", "false":
	case "1", "true":
		f.Complaint = true
	default:
		return store.Invalid("complaint", "%q is not 1 or 0", v)
	}
	items, next, err := s.Store.ListConversations(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*store.Conversation]{Items: items, NextCursor: next})
	return nil
}

func (s *Server) inboxCounts(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	c, err := s.Store.CountInbox(r.Context(), store.ActorOf(p))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.Store.ConversationFor(r.Context(), store.ActorOf(p), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// patchConversation takes, hands over, reads, resolves or reopens.
func (s *Server) patchConversation(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in store.ConversationUpdate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	c, err := s.Store.UpdateConversation(r.Context(), store.ActorOf(p), id, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// staffEntry is what every signed-in staff member may know of a
// colleague: enough to show names instead of ids.
type staffEntry struct {
	ID     int64      `json:"id"`
	Name   string     `json:"name"`
	Role   store.Role `json:"role"`
	Active bool       `json:"active"`
}

func (s *Server) staffDirectory(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	if pg.Limit == 0 {
		pg.Limit = 500
	}
	items, next, err := s.Store.ListStaff(r.Context(), pg)
	if err != nil {
		return err
	}
	out := make([]staffEntry, len(items))
	for i, st := range items {
		out[i] = staffEntry{ID: st.ID, Name: st.Name, Role: st.Role, Active: st.Active}
	}
	writeJSON(w, http.StatusOK, list[staffEntry]{Items: out, NextCursor: next})
	return nil
}

// Event stream limits.
const (
	// streamsPerCaller bounds the open streams of one session or token
	// (a few tabs); each holds a goroutine and polls the database.
	streamsPerCaller = 6
	// streamLookback re-reads changes this far back: rows committed a
	// little out of order (two intake groups in flight) are still seen.
	streamLookback = 2 * time.Second
	streamBatch    = 200
	// streamRecheck is how often a stream checks its caller may still
	// use it (a session signed out, a staff member deactivated).
	streamRecheck = 30 * time.Second
	heartbeat     = 15 * time.Second
)

func callerKey(p *store.Principal) string {
	if p.SessionID != 0 {
		return "s" + strconv.FormatInt(p.SessionID, 10)
	}
	return "t" + strconv.FormatInt(p.TokenID, 10)
}

// inboxEvents streams server-sent events: "conversation" when one the
// caller may see changes (a new message, a reply, taken, resolved), and,
// with ?watch=CUSTOMER, "message" for each new message of that customer
// and each change of an outbound message's status (queued → sent).
func (s *Server) inboxEvents(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	by := store.ActorOf(p)
	var watch int64
	if v := r.URL.Query().Get("watch"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return store.Invalid("watch", "%q is not a customer id", v)
		}
		if err := s.Store.SeeCustomer(r.Context(), by, id); err != nil {
			return err
		}
		watch = id
	}
	rc := http.NewResponseController(w)
	key := callerKey(p)
	s.streamsMu.Lock()
	if s.streams[key] >= streamsPerCaller {
		s.streamsMu.Unlock()
		return store.Errorf(store.ETOOMANY, "%d event streams open already; close a tab", streamsPerCaller)
	}
	s.streams[key]++
	s.streamsMu.Unlock()
	defer func() {
		s.streamsMu.Lock()
		if s.streams[key]--; s.streams[key] <= 0 {
			delete(s.streams, key)
		}
		s.streamsMu.Unlock()
	}()

	ctx := r.Context()
	start := s.Store.Now()
	cursor := start
	seen := map[int64]int64{} // customer id -> rev shown
	status := map[int64]string{}
	if watch != 0 {
		ms, err := s.Store.RecentMessages(ctx, watch, start.Add(-24*time.Hour), 50)
		if err != nil {
			return err
		}
		for _, m := range ms {
			status[m.ID] = m.Status
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n\n")
	rc.Flush()

	send := func(event string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return err
		}
		return nil
	}
	tick := time.NewTicker(s.EventPoll)
	defer tick.Stop()
	lastWrite, lastCheck := time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.ending:
			return nil
		case <-tick.C:
		}
		if time.Since(lastCheck) >= streamRecheck {
			if _, err := s.authenticate(r); err != nil {
				send("signed_out", map[string]string{"error": store.ErrorMessage(err)})
				rc.Flush()
				return nil
			}
			lastCheck = time.Now()
		}
		wrote := false
		cs, err := s.Store.ConversationsChanged(ctx, by, cursor.Add(-streamLookback), streamBatch)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.Logger.Warn("inbox events", "err", err)
			continue
		}
		fresh := 0
		for _, c := range cs {
			if c.UpdatedAt.After(cursor) {
				cursor = c.UpdatedAt
			}
			if seen[c.CustomerID] == c.Rev {
				continue
			}
			seen[c.CustomerID] = c.Rev
			fresh++
			if err := send("conversation", c); err != nil {
				return nil
			}
			wrote = true
		}
		if len(seen) > 10*streamBatch {
			// Rows before the look-back are not read again: forget them.
			seen = make(map[int64]int64, len(cs))
			for _, c := range cs {
				seen[c.CustomerID] = c.Rev
			}
		}
		if len(cs) == streamBatch && fresh == 0 {
			// A flood: the look-back alone holds a full batch. Move on.
			cursor = cs[len(cs)-1].UpdatedAt.Add(time.Millisecond)
		}
		if watch != 0 {
			ms, err := s.Store.RecentMessages(ctx, watch, start.Add(-24*time.Hour), 50)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.Logger.Warn("inbox events", "err", err)
				continue
			}
			for i := len(ms) - 1; i >= 0; i-- {
				m := ms[i]
				if status[m.ID] == m.Status {
					continue
				}
				if len(status) > 1000 {
					status = map[int64]string{}
				}
				status[m.ID] = m.Status
				if err := send("message", m); err != nil {
					return nil
				}
				wrote = true
			}
		}
		if !wrote && time.Since(lastWrite) >= heartbeat {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			wrote = true
		}
		if wrote {
			lastWrite = time.Now()
			if err := rc.Flush(); err != nil {
				return nil
			}
		}
	}
}

// EndStreams ends every inbox event stream (at shutdown: the server
// would otherwise wait for them). Browsers reconnect elsewhere.
func (s *Server) EndStreams() { s.endOnce.Do(func() { close(s.ending) }) }
