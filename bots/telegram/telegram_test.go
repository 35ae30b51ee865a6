package telegram_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/telegram"
	"github.com/rapport-crm/rapport/bots/telegram/telegramtest"
	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
)

const secret = "s3cret-token_1-0123456789abcdefghij"

type harness struct {
	s *store.Store
	f *telegramtest.Server
	a *telegram.Adapter
	r *bots.Router
	d *bots.Dispatcher
}

type setupOpts struct {
	rate    float64
	hooks   []bots.Hook
	noRun   bool // build only; the test runs the loops itself
	dispatc bots.DispatcherOptions
	// realPerChat keeps Telegram's 1/s per chat; other tests lift it so a
	// conversation's replies need not take a second each.
	realPerChat bool
	// recoverAfter is how old an unprocessed message must be before the
	// router processes it as an orphan (default: the router's 1 min).
	recoverAfter time.Duration
	// renderer renders the replies (default: the shipped templates).
	renderer render.Renderer
	// workers is the router's (default 4); notify is called besides
	// waking the dispatcher.
	workers int
	notify  func()
}

func setup(t *testing.T, s *store.Store, f *telegramtest.Server, o setupOpts) *harness {
	t.Helper()
	if o.dispatc.Poll == 0 {
		o.dispatc.Poll = 10 * time.Millisecond
	}
	if o.renderer == nil {
		o.renderer = templates.New(s, templates.Config{})
	}
	h := &harness{s: s, f: f}
	h.d = bots.NewDispatcher(s, o.dispatc)
	notify := h.d.Kick
	if o.notify != nil {
		notify = func() { o.notify(); h.d.Kick() }
	}
	h.r = bots.NewRouter(s, bots.RouterOptions{Hooks: o.hooks, Notify: notify, RecoverAfter: o.recoverAfter, RecoverEvery: 20 * time.Millisecond,
		Renderer: o.renderer, Workers: o.workers})
	a, err := telegram.New(telegram.Config{
		Enabled: true, Token: telegramtest.Token, Mode: "webhook", WebhookSecret: secret,
		APIURL: f.URL() + "/", RatePerSecond: o.rate, // trailing slash must be trimmed
	}, telegram.Options{Receiver: h.r, PublicURL: "https://crm.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	h.a = a
	lim := a.Limits()
	if !o.realPerChat {
		lim.PerChat = 0
	}
	h.d.Add(a, lim)
	if !o.noRun {
		h.run(t, h.r.Run, h.d.Run, a.Run)
	}
	return h
}

// run starts loops and stops them (waiting) when the test ends.
func (h *harness) run(t *testing.T, loops ...func(context.Context) error) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); l(ctx) }()
	}
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

func (h *harness) post(body string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, telegram.WebhookPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.a.ServeHTTP(rec, req)
	return rec
}

func textUpdate(id, user int64, text string) string {
	return fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":1767225600,"chat":{"id":%d,"type":"private"},"from":{"id":%d,"is_bot":false,"first_name":"Li","language_code":"en"},"text":%q}}`,
		id, id, user, user, text)
}

func (h *harness) customerOf(t *testing.T, user int64) *store.Customer {
	t.Helper()
	ctx := context.Background()
	id, err := h.s.IdentityByExternal(ctx, store.ChannelTelegram, fmt.Sprint(user))
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.s.CustomerByID(ctx, id.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (h *harness) messages(t *testing.T, customerID int64) []*store.Message {
	t.Helper()
	ms, _, err := h.s.ListMessages(context.Background(), customerID, store.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func customers(t *testing.T, s *store.Store) int {
	t.Helper()
	cs, _, err := s.ListCustomers(context.Background(), store.CustomerFilter{Page: store.Page{Limit: 500}})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

func TestWebhookIntake(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		h := setup(t, s, telegramtest.New(t), setupOpts{noRun: true})
		tests := []struct {
			name string
			body string
			hdr  map[string]string
			want int
		}{
			{"missing secret", textUpdate(1, 42, "hi"), map[string]string{"X-Telegram-Bot-Api-Secret-Token": ""}, 403},
			{"wrong secret", textUpdate(1, 42, "hi"), map[string]string{"X-Telegram-Bot-Api-Secret-Token": secret + "x"}, 403},
			{"bad json", `{"update_id":1,"message":`, nil, 400},
			{"not an object", `[1,2]`, nil, 400},
			{"too big", `{"update_id":1,"message":{"text":"` + strings.Repeat("a", 1<<20) + `"}}`, nil, 413},
			{"unknown update type", `{"update_id":5,"poll":{"id":"p","question":"q"}}`, nil, 200},
			{"edited message ignored", `{"update_id":6,"edited_message":{"message_id":1,"date":1,"chat":{"id":42,"type":"private"},"from":{"id":42},"text":"x"}}`, nil, 200},
		}
		for _, tt := range tests {
			if got := h.post(tt.body, tt.hdr).Code; got != tt.want {
				t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
			}
		}
		if n := customers(t, s); n != 0 {
			t.Fatalf("refused or ignored updates created %d customers", n)
		}

		// The same update twice is stored once.
		for range 2 {
			if got := h.post(textUpdate(7, 42, "hello"), nil).Code; got != 200 {
				t.Fatalf("status %d", got)
			}
		}
		c := h.customerOf(t, 42)
		if ms := h.messages(t, c.ID); len(ms) != 1 || ms[0].Text != "hello" || ms[0].Direction != "in" {
			t.Fatalf("messages after duplicate delivery: %+v", ms)
		}
		if c.Source != store.ChannelTelegram || c.Name != "Li" {
			t.Errorf("customer source %q name %q", c.Source, c.Name)
		}
	})
}

func TestCommands(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := telegramtest.New(t)
		h := setup(t, s, f, setupOpts{})
		const user = 4242
		chat := fmt.Sprint(user)
		n := int64(100)
		say := func(text string) {
			t.Helper()
			n++
			if got := h.post(textUpdate(n, user, text), nil).Code; got != 200 {
				t.Fatalf("%s: status %d", text, got)
			}
		}
		// expect waits for the k-th reply and checks it contains want.
		k := 0
		expect := func(want string) {
			t.Helper()
			k++
			telegramtest.WaitFor(t, "reply "+want, 10*time.Second, func() bool { return len(f.SentTo(chat)) >= k })
			if got := f.SentTo(chat)[k-1]; !strings.Contains(got, want) {
				t.Fatalf("reply %d = %q, want it to contain %q", k, got, want)
			}
		}

		say("/start@rapport_bot")
		expect("Welcome")
		say("/birthday 1990-05-17")
		expect("Your birthday is May 17.")
		if b := h.customerOf(t, user).Birthday.String(); b != "1990-05-17" {
			t.Fatalf("birthday %q", b)
		}
		say("/birthday 13-45")
		expect("I could not read that date")
		if b := h.customerOf(t, user).Birthday.String(); b != "1990-05-17" {
			t.Fatalf("bad date changed birthday to %q", b)
		}
		say("/birthday 05-18")
		expect("Your birthday is May 18.")
		say("/stop")
		expect("we will not send you care messages any more")
		if !h.customerOf(t, user).OptOut {
			t.Fatal("/stop did not opt out")
		}
		say("/resume")
		expect("Care messages are switched back on.")
		if h.customerOf(t, user).OptOut {
			t.Fatal("/resume did not opt in")
		}
		if _, err := s.AdjustPoints(ctx, store.SystemActor(), h.customerOf(t, user).ID, store.PointsAdjustment{Points: 120, Reason: "gift"}); err != nil {
			t.Fatal(err)
		}
		say("/points")
		expect("You have 120 points")
		say("just chatting")
		say("/phone 12")
		expect("does not look like a phone number")

		// Every command and its reply are in the conversation, replies
		// recording the template that produced them.
		ms := h.messages(t, h.customerOf(t, user).ID)
		var in, out int
		for _, m := range ms {
			if m.Direction == "in" {
				in++
			} else {
				out++
				if m.TemplateKey == "" {
					t.Errorf("reply %q without template key", m.Text)
				}
			}
		}
		if in != 9 || out != 8 {
			t.Fatalf("conversation has %d in / %d out, want 9 / 8", in, out)
		}
	})
}

func TestCallbackAnsweredAndBlocked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := telegramtest.New(t)
		var mu sync.Mutex
		var seen []*store.ChatEvent
		hook := hookFunc(func(_ context.Context, ev *store.ChatEvent) (bool, error) {
			mu.Lock()
			seen = append(seen, ev)
			mu.Unlock()
			return true, nil
		})
		h := setup(t, s, f, setupOpts{hooks: []bots.Hook{hook}})
		h.post(textUpdate(1, 55, "hi"), nil)
		cb := `{"update_id":2,"callback_query":{"id":"cbq-1","from":{"id":55,"is_bot":false,"first_name":"Li"},"chat_instance":"x","data":"sv:9:4",
			"message":{"message_id":31,"date":1767225600,"chat":{"id":55,"type":"private"},"text":"How did we do?"}}}`
		if got := h.post(cb, nil).Code; got != 200 {
			t.Fatalf("callback status %d", got)
		}
		telegramtest.WaitFor(t, "answerCallbackQuery", 5*time.Second, func() bool {
			a := f.Answered()
			return len(a) == 1 && a[0] == "cbq-1"
		})
		telegramtest.WaitFor(t, "hook", 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 2 })
		// Workers run in parallel: the button may be processed first.
		ev := seen[1]
		if seen[0].Message.Kind == bots.KindCallback {
			ev = seen[0]
		}
		if ev.CallbackData != "sv:9:4" || ev.ReplyToProviderMsgID != "31" || ev.SenderID != "55" || ev.Identity == nil {
			t.Fatalf("callback event: %+v", ev)
		}

		blocked := `{"update_id":3,"my_chat_member":{"chat":{"id":55,"type":"private"},"from":{"id":55,"is_bot":false,"first_name":"Li"},"date":1767225700,
			"old_chat_member":{"status":"member","user":{"id":1,"is_bot":true,"first_name":"b"}},"new_chat_member":{"status":"kicked","user":{"id":1,"is_bot":true,"first_name":"b"},"until_date":0}}}`
		if got := h.post(blocked, nil).Code; got != 200 {
			t.Fatalf("my_chat_member status %d", got)
		}
		id, err := s.IdentityByExternal(ctx, store.ChannelTelegram, "55")
		if err != nil || !id.Unreachable {
			t.Fatalf("after block: %+v, %v", id, err)
		}
		unblocked := strings.NewReplacer(`"update_id":3`, `"update_id":4`, `"status":"kicked"`, `"status":"member"`).Replace(blocked)
		h.post(unblocked, nil)
		if id, _ := s.IdentityByExternal(ctx, store.ChannelTelegram, "55"); id.Unreachable {
			t.Fatal("unblocked identity still unreachable")
		}
		// A stranger blocking the bot creates no customer.
		h.post(strings.NewReplacer(`"update_id":3`, `"update_id":5`, `"id":55`, `"id":66`).Replace(blocked), nil)
		if _, err := s.IdentityByExternal(ctx, store.ChannelTelegram, "66"); !store.IsCode(err, store.ENOTFOUND) {
			t.Fatalf("stranger's block created an identity: %v", err)
		}
	})
}

type hookFunc func(ctx context.Context, ev *store.ChatEvent) (bool, error)

func (f hookFunc) HandleChat(ctx context.Context, ev *store.ChatEvent) (bool, error) {
	return f(ctx, ev)
}

func TestStaffAndBindBypassCustomers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		var mu sync.Mutex
		var seen []*store.ChatEvent
		hook := hookFunc(func(_ context.Context, ev *store.ChatEvent) (bool, error) {
			mu.Lock()
			seen = append(seen, ev)
			mu.Unlock()
			return true, nil
		})
		h := setup(t, s, telegramtest.New(t), setupOpts{hooks: []bots.Hook{hook}})
		h.post(textUpdate(1, 99, "/bind ABC123"), nil)
		telegramtest.WaitFor(t, "bind hook", 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 1 })
		ev := seen[0]
		if ev.Command != "bind" || ev.Args != "ABC123" || ev.Identity != nil || ev.Staff != nil || ev.SenderID != "99" || ev.Message.ID == 0 {
			t.Fatalf("bind event: %+v", ev)
		}
		if n := customers(t, s); n != 0 {
			t.Fatalf("/bind created %d customers", n)
		}
	})
}

// TestFormerStaffIsNoCustomer: a deactivated staff member who writes to the
// bot does not become a customer, and nothing acts on what they wrote.
func TestFormerStaffIsNoCustomer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var mu sync.Mutex
		var seen int
		hook := hookFunc(func(context.Context, *store.ChatEvent) (bool, error) {
			mu.Lock()
			seen++
			mu.Unlock()
			return true, nil
		})
		ann, err := s.CreateStaff(ctx, store.StaffInput{Name: "Ann", Role: store.RoleAgent})
		if err != nil {
			t.Fatal(err)
		}
		code, _, err := s.CreateBindingCode(ctx, ann.ID, store.SystemActor())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.RedeemBindingCode(ctx, store.BindRequest{Channel: store.ChannelTelegram, ExternalID: "55", Code: code}); err != nil {
			t.Fatal(err)
		}
		off := false
		if _, err := s.UpdateStaff(ctx, ann.ID, store.StaffUpdate{Active: &off}, store.Actor{Role: store.RoleManager, Via: store.ViaAPI}); err != nil {
			t.Fatal(err)
		}
		h := setup(t, s, telegramtest.New(t), setupOpts{hooks: []bots.Hook{hook}, recoverAfter: time.Millisecond})
		if rec := h.post(textUpdate(1, 55, "/stop"), nil); rec.Code != 200 {
			t.Fatalf("webhook = %d", rec.Code)
		}
		time.Sleep(200 * time.Millisecond) // several recovery rounds too
		if n := customers(t, s); n != 0 {
			t.Errorf("a former staff member became %d customers", n)
		}
		mu.Lock()
		defer mu.Unlock()
		if seen != 0 {
			t.Errorf("hooks saw %d messages from a former staff member", seen)
		}
	})
}

func newAdapter(f *telegramtest.Server, recv bots.Receiver, rate float64) (*telegram.Adapter, error) {
	return telegram.New(telegram.Config{
		Enabled: true, Token: telegramtest.Token, Mode: "webhook", WebhookSecret: secret, APIURL: f.URL(), RatePerSecond: rate,
	}, telegram.Options{Receiver: recv, PublicURL: "https://crm.example.com"})
}

// TestCrashBetweenStoringAndProcessing: a message is durable once the
// webhook answers 200, so a process that dies before its router ran the
// commands and hooks must not lose what the customer asked for. The next
// process (or another replica) processes it, once.
func TestCrashBetweenStoringAndProcessing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := telegramtest.New(t)
		crashed := setup(t, s, f, setupOpts{noRun: true}) // its router never runs: it "dies"
		if rec := crashed.post(textUpdate(7001, 42, "/birthday 05-17"), nil); rec.Code != 200 {
			t.Fatalf("webhook = %d", rec.Code)
		}
		if got := crashed.customerOf(t, 42).Birthday.String(); got != "" {
			t.Fatalf("birthday %q saved before processing", got)
		}

		// A young unprocessed message may still be in another replica's
		// queue: it is left alone until RecoverAfter.
		waiting := setup(t, s, f, setupOpts{recoverAfter: time.Hour})
		time.Sleep(100 * time.Millisecond)
		if got := waiting.customerOf(t, 42).Birthday.String(); got != "" {
			t.Fatalf("a fresh message was taken over: birthday %q", got)
		}

		next := setup(t, s, f, setupOpts{recoverAfter: time.Millisecond})
		telegramtest.WaitFor(t, "the reply to the orphaned /birthday", 10*time.Second, func() bool { return len(f.SentTo("42")) == 1 })
		if got := next.customerOf(t, 42).Birthday.String(); got != "05-17" {
			t.Errorf("birthday = %q, want 05-17", got)
		}
		telegramtest.WaitFor(t, "the message marked processed", 10*time.Second, func() bool {
			ms := next.messages(t, next.customerOf(t, 42).ID)
			return len(ms) > 0 && ms[0].Status == store.StatusProcessed
		})
		time.Sleep(100 * time.Millisecond) // several more recovery rounds
		if got := f.SentTo("42"); len(got) != 1 {
			t.Errorf("replies = %q, want exactly one", got)
		}
	})
}

// failingOnce fails the first render of key, then renders as next does.
type failingOnce struct {
	next   render.Renderer
	key    string
	mu     sync.Mutex
	failed bool
	calls  int
}

func (f *failingOnce) Render(ctx context.Context, key, locale string, d render.Data) (render.Rendered, error) {
	f.mu.Lock()
	if key == f.key {
		f.calls++
		if !f.failed {
			f.failed = true
			f.mu.Unlock()
			return render.Rendered{}, fmt.Errorf("render %s: over budget", key)
		}
	}
	f.mu.Unlock()
	return f.next.Render(ctx, key, locale, d)
}

// TestRenderErrorRetried: a reply that fails to render is not replaced by
// another text; the message stays unprocessed and is processed again,
// and the customer gets the template's text once.
func TestRenderErrorRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := telegramtest.New(t)
		fail := &failingOnce{next: templates.New(s, templates.Config{}), key: "welcome"}
		h := setup(t, s, f, setupOpts{renderer: fail, recoverAfter: time.Millisecond})
		if rec := h.post(textUpdate(9001, 43, "/start"), nil); rec.Code != 200 {
			t.Fatalf("webhook = %d", rec.Code)
		}
		telegramtest.WaitFor(t, "the welcome, on the second try", 10*time.Second, func() bool { return len(f.SentTo("43")) == 1 })
		time.Sleep(100 * time.Millisecond) // several more recovery rounds
		got := f.SentTo("43")
		fail.mu.Lock()
		calls := fail.calls
		fail.mu.Unlock()
		if len(got) != 1 || !strings.HasPrefix(got[0], "Welcome to our shop") || calls != 2 {
			t.Errorf("replies = %q after %d renders, want the template's welcome once after 2", got, calls)
		}
		telegramtest.WaitFor(t, "the message marked processed", 10*time.Second, func() bool {
			ms := h.messages(t, h.customerOf(t, 43).ID)
			return len(ms) == 2 && ms[0].Status == store.StatusProcessed && ms[1].TemplateKey == "welcome" && ms[1].TemplateVersion == 1
		})
	})
}

// TestSenderOrderKept: workers run in parallel, but one sender's messages
// reach the hooks in the order they arrived (a relayed complaint must not
// reach staff shuffled).
func TestSenderOrderKept(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		var mu sync.Mutex
		got := map[string][]string{}
		hook := hookFunc(func(_ context.Context, ev *store.ChatEvent) (bool, error) {
			time.Sleep(time.Millisecond) // let other workers overtake if they could
			mu.Lock()
			got[ev.SenderID] = append(got[ev.SenderID], ev.Message.Text)
			mu.Unlock()
			return true, nil
		})
		h := setup(t, s, telegramtest.New(t), setupOpts{hooks: []bots.Hook{hook}})
		var want []string
		for i := range 30 {
			text := fmt.Sprintf("part %02d", i)
			want = append(want, text)
			h.post(textUpdate(int64(100+2*i), 77, text), nil)
			h.post(textUpdate(int64(101+2*i), 88, text), nil)
		}
		telegramtest.WaitFor(t, "all messages processed", 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got["77"]) == 30 && len(got["88"]) == 30
		})
		for _, sender := range []string{"77", "88"} {
			if diff := cmp.Diff(want, got[sender]); diff != "" {
				t.Errorf("sender %s order (-want +got):\n%s", sender, diff)
			}
		}
	})
}
