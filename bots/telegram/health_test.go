package telegram_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/telegram"
	"github.com/rapport-crm/rapport/bots/telegram/telegramtest"
)

// syncBuffer is a log sink safe for the adapter's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runAdapter starts a.Run and returns a channel that receives its result
// once the test's context ends.
func runAdapter(t *testing.T, a *telegram.Adapter) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return done
}

func state(h *bots.Health) string {
	c, _ := h.Get("telegram")
	return c.State
}

// TestRunSurvivesUnreachableAPI: a Bot API that can't be reached at start
// no longer ends Run (which stopped the whole process): setWebhook is
// retried, the channel is degraded meanwhile (one log line, not one per
// attempt), and ok once Telegram answers.
func TestRunSurvivesUnreachableAPI(t *testing.T) {
	f := telegramtest.New(t)
	f.SetDown(true)
	var logs syncBuffer
	health := bots.NewHealth(nil, slog.New(slog.NewTextHandler(&logs, nil)))
	health.Start("telegram", bots.StateOK, "")
	a, err := telegram.New(telegram.Config{
		Enabled: true, Token: telegramtest.Token, Mode: "webhook", WebhookSecret: secret, APIURL: f.URL(), RatePerSecond: 30,
	}, telegram.Options{PublicURL: "https://crm.example.com", Health: health, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := runAdapter(t, a)
	telegramtest.WaitFor(t, "telegram degraded", 5*time.Second, func() bool { return state(health) == bots.StateDegraded })
	time.Sleep(100 * time.Millisecond) // several more failed attempts
	select {
	case err := <-done:
		t.Fatalf("Run returned while Telegram was unreachable: %v", err)
	default:
	}
	c, _ := health.Get("telegram")
	if !strings.Contains(c.Reason, "setWebhook") || strings.Contains(c.Reason, telegramtest.Token) {
		t.Errorf("reason %q: want the call named and the bot token left out", c.Reason)
	}
	if n := strings.Count(logs.String(), "channel degraded"); n != 1 {
		t.Errorf("%d 'channel degraded' log lines; want one per state change:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), telegramtest.Token) {
		t.Errorf("log carries the bot token:\n%s", logs.String())
	}

	f.SetDown(false)
	telegramtest.WaitFor(t, "telegram ok", 5*time.Second, func() bool { return state(health) == bots.StateOK })
	if hook := f.Webhook(); hook["url"] != "https://crm.example.com"+telegram.WebhookPath || hook["secret_token"] != secret {
		t.Fatalf("setWebhook = %v", hook)
	}
	if !strings.Contains(logs.String(), "channel recovered") {
		t.Errorf("no log line for the recovery:\n%s", logs.String())
	}
}

// TestPollingReportsHealth: in polling mode a failing getUpdates (reported
// by the library through its errors handler) degrades the channel, and the
// next answered poll makes it ok again.
func TestPollingReportsHealth(t *testing.T) {
	f := telegramtest.New(t)
	health := bots.NewHealth(nil, slog.New(slog.DiscardHandler))
	a, err := telegram.New(telegram.Config{Enabled: true, Token: telegramtest.Token, Mode: "polling", APIURL: f.URL(), RatePerSecond: 30},
		telegram.Options{Health: health, PollTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler),
			RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runAdapter(t, a)
	telegramtest.WaitFor(t, "deleteWebhook", 5*time.Second, func() bool { return f.Deletes() == 1 })
	telegramtest.WaitFor(t, "telegram ok", 5*time.Second, func() bool { return state(health) == bots.StateOK })
	f.SetDown(true)
	telegramtest.WaitFor(t, "telegram degraded", 10*time.Second, func() bool { return state(health) == bots.StateDegraded })
	if c, _ := health.Get("telegram"); !strings.Contains(c.Reason, "getUpdates") || strings.Contains(c.Reason, telegramtest.Token) {
		t.Errorf("reason %q", c.Reason)
	}
	f.SetDown(false)
	telegramtest.WaitFor(t, "telegram ok again", 15*time.Second, func() bool { return state(health) == bots.StateOK })
}

// TestWebhookWithoutPublicURL: behind an operator's own proxy the webhook is
// served but not registered; Run says so once and makes no call.
func TestWebhookWithoutPublicURL(t *testing.T) {
	f := telegramtest.New(t)
	var logs syncBuffer
	health := bots.NewHealth(nil, slog.New(slog.DiscardHandler))
	a, err := telegram.New(telegram.Config{Enabled: true, Token: telegramtest.Token, Mode: "webhook", WebhookSecret: secret, APIURL: f.URL(), RatePerSecond: 30},
		telegram.Options{Health: health, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runAdapter(t, a)
	telegramtest.WaitFor(t, "telegram ok", 5*time.Second, func() bool { return state(health) == bots.StateOK })
	time.Sleep(50 * time.Millisecond)
	if f.Webhook() != nil || f.Deletes() != 0 {
		t.Fatalf("calls made without a public URL: webhook %v, deletes %d", f.Webhook(), f.Deletes())
	}
	if n := strings.Count(logs.String(), "not registered"); n != 1 {
		t.Errorf("want one log line asking to register the webhook by hand, got:\n%s", logs.String())
	}
}

// TestWebhookSecretRequired: webhook mode needs a secret Telegram can send
// and nobody can guess; without one (polling mode) the endpoint refuses
// every update, a forged one with no header included.
func TestWebhookSecretRequired(t *testing.T) {
	for _, tt := range []struct {
		name, secret string
		ok           bool
	}{
		{"empty", "", false},
		{"short", "s3cret-token_1", false},
		{"31 characters", strings.Repeat("a", 31), false},
		{"bad character", strings.Repeat("a", 31) + "!", false},
		{"too long", strings.Repeat("a", 257), false},
		{"32 characters", strings.Repeat("a", 32), true},
		{"256 characters", strings.Repeat("a-_Z9", 51) + "x", true},
	} {
		_, err := telegram.New(telegram.Config{Token: telegramtest.Token, Mode: "webhook", WebhookSecret: tt.secret, RatePerSecond: 1}, telegram.Options{})
		if tt.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), "telegram.webhook_secret") {
			t.Errorf("%s: err = %v; want ok=%v and the key named", tt.name, err, tt.ok)
		}
	}

	a, err := telegram.New(telegram.Config{Token: telegramtest.Token, Mode: "polling", RatePerSecond: 1}, telegram.Options{})
	if err != nil {
		t.Fatalf("polling mode needs no secret: %v", err)
	}
	for _, hdr := range []string{"", "anything"} {
		req, _ := http.NewRequest(http.MethodPost, telegram.WebhookPath, strings.NewReader(textUpdate(1, 42, "hi")))
		if hdr != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", hdr)
		}
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Errorf("adapter without a secret, header %q: %d; want 403", hdr, rec.Code)
		}
	}
}
