package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
	"github.com/rapport-crm/rapport/web"
)

// consoleServer is a server with texts (sign-in codes need them) that
// trusts 127.0.0.1 as a proxy.
func consoleServer(t *testing.T, s *store.Store) *httptest.Server {
	t.Helper()
	if err := s.EnsureToken(context.Background(), "bootstrap", adminToken, store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.New(web.Deps{Store: s, Templates: templates.New(s, templates.Config{}), Timezone: "Asia/Shanghai",
		Proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, EventPoll: 50 * time.Millisecond}))
	t.Cleanup(srv.Close)
	return srv
}

// bound makes a staff member with a Telegram account.
func bound(t *testing.T, s *store.Store, name string, role store.Role, tg string) *store.Staff {
	t.Helper()
	ctx := context.Background()
	st, err := s.CreateStaff(ctx, store.StaffInput{Name: name, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	code, _, _ := s.CreateBindingCode(ctx, st.ID, store.SystemActor())
	if _, err := s.RedeemBindingCode(ctx, store.BindRequest{Channel: "telegram", ExternalID: tg, Code: code}); err != nil {
		t.Fatal(err)
	}
	return st
}

type browserish struct {
	t      *testing.T
	base   string
	cookie *http.Cookie
	csrf   string
}

func (b *browserish) call(method, path, body string, hdr map[string]string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

var codeRE = regexp.MustCompile(`\d{6}`)

// signIn asks for a code, reads it from the outbox and signs in.
func signIn(t *testing.T, s *store.Store, base, name string, hdr map[string]string) *browserish {
	t.Helper()
	b := &browserish{t: t, base: base}
	if resp, body := b.call("POST", "/console/api/sign-in/code", fmt.Sprintf(`{"staff":%q}`, name), nil); resp.StatusCode != 202 {
		t.Fatalf("code = %d %s", resp.StatusCode, body)
	}
	rows, err := s.ClaimOutbox(context.Background(), "telegram", 10, time.Minute)
	if err != nil || len(rows) == 0 {
		t.Fatalf("no code in the outbox: %v", err)
	}
	code := codeRE.FindString(rows[len(rows)-1].Text)
	resp, body := b.call("POST", "/console/api/sign-in", fmt.Sprintf(`{"staff":%q,"code":%q}`, name, code), hdr)
	if resp.StatusCode != 200 {
		t.Fatalf("sign in = %d %s", resp.StatusCode, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "rapport_session" {
			b.cookie = c
		}
	}
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	json.Unmarshal([]byte(body), &me)
	b.csrf = me.CSRF
	if b.cookie == nil || b.csrf == "" {
		t.Fatalf("sign in: no cookie or CSRF token: %s", body)
	}
	return b
}

func TestConsoleSignInAndCSRF(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv := consoleServer(t, s)
		ann := bound(t, s, "Ann", store.RoleManager, "7001")
		anon := &browserish{t: t, base: srv.URL}

		// Unknown and known names get the same answer.
		_, known := anon.call("POST", "/console/api/sign-in/code", `{"staff":"Ann"}`, nil)
		_, unknown := anon.call("POST", "/console/api/sign-in/code", `{"staff":"Nobody"}`, nil)
		if known != unknown {
			t.Errorf("answers differ: %s vs %s", known, unknown)
		}
		// A form post from another site is refused: only JSON signs in.
		if resp, _ := anon.call("POST", "/console/api/sign-in", "staff=Ann&code=1", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); resp.StatusCode != 400 {
			t.Errorf("form sign-in = %d", resp.StatusCode)
		}
		if resp, _ := anon.call("POST", "/console/api/sign-in", `{"staff":"Ann","code":"000000"}`, nil); resp.StatusCode != 401 {
			t.Errorf("wrong code = %d", resp.StatusCode)
		}

		b := signIn(t, s, srv.URL, "Ann", nil)
		if !b.cookie.HttpOnly || b.cookie.Secure || b.cookie.SameSite != http.SameSiteLaxMode {
			t.Errorf("cookie = %+v", b.cookie)
		}
		// Through a trusted proxy that says https, the cookie is Secure.
		if sb := signIn(t, s, srv.URL, "Ann", map[string]string{"X-Forwarded-Proto": "https"}); !sb.cookie.Secure {
			t.Error("cookie over https is not Secure")
		}

		// The admin API takes the cookie; writes need the CSRF header.
		if resp, body := b.call("GET", "/api/v1/customers", "", nil); resp.StatusCode != 200 {
			t.Errorf("read with the cookie = %d %s", resp.StatusCode, body)
		}
		if resp, _ := b.call("POST", "/api/v1/customers", `{"name":"x"}`, nil); resp.StatusCode != 403 {
			t.Errorf("write without CSRF = %d", resp.StatusCode)
		}
		if resp, _ := b.call("POST", "/api/v1/customers", `{"name":"x"}`, map[string]string{"X-CSRF-Token": "forged"}); resp.StatusCode != 403 {
			t.Errorf("write with a wrong CSRF token = %d", resp.StatusCode)
		}
		if resp, body := b.call("POST", "/api/v1/customers", `{"name":"x"}`, map[string]string{"X-CSRF-Token": b.csrf}); resp.StatusCode != 201 {
			t.Errorf("write with CSRF = %d %s", resp.StatusCode, body)
		}
		// A bearer token needs no CSRF header.
		bearer := &browserish{t: t, base: srv.URL}
		if resp, _ := bearer.call("POST", "/api/v1/customers", `{"name":"y"}`, map[string]string{"Authorization": "Bearer " + adminToken}); resp.StatusCode != 201 {
			t.Errorf("bearer write = %d", resp.StatusCode)
		}
		// me: role, zone, locale.
		_, me := b.call("GET", "/console/api/me", "", nil)
		if !strings.Contains(me, `"role":"manager"`) || !strings.Contains(me, `"timezone":"Asia/Shanghai"`) || !strings.Contains(me, `"staff_id":`+fmt.Sprint(ann.ID)) {
			t.Errorf("me = %s", me)
		}
		// Sessions: own list; everyone's only for admins.
		if _, body := b.call("GET", "/console/api/sessions", "", nil); strings.Count(body, `"staff_name":"Ann"`) != 2 {
			t.Errorf("own sessions = %s", body)
		}
		if resp, _ := b.call("GET", "/console/api/sessions?all=1", "", nil); resp.StatusCode != 403 {
			t.Errorf("manager listing everyone's sessions = %d", resp.StatusCode)
		}

		// Deactivation ends the session at once.
		off := false
		if _, err := s.UpdateStaff(context.Background(), ann.ID, store.StaffUpdate{Active: &off}, store.Actor{Role: store.RoleAdmin, Via: store.ViaAPI}); err != nil {
			t.Fatal(err)
		}
		if resp, _ := b.call("GET", "/api/v1/customers", "", nil); resp.StatusCode != 401 {
			t.Errorf("deactivated staff member's cookie = %d", resp.StatusCode)
		}
	})
}

func TestConsoleSignOut(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	srv := consoleServer(t, s)
	bound(t, s, "Bo", store.RoleAgent, "7002")
	b1 := signIn(t, s, srv.URL, "Bo", nil)
	b2 := signIn(t, s, srv.URL, "Bo", nil)
	if resp, _ := b1.call("POST", "/console/api/sign-out", "", nil); resp.StatusCode != 403 {
		t.Errorf("sign-out without CSRF = %d", resp.StatusCode)
	}
	if resp, _ := b1.call("POST", "/console/api/sign-out", "", map[string]string{"X-CSRF-Token": b1.csrf}); resp.StatusCode != 204 {
		t.Errorf("sign-out = %d", resp.StatusCode)
	}
	if resp, _ := b1.call("GET", "/console/api/me", "", nil); resp.StatusCode != 401 {
		t.Errorf("after sign-out = %d", resp.StatusCode)
	}
	if resp, _ := b2.call("GET", "/console/api/me", "", nil); resp.StatusCode != 200 {
		t.Errorf("the other device = %d", resp.StatusCode)
	}
	if resp, _ := b2.call("POST", "/console/api/sign-out-everywhere", "", map[string]string{"X-CSRF-Token": b2.csrf}); resp.StatusCode != 200 {
		t.Errorf("sign out everywhere = %d", resp.StatusCode)
	}
	if resp, _ := b2.call("GET", "/console/api/me", "", nil); resp.StatusCode != 401 {
		t.Errorf("after signing out everywhere = %d", resp.StatusCode)
	}
}

// TestInboxAPI: the list, the stream of changes, quick replies by role,
// and the newest-first conversation page.
func TestInboxAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		srv := consoleServer(t, s)
		bound(t, s, "Li", store.RoleAgent, "7003")
		agent := signIn(t, s, srv.URL, "Li", nil)
		admin := &browserish{t: t, base: srv.URL}
		auth := map[string]string{"Authorization": "Bearer " + adminToken}

		// The stream: a customer's new message arrives as an event.
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/inbox/events", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(sctx))
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("events: %v %v", resp, err)
		}
		defer resp.Body.Close()
		m, ident, _, err := s.RecordArrival(ctx, store.Arrival{Contact: store.Contact{Channel: "telegram", ExternalID: "55", DisplayName: "Zhao"},
			In: store.Inbound{Channel: "telegram", DedupKey: "u1", ChatID: "55", Kind: "text", Text: "在吗"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.MarkProcessed(ctx, []int64{m.ID}); err != nil { // as the router does
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		got := ""
		for sc.Scan() && got == "" {
			if line := sc.Text(); strings.HasPrefix(line, "data: ") && strings.Contains(line, `"customer_id":`+fmt.Sprint(ident.CustomerID)) {
				got = line
			}
		}
		if !strings.Contains(got, `"last_preview":"在吗"`) || !strings.Contains(got, `"unread":1`) {
			t.Errorf("event = %q", got)
		}
		cancel()

		_, list := admin.call("GET", "/api/v1/inbox", "", auth)
		if !strings.Contains(list, `"customer_name":"Zhao"`) {
			t.Errorf("inbox = %s", list)
		}
		// Agents see nobody else's customers.
		if _, body := agent.call("GET", "/api/v1/inbox", "", nil); !strings.Contains(body, `"items":[]`) {
			t.Errorf("agent's inbox = %s", body)
		}
		if resp, _ := admin.call("GET", "/api/v1/inbox?view=later", "", auth); resp.StatusCode != 422 {
			t.Errorf("bad view = %d", resp.StatusCode)
		}
		if resp, _ := admin.call("PATCH", fmt.Sprintf("/api/v1/customers/%d/conversation", ident.CustomerID), `{"status":"closed"}`, auth); resp.StatusCode != 422 {
			t.Errorf("bad status = %d", resp.StatusCode)
		}

		// Quick replies: everyone reads, managers and admins write.
		if resp, _ := agent.call("POST", "/api/v1/quick-replies", `{"title":"t","body":"b"}`, map[string]string{"X-CSRF-Token": agent.csrf}); resp.StatusCode != 403 {
			t.Errorf("agent writes a quick reply = %d", resp.StatusCode)
		}
		if resp, body := admin.call("POST", "/api/v1/quick-replies", `{"title":"营业时间","body":"每天 9:00-21:00"}`, auth); resp.StatusCode != 201 {
			t.Errorf("admin writes a quick reply = %d %s", resp.StatusCode, body)
		}
		if _, body := agent.call("GET", "/api/v1/quick-replies", "", nil); !strings.Contains(body, "营业时间") {
			t.Errorf("agent reads quick replies: %s", body)
		}

		// The conversation, newest first, paging back.
		for i := 0; i < 3; i++ {
			s.RecordInbound(ctx, ident, store.Inbound{Channel: "telegram", DedupKey: fmt.Sprint("p", i), ChatID: "55", Kind: "text", Text: fmt.Sprint("msg ", i)})
		}
		_, page := admin.call("GET", fmt.Sprintf("/api/v1/customers/%d/messages?order=newest&limit=2", ident.CustomerID), "", auth)
		var pg struct {
			Items []struct {
				Text string `json:"text"`
			} `json:"items"`
			Next string `json:"next_cursor"`
		}
		json.Unmarshal([]byte(page), &pg)
		if len(pg.Items) != 2 || pg.Items[0].Text != "msg 2" || pg.Next == "" {
			t.Errorf("newest page = %s", page)
		}
		_, page = admin.call("GET", fmt.Sprintf("/api/v1/customers/%d/messages?order=newest&limit=2&cursor=%s", ident.CustomerID, pg.Next), "", auth)
		json.Unmarshal([]byte(page), &pg)
		if len(pg.Items) != 2 || pg.Items[0].Text != "msg 0" || pg.Items[1].Text != "在吗" || pg.Next != "" {
			t.Errorf("older page = %s", page)
		}
		if resp, _ := admin.call("GET", fmt.Sprintf("/api/v1/customers/%d/messages?order=sideways", ident.CustomerID), "", auth); resp.StatusCode != 422 {
			t.Errorf("bad order = %d", resp.StatusCode)
		}
	})
}
