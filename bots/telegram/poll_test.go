package telegram_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/telegram"
	"github.com/rapport-crm/rapport/bots/telegram/telegramtest"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
)

// logBuffer collects log lines from the adapter's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// In polling mode the library confirms updates to Telegram before our
// handler runs, so an update the store cannot take must not be dropped:
// it is retried until the store is back, and the updates behind it wait
// their turn. Before, it was logged and lost.
func TestPollingRetriesUntilStored(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			cfg := storetest.Config(t, d)
			s := storetest.OpenConfig(t, cfg)
			driver := cfg.Driver
			if driver == store.SQLite {
				driver = "sqlite"
			}
			db, err := sql.Open(driver, cfg.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// The outage: the messages table is gone for a while.
			if _, err := db.Exec("ALTER TABLE messages RENAME TO messages_away"); err != nil {
				t.Fatal(err)
			}
			voice := fixture(t, "voice")
			srv := telegramtest.New(t)
			srv.Queue(voice, textUpdate(534266400, 171300001, "还在吗?"))
			var logs logBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			r := bots.NewRouter(s, bots.RouterOptions{Logger: log, Renderer: templates.New(s, templates.Config{})})
			a, err := telegram.New(telegram.Config{Enabled: true, Token: telegramtest.Token, Mode: "polling", APIURL: srv.URL()},
				telegram.Options{Receiver: r, Logger: log, PollTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for _, run := range []func(context.Context) error{r.Run, a.Run} {
				wg.Add(1)
				go func() { defer wg.Done(); run(ctx) }()
			}
			defer func() { cancel(); wg.Wait() }()

			telegramtest.WaitFor(t, "two failed tries", 15*time.Second, func() bool { return logs.count("cannot store polled update") >= 2 })
			if got := srv.Offset(); got <= 534266317 {
				t.Fatalf("offset %d: the library did not confirm the update before handling it (the test shows nothing)", got)
			}
			if _, err := db.Exec("ALTER TABLE messages_away RENAME TO messages"); err != nil {
				t.Fatal(err)
			}
			var ms []*store.Message
			telegramtest.WaitFor(t, "both updates stored", 15*time.Second, func() bool {
				id, err := s.IdentityByExternal(context.Background(), store.ChannelTelegram, "171300001")
				if err != nil {
					return false
				}
				ms, _, _ = s.ListMessages(context.Background(), id.CustomerID, store.Page{})
				return len(ms) == 2
			})
			if ms[0].Kind != "voice" || ms[0].Media == nil || ms[0].Media.Duration != 12 || ms[1].Text != "还在吗?" || ms[0].ID > ms[1].ID {
				t.Errorf("stored %s %q, %s %q; want the voice note, then the text", ms[0].Kind, ms[0].Text, ms[1].Kind, ms[1].Text)
			}
			if logs.count("polled update stored after retrying") != 1 {
				t.Errorf("no log of the recovery:\n%s", logs.b.String())
			}
		})
	}
}

// The library decodes a whole getUpdates batch into its own models, so one
// update with an oddly typed field (one Rapport never reads) failed the
// batch, and the library asked for the same offset again forever: that
// update and every one behind it were held back. Now the odd one is
// stored through Rapport's own parser, in its place, and polling moves on.
func TestPollingStoresAnOddUpdateInOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		const user = 171300001
		odd := fixture(t, "odd_field") // update 534266326, "/start" with an entity offset as a string
		f := telegramtest.New(t)
		f.Queue(textUpdate(534266325, user, "你好"), odd, textUpdate(534266327, user, "在吗"))
		var logs logBuffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		r := bots.NewRouter(s, bots.RouterOptions{Logger: log, Renderer: templates.New(s, templates.Config{})})
		a, err := telegram.New(telegram.Config{Enabled: true, Token: telegramtest.Token, Mode: "polling", APIURL: f.URL()},
			telegram.Options{Receiver: r, Logger: log, PollTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, run := range []func(context.Context) error{r.Run, a.Run} {
			wg.Add(1)
			go func() { defer wg.Done(); run(ctx) }()
		}
		defer func() { cancel(); wg.Wait() }()

		inbound := func() []*store.Message {
			id, err := s.IdentityByExternal(context.Background(), store.ChannelTelegram, strconv.Itoa(user))
			if err != nil {
				return nil
			}
			ms, _, _ := s.ListMessages(context.Background(), id.CustomerID, store.Page{Limit: 500})
			var in []*store.Message
			for _, m := range ms {
				if m.Direction == store.DirectionIn {
					in = append(in, m)
				}
			}
			return in
		}
		telegramtest.WaitFor(t, "the three updates stored", 15*time.Second, func() bool { return len(inbound()) == 3 })
		// Polling goes on past them, and past an update not even Rapport
		// can read (its text is a number): that one is dropped and logged,
		// as the webhook answers it 400.
		unreadable := `{"update_id":534266328,"message":{"message_id":9,"date":1767225600,"chat":{"id":171300001,"type":"private"},"from":{"id":171300001,"is_bot":false,"first_name":"Li"},"text":5}}`
		f.Queue(unreadable, textUpdate(534266329, user, "后来的消息"))
		telegramtest.WaitFor(t, "a later update stored", 15*time.Second, func() bool { return len(inbound()) == 4 })
		telegramtest.WaitFor(t, "the offset past every update", 15*time.Second, func() bool { return f.Offset() == 534266330 })
		if logs.count("does not parse; dropped") != 1 {
			t.Errorf("the unreadable update is not logged as dropped:\n%s", logs.b.String())
		}

		var got []string
		var prev int64
		for _, m := range inbound() {
			got = append(got, m.Text)
			if m.ID < prev {
				t.Errorf("message %d stored after %d: out of order", m.ID, prev)
			}
			prev = m.ID
		}
		if want := []string{"你好", "/start", "在吗", "后来的消息"}; !slices.Equal(got, want) {
			t.Errorf("stored %q, want %q", got, want)
		}
		if logs.count("could not decode") != 1 {
			t.Errorf("the odd update is not logged once:\n%s", logs.b.String())
		}
	})
}
