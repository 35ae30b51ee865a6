package webchat_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/webchat"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
)

type harness struct {
	s   *store.Store
	c   *webchat.Channel
	srv *httptest.Server
}

func setup(t *testing.T, s *store.Store, opts ...func(*webchat.Options)) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := bots.NewDispatcher(s, bots.DispatcherOptions{Poll: 10 * time.Millisecond})
	r := bots.NewRouter(s, bots.RouterOptions{Notify: d.Kick, Renderer: templates.New(s, templates.Config{})})
	o := webchat.Options{Receiver: r, Store: s, Poll: 20 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	c, err := webchat.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	d.Add(c, c.Limits())
	mux := http.NewServeMux()
	c.Register(mux.Handle)
	h := &harness{s: s, c: c, srv: httptest.NewServer(mux)}
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{r.Run, d.Run, c.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); run(ctx) }()
	}
	t.Cleanup(func() { h.srv.CloseClientConnections(); h.srv.Close(); cancel(); wg.Wait() })
	return h
}

// browser is a client with its own cookie jar that has opened the chat
// page, as a visitor does before writing.
func (h *harness) browser(t *testing.T) *http.Client {
	t.Helper()
	b := h.newBrowser()
	resp, err := b.Get(h.srv.URL + "/chat")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return b
}

// newBrowser is a client with an empty cookie jar.
func (h *harness) newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func (h *harness) post(t *testing.T, c *http.Client, body string) *http.Response {
	t.Helper()
	resp, err := c.Post(h.srv.URL+"/chat/messages", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func visitorOf(t *testing.T, h *harness, c *http.Client) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/chat", nil)
	for _, ck := range c.Jar.Cookies(req.URL) {
		if ck.Name == webchat.CookieName {
			id, _, _ := strings.Cut(ck.Value, ".")
			return id
		}
	}
	t.Fatal("no visitor cookie")
	return ""
}

func (h *harness) conversation(t *testing.T, visitor string) []*store.Message {
	t.Helper()
	id, err := h.s.IdentityByExternal(context.Background(), store.ChannelWebChat, visitor)
	if err != nil {
		t.Fatal(err)
	}
	ms, _, err := h.s.ListMessages(context.Background(), id.CustomerID, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestPageAndCookie(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		h := setup(t, s)
		b := h.browser(t)
		resp, err := b.Get(h.srv.URL + "/chat")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		v := visitorOf(t, h, b)
		if r := h.post(t, b, `{"id":"m1","text":"你好，想问下保养"}`); r.StatusCode != http.StatusAccepted {
			t.Fatalf("post: %d", r.StatusCode)
		}
		if got := visitorOf(t, h, b); got != v {
			t.Fatalf("visitor changed from %s to %s", v, got)
		}
		if ms := h.conversation(t, v); len(ms) != 1 || ms[0].Text != "你好，想问下保养" || ms[0].Channel != "webchat" {
			t.Fatalf("stored %+v", ms)
		}
		c, _ := h.s.CustomerByID(context.Background(), *h.conversation(t, v)[0].CustomerID)
		if c.Source != "webchat" {
			t.Fatalf("source %q", c.Source)
		}

		// A second replica on the same database accepts the cookie.
		c2, err := webchat.New(context.Background(), webchat.Options{Receiver: bots.NewRouter(s, bots.RouterOptions{Renderer: templates.New(s, templates.Config{})}), Store: s})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		c2.Register(mux.Handle)
		req := httptest.NewRequest(http.MethodGet, "/chat/messages", nil)
		u, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/chat", nil)
		for _, ck := range b.Jar.Cookies(u.URL) {
			req.AddCookie(ck)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Header().Get("Set-Cookie") != "" || !strings.Contains(rec.Body.String(), "想问下保养") {
			t.Fatalf("replica 2 did not recognise the visitor: %s %s", rec.Header().Get("Set-Cookie"), rec.Body.String())
		}

		// A tampered cookie is a new visitor, who sees nothing of v's.
		forged := &http.Cookie{Name: webchat.CookieName, Value: v + ".AAAA"}
		req = httptest.NewRequest(http.MethodGet, "/chat/messages", nil)
		req.AddCookie(forged)
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if !strings.Contains(rec.Header().Get("Set-Cookie"), webchat.CookieName) || strings.Contains(rec.Body.String(), "保养") {
			t.Fatalf("tampered cookie: %s %s", rec.Header().Get("Set-Cookie"), rec.Body.String())
		}
		if strings.Contains(rec.Header().Get("Set-Cookie"), v) {
			t.Fatal("tampered cookie kept its visitor id")
		}
	})
}

func TestPostValidation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		h := setup(t, s)
		b := h.browser(t)
		for _, c := range []struct {
			body string
			want int
		}{
			{`{"text":`, 400},
			{`{"text":"a","extra":1}`, 400},
			{`{"text":"a"} {"text":"b"}`, 400},
			{`{"text":"   "}`, 422},
			{`{"text":"` + strings.Repeat("长", 4097) + `"}`, 422},
			{`{"id":"` + strings.Repeat("x", 65) + `","text":"a"}`, 422},
			{`{"text":"` + strings.Repeat("x", 17<<10) + `"}`, 413},
		} {
			if r := h.post(t, b, c.body); r.StatusCode != c.want {
				t.Errorf("%.40s: %d; want %d", c.body, r.StatusCode, c.want)
			}
		}
		resp, err := b.Post(h.srv.URL+"/chat/messages", "text/plain", strings.NewReader(`{"text":"a"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("text/plain: %d; want 415", resp.StatusCode)
		}
		if _, err := s.IdentityByExternal(context.Background(), store.ChannelWebChat, visitorOf(t, h, b)); !store.IsCode(err, store.ENOTFOUND) {
			t.Fatalf("refused posts created a customer: %v", err)
		}
		// A retried post (same id) is stored once.
		for range 3 {
			if r := h.post(t, b, `{"id":"retry-1","text":"在吗"}`); r.StatusCode != http.StatusAccepted {
				t.Fatalf("post: %d", r.StatusCode)
			}
		}
		if ms := h.conversation(t, visitorOf(t, h, b)); len(ms) != 1 {
			t.Fatalf("retried post stored %d times", len(ms))
		}
	})
}

type event struct{ id, data string }

// stream opens the event stream and sends what arrives on the channel.
func stream(t *testing.T, h *harness, c *http.Client, lastID string) <-chan event {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/chat/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req = req.WithContext(ctx)
	sc := &http.Client{Jar: c.Jar}
	resp, err := sc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan event, 16)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			case line == "" && ev.data != "":
				out <- ev
				ev = event{}
			}
		}
	}()
	return out
}

func next(t *testing.T, ch <-chan event) (event, string) {
	t.Helper()
	select {
	case ev := <-ch:
		var m struct {
			Text      string `json:"text"`
			Direction string `json:"direction"`
		}
		if err := json.Unmarshal([]byte(ev.data), &m); err != nil || m.Direction != "out" {
			t.Fatalf("event %q: %v", ev.data, err)
		}
		return ev, m.Text
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return event{}, ""
}

// TestRepliesStreamLive: an agent's reply goes through the outbox and
// reaches the visitor's open event stream; a reconnect resumes after the
// last event it saw.
func TestRepliesStreamLive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		h := setup(t, s)
		b := h.browser(t)
		if r := h.post(t, b, `{"id":"q1","text":"营业时间？"}`); r.StatusCode != http.StatusAccepted {
			t.Fatalf("post: %d", r.StatusCode)
		}
		v := visitorOf(t, h, b)
		cid := *h.conversation(t, v)[0].CustomerID
		events := stream(t, h, b, "")
		m1, err := s.SendToCustomer(ctx, cid, "每天 9:00-21:00")
		if err != nil {
			t.Fatal(err)
		}
		ev1, text := next(t, events)
		if text != "每天 9:00-21:00" {
			t.Fatalf("streamed %q", text)
		}
		if got, _ := s.MessageByID(ctx, m1.ID); got.Status != store.StatusSent || got.ProviderMsgID == "" {
			t.Fatalf("reply row %s %q; want sent with a provider id", got.Status, got.ProviderMsgID)
		}
		if _, err := s.SendToCustomer(ctx, cid, "周末也营业"); err != nil {
			t.Fatal(err)
		}
		if _, text := next(t, events); text != "周末也营业" {
			t.Fatalf("streamed %q", text)
		}
		// Reconnecting with the first event's id gets only the second.
		if _, text := next(t, stream(t, h, b, ev1.id)); text != "周末也营业" {
			t.Fatalf("resumed with %q", text)
		}
		// History shows both directions.
		resp, err := b.Get(h.srv.URL + "/chat/messages")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var hist struct {
			Items []struct {
				Direction, Text string
			}
			Cursor string
		}
		json.NewDecoder(resp.Body).Decode(&hist)
		if len(hist.Items) != 3 || hist.Items[0].Direction != "in" || hist.Items[2].Text != "周末也营业" || hist.Cursor == "" {
			t.Fatalf("history %+v", hist)
		}
		// Another visitor's stream sees none of it.
		other := h.browser(t)
		h.post(t, other, `{"id":"x","text":"hello"}`)
		oe := stream(t, h, other, "")
		if _, err := s.SendToCustomer(ctx, cid, "只给第一位访客"); err != nil {
			t.Fatal(err)
		}
		if _, text := next(t, events); text != "只给第一位访客" {
			t.Fatalf("streamed %q", text)
		}
		select {
		case ev := <-oe:
			t.Fatalf("another visitor got %q", ev.data)
		case <-time.After(100 * time.Millisecond):
		}
	})
}

// postAs posts body with optional headers and returns the status, the
// Retry-After header and the error code of the answer.
func (h *harness) postAs(t *testing.T, c *http.Client, body string, hdr map[string]string) (status int, retry, code string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/chat/messages", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code, Message string }
	}
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode == http.StatusTooManyRequests && e.Error.Message == "" {
		t.Errorf("429 without an error message")
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), e.Error.Code
}

// TestPostRateLimit: a visitor gets a burst, then one message per interval;
// a refused post is stored nowhere and leaves other visitors alone.
func TestPostRateLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		clk := storetest.NewClock(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC))
		h := setup(t, s, func(o *webchat.Options) { o.Now = clk.Now })
		browsers := map[string]*http.Client{"a": h.browser(t), "b": h.browser(t)}
		steps := []struct {
			who     string
			advance time.Duration
			want    int
			retry   string
		}{
			{"a", 0, 202, ""},
			{"a", 0, 202, ""},
			{"a", 0, 202, ""},
			{"a", 0, 202, ""},
			{"a", 0, 202, ""}, // the burst of 5
			{"a", 0, 429, "2"},
			{"a", time.Second, 429, "1"},
			{"b", 0, 202, ""}, // another visitor is unaffected
			{"a", time.Second, 202, ""},
			{"a", 0, 429, "2"},
		}
		for i, st := range steps {
			clk.Advance(st.advance)
			body := fmt.Sprintf(`{"id":"m%d","text":"消息 %d"}`, i, i)
			status, retry, code := h.postAs(t, browsers[st.who], body, nil)
			if status != st.want || retry != st.retry {
				t.Fatalf("step %d (%s): %d Retry-After %q; want %d %q", i, st.who, status, retry, st.want, st.retry)
			}
			if status == http.StatusTooManyRequests && code != "rate_limited" {
				t.Fatalf("step %d: code %q; want rate_limited", i, code)
			}
		}
		for who, want := range map[string]int{"a": 6, "b": 1} {
			if got := len(h.conversation(t, visitorOf(t, h, browsers[who]))); got != want {
				t.Errorf("visitor %s: %d messages stored; want %d", who, got, want)
			}
		}

		// Visitors idle for over 10 minutes are forgotten.
		if v, _ := h.c.LimiterKeys(); v != 2 {
			t.Fatalf("%d visitors held; want 2", v)
		}
		clk.Advance(11 * time.Minute)
		if status, _, _ := h.postAs(t, h.browser(t), `{"id":"late","text":"还在吗"}`, nil); status != 202 {
			t.Fatalf("post after idle: %d", status)
		}
		if v, ips := h.c.LimiterKeys(); v != 1 || ips != 1 {
			t.Fatalf("after the sweep: %d visitors, %d addresses held; want 1, 1", v, ips)
		}
	})
}

// TestPostRateLimitPerAddress: taking a new visitor per post does not
// escape the limit of the client address, named by a trusted proxy.
func TestPostRateLimitPerAddress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		clk := storetest.NewClock(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC))
		h := setup(t, s, func(o *webchat.Options) {
			o.Now, o.IPBurst, o.IPEvery = clk.Now, 3, time.Second
			o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		})
		steps := []struct {
			ip      string
			advance time.Duration
			want    int
		}{
			{"203.0.113.7", 0, 202},
			{"203.0.113.7", 0, 202},
			{"203.0.113.7", 0, 202},
			{"203.0.113.7", 0, 429},
			{"203.0.113.8", 0, 202}, // another address is unaffected
			{"203.0.113.7", time.Second, 202},
			{"203.0.113.7", 0, 429},
		}
		for i, st := range steps {
			clk.Advance(st.advance)
			// The test server is on loopback, the trusted proxy: its
			// X-Forwarded-For names the client.
			hdr := map[string]string{"X-Forwarded-For": "198.51.100.1, " + st.ip}
			b := h.newBrowser()
			h.getAs(t, b, "/chat", hdr)
			status, retry, _ := h.postAs(t, b, fmt.Sprintf(`{"id":"m%d","text":"hi"}`, i), hdr)
			if status != st.want {
				t.Fatalf("step %d (%s): %d; want %d", i, st.ip, status, st.want)
			}
			if status == http.StatusTooManyRequests && retry != "1" {
				t.Fatalf("step %d: Retry-After %q; want 1", i, retry)
			}
		}
	})
}

// getAs GETs path with optional headers and returns the status.
func (h *harness) getAs(t *testing.T, c *http.Client, path string, hdr map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	for _, c := range []struct {
		name, remote, xff, want string
		trusted                 []netip.Prefix
	}{
		{"direct", "198.51.100.9:5000", "", "198.51.100.9", proxies},
		{"direct client forging the header", "198.51.100.9:5000", "10.1.1.1", "198.51.100.9", proxies},
		{"behind a trusted local proxy", "127.0.0.1:5000", "192.0.2.1, 203.0.113.7", "203.0.113.7", proxies},
		{"behind a trusted private proxy", "10.0.0.2:5000", "203.0.113.7", "203.0.113.7", proxies},
		{"two trusted proxies", "10.0.0.2:5000", "192.0.2.1, 203.0.113.7, 10.0.0.3", "203.0.113.7", proxies},
		{"header in two lines", "10.0.0.2:5000", "", "203.0.113.9", proxies},
		{"proxy without the header", "10.0.0.2:5000", "", "10.0.0.2", proxies},
		{"garbage header", "127.0.0.1:5000", "unknown", "127.0.0.1", proxies},
		{"private peer not configured", "192.168.1.5:5000", "203.0.113.7", "192.168.1.5", proxies},
		{"no proxies trusted (the default)", "127.0.0.1:5000", "203.0.113.7", "127.0.0.1", nil},
		{"ipv6 by /64", "[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64", proxies},
		{"mapped ipv4", "[::ffff:198.51.100.9]:443", "", "198.51.100.9", proxies},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/chat/messages", nil)
			r.RemoteAddr = c.remote
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			if c.name == "header in two lines" {
				r.Header.Add("X-Forwarded-For", "192.0.2.1")
				r.Header.Add("X-Forwarded-For", "203.0.113.9")
			}
			if got := webchat.ClientIP(r, c.trusted); got != c.want {
				t.Errorf("got %q; want %q", got, c.want)
			}
		})
	}
}
