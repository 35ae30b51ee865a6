package webchat_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/bots/webchat"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func customerCount(t *testing.T, s *store.Store) int {
	t.Helper()
	cs, _, err := s.ListCustomers(context.Background(), store.CustomerFilter{Page: store.Page{Limit: 500}})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// rawPost posts without a cookie jar and returns the answer, body read.
func (h *harness) rawPost(t *testing.T, cookie *http.Cookie, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/chat/messages", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func visitorCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == webchat.CookieName {
			return c
		}
	}
	return nil
}

// TestCookielessPostsCreateNoCustomer: a post without a visitor cookie
// stores nothing and creates no customer; it gets 403 with a fresh cookie,
// and sending again with that cookie stores the message (the page does
// this by itself). Cookies are issued per address within a budget, so a
// flood of cookie-less posts can't mint customers faster than that.
func TestCookielessPostsCreateNoCustomer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		clk := storetest.NewClock(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC))
		h := setup(t, s, func(o *webchat.Options) {
			o.Now, o.NewVisitorBurst, o.NewVisitorEvery = clk.Now, 3, time.Minute
		})
		var issued *http.Cookie
		for i := range 3 {
			resp, body := h.rawPost(t, nil, fmt.Sprintf(`{"id":"f%d","text":"flood"}`, i))
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "visitor_required") || !strings.Contains(body, "open the chat page") {
				t.Fatalf("cookie-less post %d: %d %s; want 403 visitor_required", i, resp.StatusCode, body)
			}
			if issued = visitorCookie(resp); issued == nil {
				t.Fatalf("cookie-less post %d: no cookie issued", i)
			}
		}
		resp, body := h.rawPost(t, nil, `{"id":"f9","text":"flood"}`)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" || visitorCookie(resp) != nil {
			t.Fatalf("past the new-visitor budget: %d Retry-After %q cookie %v %s; want 429, 60, none",
				resp.StatusCode, resp.Header.Get("Retry-After"), visitorCookie(resp), body)
		}
		// The page still loads past the budget, without a cookie.
		page, err := http.Get(h.srv.URL + "/chat")
		if err != nil {
			t.Fatal(err)
		}
		page.Body.Close()
		if page.StatusCode != 200 || visitorCookie(page) != nil {
			t.Fatalf("page past the budget: %d cookie %v", page.StatusCode, visitorCookie(page))
		}
		if n := customerCount(t, s); n != 0 {
			t.Fatalf("cookie-less posts created %d customers", n)
		}

		// Sent again with the issued cookie, the message is stored.
		resp, body = h.rawPost(t, issued, `{"id":"real-1","text":"你好，想预约保养"}`)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post with the issued cookie: %d %s", resp.StatusCode, body)
		}
		id, _, _ := strings.Cut(issued.Value, ".")
		if ms := h.conversation(t, id); len(ms) != 1 || ms[0].Text != "你好，想预约保养" {
			t.Fatalf("stored %+v", ms)
		}
		if n := customerCount(t, s); n != 1 {
			t.Fatalf("%d customers; want 1", n)
		}

		// The budget refills.
		clk.Advance(time.Minute)
		if resp, _ := h.rawPost(t, nil, `{"id":"f10","text":"later"}`); resp.StatusCode != http.StatusForbidden || visitorCookie(resp) == nil {
			t.Fatalf("a minute later: %d cookie %v; want 403 with a cookie", resp.StatusCode, visitorCookie(resp))
		}
	})
}

// TestFirstMessageWithoutPage: a browser that posts before loading the
// page (its cookie was cleared, say) gets its message stored on the retry
// the page makes after the 403.
func TestFirstMessageWithoutPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		h := setup(t, s)
		b := h.newBrowser()
		if st, _, code := h.postAs(t, b, `{"id":"a1","text":"在吗"}`, nil); st != http.StatusForbidden || code != "visitor_required" {
			t.Fatalf("first post: %d %s", st, code)
		}
		if st, _, _ := h.postAs(t, b, `{"id":"a1","text":"在吗"}`, nil); st != http.StatusAccepted {
			t.Fatalf("retry: %d", st)
		}
		if ms := h.conversation(t, visitorOf(t, h, b)); len(ms) != 1 || ms[0].Text != "在吗" {
			t.Fatalf("stored %+v", ms)
		}
	})
}

// openStream opens an event stream for c and returns its status and a
// function that closes it.
func (h *harness) openStream(t *testing.T, c *http.Client) (int, *http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+"/chat/events", nil)
	resp, err := (&http.Client{Jar: c.Jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
	}
	return resp.StatusCode, resp, cancel
}

// TestStreamCaps: event streams are capped per visitor and per client
// address; closing one frees its slot.
func TestStreamCaps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		h := setup(t, s, func(o *webchat.Options) { o.StreamsPerVisitor, o.StreamsPerClient = 3, 5 })
		b := h.browser(t)
		var closers []context.CancelFunc
		for i := range 3 {
			st, _, cancel := h.openStream(t, b)
			if st != 200 {
				t.Fatalf("stream %d: %d", i, st)
			}
			closers = append(closers, cancel)
		}
		if st, _, _ := h.openStream(t, b); st != http.StatusTooManyRequests {
			t.Fatalf("4th stream of one visitor: %d; want 429", st)
		}
		b2 := h.browser(t)
		for i := range 2 {
			if st, _, _ := h.openStream(t, b2); st != 200 {
				t.Fatalf("other visitor's stream %d: %d", i, st)
			}
		}
		if st, _, _ := h.openStream(t, h.browser(t)); st != http.StatusTooManyRequests {
			t.Fatalf("6th stream from one address: %d; want 429", st)
		}
		closers[0]()
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, _, _ := h.openStream(t, b)
			if st == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("closed stream's slot never freed: %d", st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestEndStreams: at shutdown open streams end at once and new ones are
// refused, so the HTTP server can drain.
func TestEndStreams(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		h := setup(t, s)
		b := h.browser(t)
		st, resp, _ := h.openStream(t, b)
		if st != 200 {
			t.Fatalf("stream: %d", st)
		}
		ended := make(chan error, 1)
		go func() { _, err := io.Copy(io.Discard, resp.Body); ended <- err }()
		h.c.EndStreams()
		select {
		case err := <-ended:
			if err != nil {
				t.Fatalf("stream ended with %v; want a clean end", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("stream still open after EndStreams")
		}
		if st, _, _ := h.openStream(t, b); st != http.StatusServiceUnavailable {
			t.Fatalf("new stream after EndStreams: %d; want 503", st)
		}
	})
}
