package webchat

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/store"
)

//go:embed page.html
var page []byte

// Limits of a posted message.
const (
	maxBody   = 16 << 10
	maxText   = 4096 // characters
	maxMsgID  = 64
	historyN  = 100
	streamMax = 100 // messages per poll
)

// Error codes of refused requests.
const (
	// codeRateLimited: too many posts, new visitors or streams.
	codeRateLimited = "rate_limited"
	// codeVisitorRequired: a post without a visitor cookie. The answer
	// sets one; the page sends the message again.
	codeVisitorRequired = "visitor_required"
)

// Register mounts the channel's routes with handle (web.Server.Handle).
func (c *Channel) Register(handle func(pattern string, h http.Handler)) {
	handle("GET /chat", http.HandlerFunc(c.servePage))
	handle("GET /chat/messages", http.HandlerFunc(c.serveHistory))
	handle("POST /chat/messages", http.HandlerFunc(c.servePost))
	handle("GET /chat/events", http.HandlerFunc(c.serveEvents))
}

func (c *Channel) servePage(w http.ResponseWriter, r *http.Request) {
	if c.knownVisitor(r) == "" {
		// Past the address's budget the page still loads; its first
		// post explains the wait.
		c.newVisitor(w, r, c.opts.ClientIP(r))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(page)
}

// chatMessage is a message as the page sees it.
type chatMessage struct {
	ID        int64     `json:"id"`
	Direction string    `json:"direction"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

func view(m *store.Message) chatMessage {
	at := m.CreatedAt
	if m.SentAt != nil {
		at = *m.SentAt
	}
	return chatMessage{ID: m.ID, Direction: m.Direction, Text: m.Text, CreatedAt: at.UTC()}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// serveHistory answers the visitor's conversation and the cursor to open
// the event stream with.
func (c *Channel) serveHistory(w http.ResponseWriter, r *http.Request) {
	id := c.knownVisitor(r)
	if id == "" {
		// A new visitor has no history; a cookie if the budget allows.
		c.newVisitor(w, r, c.opts.ClientIP(r))
		writeJSON(w, http.StatusOK, map[string]any{"items": []chatMessage{}, "cursor": formatCursor(store.SentCursor{At: c.opts.Store.Now()})})
		return
	}
	ms, err := c.opts.Store.ChatHistory(r.Context(), store.ChannelWebChat, id, historyN)
	if err != nil {
		c.log.Error("webchat history", "err", err)
		writeError(w, http.StatusInternalServerError, store.EINTERNAL, "cannot load messages")
		return
	}
	items := make([]chatMessage, 0, len(ms))
	cur := store.SentCursor{At: c.opts.Store.Now()}
	for _, m := range ms {
		items = append(items, view(m))
	}
	// The stream starts after the newest message shown, or now.
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Direction == store.DirectionOut && ms[i].SentAt != nil {
			if ms[i].SentAt.Before(cur.At) {
				cur = store.SentCursor{At: *ms[i].SentAt, ID: ms[i].ID}
			}
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "cursor": formatCursor(cur)})
}

// servePost stores one message from the visitor. The page gives each
// message an id, so a retried post is stored once.
//
// Only a visitor with a cookie we signed may post: the first message
// creates a customer, and a cookie-less post would otherwise create one
// per request. A post without one is refused (403) with a fresh cookie,
// and the page sends it again; cookies are issued per client address
// within a budget (Options.NewVisitorBurst), so one address can't mint
// customers faster than that.
func (c *Channel) servePost(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		// Also keeps other sites' plain form posts out (no CORS preflight).
		writeError(w, http.StatusUnsupportedMediaType, store.EINVALID, "Content-Type must be application/json")
		return
	}
	client := c.opts.ClientIP(r)
	id := c.knownVisitor(r)
	if id == "" {
		if _, wait := c.newVisitor(w, r, client); wait > 0 {
			w.Header().Set("Retry-After", retryAfter(wait))
			writeError(w, http.StatusTooManyRequests, codeRateLimited, "too many new chats from your network; wait "+retryAfter(wait)+" s and send again")
			return
		}
		writeError(w, http.StatusForbidden, codeVisitorRequired, "open the chat page first: this answer starts your chat, send the message again")
		return
	}
	var in struct {
		ID   string `json:"id"`
		Text string `json:"text"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, store.EINVALID, "body larger than 16 KiB")
			return
		}
		writeError(w, http.StatusBadRequest, store.EINVALID, "malformed JSON: "+err.Error())
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, store.EINVALID, "malformed JSON: trailing data")
		return
	}
	text := strings.TrimSpace(in.Text)
	switch {
	case text == "":
		writeError(w, http.StatusUnprocessableEntity, store.EINVALID, "text must not be empty")
		return
	case utf8.RuneCountInString(text) > maxText || !utf8.ValidString(text):
		writeError(w, http.StatusUnprocessableEntity, store.EINVALID, fmt.Sprintf("text must be valid UTF-8 of at most %d characters", maxText))
		return
	case len(in.ID) > maxMsgID || strings.ContainsAny(in.ID, " \t\r\n"):
		writeError(w, http.StatusUnprocessableEntity, store.EINVALID, fmt.Sprintf("id must be at most %d characters without spaces", maxMsgID))
		return
	}
	// Limited after validation: a refused post stores nothing either way,
	// and a visitor fixing a bad post keeps their budget.
	if ok, wait := c.admit(id, client); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		writeError(w, http.StatusTooManyRequests, codeRateLimited, "too many messages; wait "+retryAfter(wait)+" s and send again")
		return
	}
	in.ID = cmp.Or(in.ID, strconv.FormatInt(time.Now().UnixNano(), 36))
	msg := bots.Inbound{
		Channel: store.ChannelWebChat, SenderID: id, ChatID: id, DedupKey: id + ":" + in.ID,
		Kind: bots.KindText, Text: text,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 20*time.Second)
	defer cancel()
	if err := c.opts.Receiver.Receive(ctx, msg); err != nil {
		if store.IsCode(err, store.EINVALID) {
			writeError(w, http.StatusUnprocessableEntity, store.EINVALID, store.ErrorMessage(err))
			return
		}
		c.log.Error("webchat: store message", "err", err)
		writeError(w, http.StatusInternalServerError, store.EINTERNAL, "cannot store message")
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": in.ID, "status": "received"})
}

// serveEvents streams messages sent to the visitor as server-sent events,
// resuming after Last-Event-ID (or ?after=, from the history answer).
//
// Streams end when the channel is shut down (EndStreams), and are capped
// per visitor and per client address: more get 429.
func (c *Channel) serveEvents(w http.ResponseWriter, r *http.Request) {
	select {
	case <-c.ending:
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "shutting down; reconnect")
		return
	default:
	}
	client := c.opts.ClientIP(r)
	id := c.knownVisitor(r)
	if id == "" {
		var wait time.Duration
		if id, wait = c.newVisitor(w, r, client); id == "" {
			w.Header().Set("Retry-After", retryAfter(wait))
			writeError(w, http.StatusTooManyRequests, codeRateLimited, "too many new chats from your network; wait "+retryAfter(wait)+" s")
			return
		}
	}
	if !c.streams.take(id, client) {
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusTooManyRequests, codeRateLimited, "too many open chat windows; close one and reload")
		return
	}
	defer c.streams.give(id, client)
	raw := cmp.Or(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after"))
	cur, ok := parseCursor(raw)
	if !ok {
		cur = store.SentCursor{At: c.opts.Store.Now()}
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "retry: 2000\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	ctx := r.Context()
	poll := time.NewTicker(c.opts.Poll)
	defer poll.Stop()
	lastWrite := time.Now()
	for {
		ms, err := c.opts.Store.SentAfter(ctx, store.ChannelWebChat, id, cur, streamMax)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("webchat events", "err", err)
		}
		for _, m := range ms {
			b, _ := json.Marshal(view(m))
			cur = store.SentCursor{At: *m.SentAt, ID: m.ID}
			fmt.Fprintf(w, "id: %s\nevent: message\ndata: %s\n\n", formatCursor(cur), b)
		}
		wrote := len(ms) > 0
		if !wrote && time.Since(lastWrite) >= c.opts.Heartbeat {
			io.WriteString(w, ": ping\n\n")
			wrote = true
		}
		if wrote {
			if err := rc.Flush(); err != nil {
				return
			}
			lastWrite = time.Now()
		}
		if len(ms) == streamMax {
			continue // more waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-c.ending:
			return
		case <-poll.C:
		}
	}
}

// Cursors are "unixmilli.id" of the last message sent.
func formatCursor(c store.SentCursor) string {
	return strconv.FormatInt(c.At.UnixMilli(), 10) + "." + strconv.FormatInt(c.ID, 10)
}

func parseCursor(s string) (store.SentCursor, bool) {
	ms, id, ok := strings.Cut(s, ".")
	if !ok {
		return store.SentCursor{}, false
	}
	t, err1 := strconv.ParseInt(ms, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil || t < 0 || n < 0 {
		return store.SentCursor{}, false
	}
	return store.SentCursor{At: time.UnixMilli(t).UTC(), ID: n}, true
}
