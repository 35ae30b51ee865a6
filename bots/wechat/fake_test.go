package wechat_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"
)

const (
	appID     = "wx2c2769f8efd9abc2"
	appSecret = "s3cr3t-app-secret"
)

// api is the one fake WeChat API of this test binary: the library's HTTP
// client and URL rewrite are process-wide, so every adapter in these tests
// points at it, and tests that use it do not run in parallel.
var api *fakeAPI

func TestMain(m *testing.M) {
	api = &fakeAPI{}
	api.srv = httptest.NewServer(http.HandlerFunc(api.serve))
	api.reset()
	code := m.Run()
	api.srv.Close()
	os.Exit(code)
}

type customSent struct {
	ToUser, Text string
}

type templateSent struct {
	ToUser, TemplateID, ClientMsgID string
	Data                            map[string]string
}

// fakeAPI speaks WeChat's wire format for the calls Rapport makes. Like
// WeChat, issuing a token invalidates every older one (the real overlap of
// five minutes is left out, so a stale token fails at once).
type fakeAPI struct {
	srv *httptest.Server

	mu        sync.Mutex
	fetches   int
	current   string
	customs   []customSent
	templates []templateSent
	// customErr / templateErr answer an errcode for an openid.
	customErr   map[string]int
	templateErr map[string]int
	// tokenDelay slows token fetches (to make replicas overlap).
	tokenDelay time.Duration
	// tokenErr, when set, answers token fetches with this errcode (40164:
	// the caller's IP is not whitelisted).
	tokenErr int
	// status, when set, answers every send with this HTTP status.
	status int
}

func (f *fakeAPI) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches, f.current, f.customs, f.templates = 0, "", nil, nil
	f.customErr, f.templateErr = map[string]int{}, map[string]int{}
	f.tokenDelay, f.status, f.tokenErr = 0, 0, 0
}

// revoke makes the current token invalid without issuing another, as when
// a tool outside Rapport fetched one.
func (f *fakeAPI) revoke() {
	f.mu.Lock()
	f.current = "revoked"
	f.mu.Unlock()
}

func (f *fakeAPI) snapshot() (fetches int, customs []customSent, templates []templateSent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches, append([]customSent(nil), f.customs...), append([]templateSent(nil), f.templates...)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	json.NewEncoder(w).Encode(v)
}

func errcode(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, map[string]any{"errcode": code, "errmsg": msg + " rid: 6543e2b1-1a2b3c4d-5e6f7a8b"})
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/cgi-bin/token":
		f.mu.Lock()
		delay, refuse := f.tokenDelay, f.tokenErr
		f.mu.Unlock()
		time.Sleep(delay)
		if refuse != 0 {
			errcode(w, refuse, "invalid ip, not in whitelist")
			return
		}
		if q.Get("grant_type") != "client_credential" || q.Get("appid") != appID || q.Get("secret") != appSecret {
			errcode(w, 40125, "invalid appsecret")
			return
		}
		f.mu.Lock()
		f.fetches++
		f.current = fmt.Sprintf("TOKEN-%d", f.fetches)
		tok := f.current
		f.mu.Unlock()
		writeJSON(w, map[string]any{"access_token": tok, "expires_in": 7200})
	case r.Method == http.MethodPost && (r.URL.Path == "/cgi-bin/message/custom/send" || r.URL.Path == "/cgi-bin/message/template/send"):
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.status != 0 {
			http.Error(w, "bad gateway", f.status)
			return
		}
		if tok := q.Get("access_token"); tok == "" || tok != f.current {
			errcode(w, 40001, "invalid credential, access_token is invalid or not latest")
			return
		}
		if r.URL.Path == "/cgi-bin/message/custom/send" {
			var body struct {
				ToUser  string `json:"touser"`
				MsgType string `json:"msgtype"`
				Text    struct {
					Content string `json:"content"`
				} `json:"text"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.MsgType != "text" || body.ToUser == "" {
				errcode(w, 44002, "empty post data")
				return
			}
			if code := f.customErr[body.ToUser]; code != 0 {
				errcode(w, code, "refused")
				return
			}
			f.customs = append(f.customs, customSent{body.ToUser, body.Text.Content})
			errcode(w, 0, "ok")
			return
		}
		var body struct {
			ToUser      string `json:"touser"`
			TemplateID  string `json:"template_id"`
			ClientMsgID string `json:"client_msg_id"`
			Data        map[string]struct {
				Value string `json:"value"`
			} `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.ToUser == "" || body.TemplateID == "" {
			errcode(w, 40037, "invalid template_id")
			return
		}
		if code := f.templateErr[body.ToUser]; code != 0 {
			errcode(w, code, "refused")
			return
		}
		data := map[string]string{}
		for k, v := range body.Data {
			data[k] = v.Value
		}
		f.templates = append(f.templates, templateSent{body.ToUser, body.TemplateID, body.ClientMsgID, data})
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "msgid": 200228332 + len(f.templates)})
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}
