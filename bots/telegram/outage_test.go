package telegram_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/telegram"
	"github.com/rapport-crm/rapport/bots/telegram/telegramtest"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// Telegram's state as the outage tests see it.
const (
	up      = iota
	badGate // every sendMessage answers 502 Bad Gateway
	refused // every connection is refused
)

// outage is a dispatcher sending to the Telegram double through a client
// whose connections can be refused, on a store with a test clock.
type outage struct {
	s     *store.Store
	clock *storetest.Clock
	f     *telegramtest.Server
	d     *bots.Dispatcher
	state atomic.Int32
	cid   int64 // the customer the messages go to
}

func newOutage(t *testing.T, dialect string) *outage {
	t.Helper()
	o := &outage{clock: storetest.NewClock(time.Now().UTC().Truncate(time.Second)), f: telegramtest.New(t)}
	o.s = storetest.Open(t, dialect, store.WithClock(o.clock.Now))
	o.f.SetReply(func(chatID, text string, n int) (int, string, int) {
		if o.state.Load() == badGate {
			return 502, "Bad Gateway", 0
		}
		return 0, "", 0
	})
	// A port nobody listens on refuses connections, as a Telegram API
	// that is down or blocked does.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true // every request dials: an outage starts at once
	var dialer net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if o.state.Load() == refused {
			addr = dead
		}
		return dialer.DialContext(ctx, network, addr)
	}
	a, err := telegram.New(telegram.Config{Enabled: true, Token: telegramtest.Token, Mode: "polling", APIURL: o.f.URL()},
		telegram.Options{HTTPClient: &http.Client{Transport: tr, Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	o.d = bots.NewDispatcher(o.s, bots.DispatcherOptions{Poll: 10 * time.Millisecond})
	o.d.Add(a, bots.Limits{})
	id, err := o.s.ResolveIdentity(context.Background(), store.Contact{Channel: store.ChannelTelegram, ExternalID: "777"})
	if err != nil {
		t.Fatal(err)
	}
	o.cid = id.CustomerID
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return o
}

func (o *outage) enqueue(t *testing.T, texts ...string) {
	t.Helper()
	items := make([]store.Outbound, len(texts))
	for i, text := range texts {
		items[i] = store.Outbound{CustomerID: &o.cid, Channel: store.ChannelTelegram, ChatID: "777", Text: text, IdempotencyKey: text}
	}
	if _, err := o.s.Enqueue(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	o.d.Kick()
}

func (o *outage) messages(t *testing.T) []*store.Message {
	t.Helper()
	ms, _, err := o.s.ListMessages(context.Background(), o.cid, store.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// settle waits until no message is due at the clock's time: each has been
// tried and has its next try in the clock's future, or is done.
func (o *outage) settle(t *testing.T) {
	t.Helper()
	telegramtest.WaitFor(t, "every due message tried", 10*time.Second, func() bool {
		for _, m := range o.messages(t) {
			if m.Status == store.StatusQueued && !m.NextAttemptAt.After(o.clock.Now()) {
				return false
			}
		}
		return true
	})
}

// A two-minute outage of the Telegram API (first answering 502, then
// refusing connections) fails no message: each waits with backoff and
// all are sent, once, when the API is back. (Before, a message was
// failed after its 8th attempt, well within two minutes of outage.)
func TestOutageFailsNoMessage(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			o := newOutage(t, d)
			o.state.Store(badGate)
			var texts []string
			for i := range 20 {
				texts = append(texts, fmt.Sprint("outage-", i))
			}
			o.enqueue(t, texts...)
			o.settle(t)
			for elapsed := time.Duration(0); elapsed < 2*time.Minute; elapsed += 5 * time.Second {
				if elapsed == time.Minute {
					o.state.Store(refused)
				}
				o.clock.Advance(5 * time.Second)
				o.settle(t)
				for _, m := range o.messages(t) {
					if m.Status != store.StatusQueued {
						t.Fatalf("after %s of outage %q is %s (%s)", elapsed+5*time.Second, m.Text, m.Status, m.Reason)
					}
				}
			}
			if got := len(o.f.Sends()); got != 0 {
				t.Fatalf("%d messages went through a dead API", got)
			}
			tried := 0
			for _, text := range texts {
				tried += o.f.Calls(text)
			}
			if tried <= len(texts) {
				t.Fatalf("%d calls for %d messages: they were not retried while the API answered 502", tried, len(texts))
			}

			o.state.Store(up)
			o.clock.Advance(30 * time.Minute) // the longest backoff
			telegramtest.WaitFor(t, "all sent after the outage", 10*time.Second, func() bool { return len(o.f.Sends()) == len(texts) })
			o.settle(t)
			for _, m := range o.messages(t) {
				if m.Status != store.StatusSent || m.Attempts < 3 || m.Reason != "" {
					t.Errorf("%q: %s after %d attempts, reason %q", m.Text, m.Status, m.Attempts, m.Reason)
				}
				if n := len(o.f.SentTo("777")); n != len(texts) {
					t.Errorf("chat got %d messages, want %d", n, len(texts))
				}
			}
		})
	}
}

// A message still meeting 5xx after 24 hours is failed, saying why; an
// answer that can never succeed (400) fails at once; staff requeuing a
// failed message gives it a new day of retries.
func TestRetriedForADay(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			o := newOutage(t, d)
			o.f.SetReply(func(chatID, text string, n int) (int, string, int) {
				switch {
				case text == "bad":
					return 400, "Bad Request: message text is too long", 0
				case o.state.Load() == badGate:
					return 502, "Bad Gateway", 0
				}
				return 0, "", 0
			})
			o.state.Store(badGate)
			o.enqueue(t, "day", "bad")
			o.settle(t)
			status := func() map[string]*store.Message {
				out := map[string]*store.Message{}
				for _, m := range o.messages(t) {
					out[m.Text] = m
				}
				return out
			}
			if m := status()["bad"]; m.Status != store.StatusFailed || o.f.Calls("bad") != 1 {
				t.Fatalf("400: %s after %d calls; want failed after 1", m.Status, o.f.Calls("bad"))
			}

			o.clock.Advance(24*time.Hour - time.Minute)
			o.settle(t)
			if m := status()["day"]; m.Status != store.StatusQueued || o.f.Calls("day") < 2 {
				t.Fatalf("a minute before the day is out: %s after %d calls", m.Status, o.f.Calls("day"))
			}
			o.clock.Advance(2 * time.Minute)
			o.settle(t)
			m := status()["day"]
			if m.Status != store.StatusFailed || !strings.Contains(m.Reason, "gave up after 24h") {
				t.Fatalf("after a day of 502s: %s (%s)", m.Status, m.Reason)
			}
			calls := o.f.Calls("day")

			// Requeued once Telegram is back, it goes out.
			o.state.Store(up)
			n, err := o.s.RequeueFailed(context.Background(), store.RequeueFilter{IDs: []int64{m.ID}})
			if err != nil || n != 1 {
				t.Fatalf("requeue: %d %v", n, err)
			}
			o.d.Kick()
			telegramtest.WaitFor(t, "requeued message sent", 10*time.Second, func() bool { return len(o.f.SentTo("777")) == 1 })
			if got := o.f.Calls("day"); got != calls+1 {
				t.Errorf("requeued message took %d more calls, want 1", got-calls)
			}
			if m := status()["bad"]; m.Status != store.StatusFailed {
				t.Errorf("a message not requeued changed: %s", m.Status)
			}
		})
	}
}
