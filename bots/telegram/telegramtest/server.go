// Package telegramtest is a Telegram Bot API double for tests: an httptest
// server speaking the real wire format (multipart form POSTs to
// /bot<token>/<method>, JSON {"ok",...} answers), so our side runs the real
// go-telegram/bot client against it through telegram.api_url.
package telegramtest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// Token is the bot token the double answers to.
const Token = "123:TEST"

// Sent is one sendMessage call the double accepted.
type Sent struct {
	ChatID      string
	Text        string
	ReplyMarkup string
	ReplyTo     string // reply_parameters.message_id, if any
	MessageID   int
	At          time.Time
}

// Server is the Bot API double.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	sends    []Sent
	calls    map[string]int // sendMessage calls per text, whatever the answer
	answered []string
	webhook  map[string]string
	deletes  int
	tooMany  int // 429s answered
	down     bool
	limiter  *rate.Limiter
	reply    func(chatID, text string, n int) (code int, desc string, retryAfter int)
	// updates are what getUpdates hands out (raw JSON, in order);
	// offset is the highest offset asked for: updates below it are
	// confirmed, as Telegram counts them.
	updates []string
	offset  int64
}

// New starts a double that stops when the test ends.
func New(t testing.TB) *Server {
	f := &Server{calls: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// Close stops the double before the test ends and forgets what it
// recorded, so that a benchmark's later part does not carry it.
func (f *Server) Close() {
	f.srv.Close()
	f.mu.Lock()
	f.sends, f.calls, f.answered, f.updates = nil, map[string]int{}, nil, nil
	f.mu.Unlock()
}

// URL is the value for telegram.api_url.
func (f *Server) URL() string { return f.srv.URL }

// SetDown makes the double unreachable (every call's connection is cut
// without an answer, as when the Bot API is blocked) or reachable again.
func (f *Server) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// SetLimiter makes the double answer 429 to sends above the rate, like
// Telegram's flood control; every such 429 is one we caused.
func (f *Server) SetLimiter(l *rate.Limiter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limiter = l
}

// SetReply lets fn answer a sendMessage (the n-th call with that text)
// with an error instead of the default; code 0 means answer normally.
func (f *Server) SetReply(fn func(chatID, text string, n int) (code int, desc string, retryAfter int)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply = fn
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	method, ok := strings.CutPrefix(r.URL.Path, "/bot"+Token+"/")
	if !ok || r.Method != http.MethodPost {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	form, err := readForm(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch method {
	case "getMe":
		fmt.Fprint(w, `{"ok":true,"result":{"id":1,"is_bot":true,"first_name":"b","username":"rapport_bot"}}`)
	case "setWebhook":
		f.mu.Lock()
		f.webhook = map[string]string{"url": form.get("url"), "secret_token": form.get("secret_token")}
		f.mu.Unlock()
		fmt.Fprint(w, `{"ok":true,"result":true}`)
	case "deleteWebhook":
		f.mu.Lock()
		f.deletes++
		f.mu.Unlock()
		fmt.Fprint(w, `{"ok":true,"result":true}`)
	case "getUpdates":
		offset, _ := strconv.ParseInt(form.get("offset"), 10, 64)
		if batch := f.pending(offset); len(batch) > 0 {
			fmt.Fprintf(w, `{"ok":true,"result":[%s]}`, strings.Join(batch, ","))
			return
		}
		// Nothing queued: answer after a short long-poll like Telegram.
		select {
		case <-r.Context().Done():
		case <-time.After(50 * time.Millisecond):
		}
		fmt.Fprint(w, `{"ok":true,"result":[]}`)
	case "answerCallbackQuery":
		f.mu.Lock()
		f.answered = append(f.answered, form.get("callback_query_id"))
		f.mu.Unlock()
		fmt.Fprint(w, `{"ok":true,"result":true}`)
	case "sendMessage":
		f.sendMessage(w, form)
	default:
		fmt.Fprintf(w, `{"ok":false,"error_code":404,"description":"Not Found: method %s"}`, method)
	}
}

// Queue adds updates (raw JSON, each with its update_id) for getUpdates
// to hand out, in order, from the offset a poll asks for: what Telegram
// queues for a bot in polling mode. They are sent as they are, so a test
// can queue an update of any shape.
func (f *Server) Queue(updates ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, updates...)
}

// Offset is the highest offset a getUpdates call asked for: every queued
// update below it has been confirmed.
func (f *Server) Offset() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.offset
}

// pending records a poll's offset and returns the queued updates from it
// on.
func (f *Server) pending(offset int64) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.offset = max(f.offset, offset)
	var out []string
	for _, u := range f.updates {
		var head struct {
			ID int64 `json:"update_id"`
		}
		if json.Unmarshal([]byte(u), &head) == nil && head.ID >= offset {
			out = append(out, u)
		}
	}
	return out
}

func (f *Server) sendMessage(w http.ResponseWriter, form fields) {
	chatID, text := form.get("chat_id"), form.get("text")
	if chatID == "" || text == "" {
		fmt.Fprint(w, `{"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}`)
		return
	}
	if rm := form.get("reply_markup"); rm != "" {
		if desc := checkMarkup(rm); desc != "" {
			fmt.Fprintf(w, `{"ok":false,"error_code":400,"description":%q}`, "Bad Request: "+desc)
			return
		}
	}
	var replyTo struct {
		MessageID json.Number `json:"message_id"`
	}
	if rp := form.get("reply_parameters"); rp != "" {
		if err := json.Unmarshal([]byte(rp), &replyTo); err != nil {
			fmt.Fprint(w, `{"ok":false,"error_code":400,"description":"Bad Request: can't parse reply parameters JSON object"}`)
			return
		}
	}
	f.mu.Lock()
	f.calls[text]++
	n := f.calls[text]
	reply, limiter := f.reply, f.limiter
	f.mu.Unlock()
	if reply != nil {
		if code, desc, after := reply(chatID, text, n); code != 0 {
			params := ""
			if after > 0 {
				params = fmt.Sprintf(`,"parameters":{"retry_after":%d}`, after)
			}
			fmt.Fprintf(w, `{"ok":false,"error_code":%d,"description":%q%s}`, code, desc, params)
			return
		}
	}
	if limiter != nil && !limiter.Allow() {
		f.mu.Lock()
		f.tooMany++
		f.mu.Unlock()
		fmt.Fprint(w, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`)
		return
	}
	f.mu.Lock()
	id := len(f.sends) + 1
	f.sends = append(f.sends, Sent{ChatID: chatID, Text: text, ReplyMarkup: form.get("reply_markup"),
		ReplyTo: replyTo.MessageID.String(), MessageID: id, At: time.Now()})
	f.mu.Unlock()
	fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"date":0,"chat":{"id":%s,"type":"private"},"text":%q}}`, id, chatID, text)
}

// fields are a Bot API call's parameters.
type fields map[string]string

func (f fields) get(k string) string { return f[k] }

// readForm reads a call's parameters the ways the Bot API takes them:
// multipart/form-data (what go-telegram/bot sends), urlencoded, or JSON.
// Parts are streamed rather than parsed with ParseMultipartForm, whose
// temp-file machinery would make the double cost more CPU than the client
// it serves in the send benchmarks.
func readForm(r *http.Request) (fields, error) {
	out := fields{}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		mr := multipart.NewReader(io.LimitReader(r.Body, 1<<20), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			b, err := io.ReadAll(p)
			if err != nil {
				return nil, err
			}
			out[p.FormName()] = string(b)
		}
	case "application/json":
		var m map[string]any
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m); err != nil {
			return nil, err
		}
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			} else {
				b, _ := json.Marshal(v)
				out[k] = string(b)
			}
		}
		return out, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	for k, v := range r.PostForm {
		out[k] = v[0]
	}
	return out, nil
}

// Sends lists the accepted sendMessage calls in order.
func (f *Server) Sends() []Sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Sent(nil), f.sends...)
}

// Count is the number of accepted sendMessage calls: len(Sends()) without
// copying them, for polling a large run.
func (f *Server) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sends)
}

// SentTo lists the texts accepted for one chat, in order.
func (f *Server) SentTo(chatID string) []string {
	var out []string
	for _, s := range f.Sends() {
		if s.ChatID == chatID {
			out = append(out, s.Text)
		}
	}
	return out
}

// Calls counts sendMessage calls with this text, whatever the answer.
func (f *Server) Calls(text string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[text]
}

// Answered lists the answered callback query ids.
func (f *Server) Answered() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.answered...)
}

// Webhook is the last setWebhook call's url and secret_token.
func (f *Server) Webhook() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.webhook
}

// Deletes counts deleteWebhook calls.
func (f *Server) Deletes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deletes
}

// TooMany counts the 429s the limiter answered.
func (f *Server) TooMany() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tooMany
}

// WaitFor polls cond until it holds, failing the test after d.
func WaitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// markup is the reply_markup shapes the double reads.
type markup struct {
	InlineKeyboard [][]map[string]json.RawMessage `json:"inline_keyboard"`
	Keyboard       [][]struct {
		Text           string          `json:"text"`
		RequestContact json.RawMessage `json:"request_contact"`
	} `json:"keyboard"`
	RemoveKeyboard json.RawMessage `json:"remove_keyboard"`
}

// ContactButton is the label of the request_contact button on the reply
// keyboard this message showed, or "".
func (s Sent) ContactButton() string {
	var m markup
	json.Unmarshal([]byte(s.ReplyMarkup), &m)
	for _, row := range m.Keyboard {
		for _, b := range row {
			if string(b.RequestContact) == "true" {
				return b.Text
			}
		}
	}
	return ""
}

// RemovesKeyboard reports whether this message took the reply keyboard
// away (ReplyKeyboardRemove).
func (s Sent) RemovesKeyboard() bool {
	var m markup
	json.Unmarshal([]byte(s.ReplyMarkup), &m)
	return string(m.RemoveKeyboard) == "true"
}

// checkMarkup applies Telegram's rules for keyboards that bite: the markup
// must parse; inline buttons need exactly one action, callback_data is
// 1–64 bytes, and a copy_text button needs text; reply keyboard buttons
// need text and request_contact is a boolean; remove_keyboard must be true.
func checkMarkup(rm string) string {
	var kb markup
	if err := json.Unmarshal([]byte(rm), &kb); err != nil {
		return "can't parse reply keyboard markup JSON object"
	}
	if kb.RemoveKeyboard != nil && string(kb.RemoveKeyboard) != "true" {
		return "can't parse reply keyboard markup JSON object"
	}
	for _, row := range kb.Keyboard {
		for _, b := range row {
			if b.Text == "" {
				return "keyboard button text is empty"
			}
			if rc := string(b.RequestContact); rc != "" && rc != "true" && rc != "false" {
				return "can't parse keyboard button: Field \"request_contact\" must be of type Boolean"
			}
		}
	}
	for _, row := range kb.InlineKeyboard {
		for _, b := range row {
			if ct, ok := b["copy_text"]; ok {
				var c struct{ Text string }
				if json.Unmarshal(ct, &c) != nil || c.Text == "" {
					return "BUTTON_COPY_TEXT_INVALID"
				}
			}
			actions := 0
			for k := range b {
				if k != "text" && k != "style" && k != "icon_custom_emoji_id" {
					actions++
				}
			}
			if actions != 1 {
				return "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
			}
			if cd, ok := b["callback_data"]; ok {
				var d string
				if json.Unmarshal(cd, &d) != nil || d == "" || len(d) > 64 {
					return "BUTTON_DATA_INVALID"
				}
			}
		}
	}
	return ""
}
