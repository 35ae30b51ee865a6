package telegram_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

const token = "123:TEST"

// sent is one sendMessage call the fake accepted.
type sent struct {
	ChatID      string
	Text        string
	ReplyMarkup string
	At          time.Time
}

// fakeAPI is a Telegram Bot API double speaking the real wire format:
// multipart form POSTs to /bot<token>/<method>, JSON {"ok",...} answers.
type fakeAPI struct {
	srv *httptest.Server

	mu        sync.Mutex
	sends     []sent
	calls     map[string]int // sendMessage calls per text, whatever the answer
	answered  []string
	webhook   map[string]string
	deletes   int
	tooMany   int // 429s answered
	lastLimit time.Time

	// limiter, when set, answers 429 to sends above the rate, like
	// Telegram's flood control; every such 429 is one we caused.
	limiter *rate.Limiter
	// reply, when set, may answer a sendMessage instead of the default.
	reply func(chatID, text string, n int) (code int, desc string, retryAfter int)
}

func newFake(t testing.TB) *fakeAPI {
	f := &fakeAPI{calls: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/bot"+token+"/")
	if !ok || r.Method != http.MethodPost {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch method {
	case "getMe":
		fmt.Fprint(w, `{"ok":true,"result":{"id":1,"is_bot":true,"first_name":"b","username":"rapport_bot"}}`)
	case "setWebhook":
		f.mu.Lock()
		f.webhook = map[string]string{"url": r.FormValue("url"), "secret_token": r.FormValue("secret_token")}
		f.mu.Unlock()
		fmt.Fprint(w, `{"ok":true,"result":true}`)
	case "deleteWebhook":
		f.mu.Lock()
		f.deletes++
		f.mu.Unlock()
		fmt.Fprint(w, `{"ok":true,"result":true}`)
	case "answerCallbackQuery":
		f.mu.Lock()
		f.answered = append(f.answered, r.FormValue("callback_query_id"))
		f.mu.Unlock()
		fmt.Fprint(w, `{"ok":true,"result":true}`)
	case "sendMessage":
		f.sendMessage(w, r)
	default:
		fmt.Fprintf(w, `{"ok":false,"error_code":404,"description":"Not Found: method %s"}`, method)
	}
}

func (f *fakeAPI) sendMessage(w http.ResponseWriter, r *http.Request) {
	chatID, text := r.FormValue("chat_id"), r.FormValue("text")
	if chatID == "" || text == "" {
		fmt.Fprint(w, `{"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}`)
		return
	}
	if rm := r.FormValue("reply_markup"); rm != "" && !json.Valid([]byte(rm)) {
		fmt.Fprint(w, `{"ok":false,"error_code":400,"description":"Bad Request: can't parse reply keyboard markup JSON object"}`)
		return
	}
	f.mu.Lock()
	f.calls[text]++
	n := f.calls[text]
	reply := f.reply
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
	if f.limiter != nil && !f.limiter.Allow() {
		f.mu.Lock()
		f.tooMany++
		f.mu.Unlock()
		fmt.Fprint(w, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`)
		return
	}
	f.mu.Lock()
	f.sends = append(f.sends, sent{ChatID: chatID, Text: text, ReplyMarkup: r.FormValue("reply_markup"), At: time.Now()})
	id := len(f.sends)
	f.mu.Unlock()
	fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"date":0,"chat":{"id":%s,"type":"private"},"text":%q}}`, id, chatID, text)
}

func (f *fakeAPI) sent() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.sends...)
}

func (f *fakeAPI) sentTo(chatID string) []string {
	var out []string
	for _, s := range f.sent() {
		if s.ChatID == chatID {
			out = append(out, s.Text)
		}
	}
	return out
}

func (f *fakeAPI) callsFor(text string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[text]
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
