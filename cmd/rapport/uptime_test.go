package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/bots/telegram/telegramtest"
	"github.com/rapport-crm/rapport/store"
)

// serve runs `rapport serve` with config path until the test ends, and
// fails the test if it does not stop cleanly (nil, within 10 s).
func serve(t *testing.T, path, base string) *syncLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	logs := &syncLog{}
	go func() { errc <- run(ctx, []string{"serve", "-config", path}, io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop within 10 s")
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", logs.String())
		}
	})
	waitReady(t, base, errc)
	return logs
}

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ready reads /readyz.
func ready(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func channelState(t *testing.T, base, channel string) string {
	t.Helper()
	_, body := ready(t, base)
	chans, _ := body["channels"].(map[string]any)
	s, _ := chans[channel].(string)
	return s
}

func status(t *testing.T, method, url, token string, body io.Reader, hdr map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestTelegramUnreachableAtStart: with the Bot API unreachable (blocked,
// say) the process stays up and serves everything else; /readyz stays 200
// and names telegram degraded, and the channel is ok once Telegram answers.
func TestTelegramUnreachableAtStart(t *testing.T) {
	tg := telegramtest.New(t)
	tg.SetDown(true)
	path, base := writeConfig(t, store.SQLite, fmt.Sprintf("telegram:\n  enabled: true\n  token: %q\n  mode: webhook\n  webhook_secret: %q\n  api_url: %q\n",
		telegramtest.Token, e2eSecret, tg.URL()))
	logs := serve(t, path, base)

	telegramtest.WaitFor(t, "telegram degraded on /readyz", 10*time.Second, func() bool { return channelState(t, base, "telegram") == "degraded" })
	code, body := ready(t, base)
	want := map[string]any{"telegram": "degraded", "wechat": "disabled", "webchat": "ok"}
	if code != 200 || body["status"] != "ok" || fmt.Sprint(body["channels"]) != fmt.Sprint(want) {
		t.Fatalf("/readyz = %d %v; want 200, status ok, channels %v", code, body, want)
	}
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/api/v1/customers", "serve-test-token-0123456789", 200},
		{"GET", "/chat", "", 200},
	} {
		if got := status(t, c.method, base+c.path, c.token, nil, nil); got != c.want {
			t.Errorf("%s %s = %d; want %d", c.method, c.path, got, c.want)
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `rapport_channel_up{channel="telegram"} 0`) {
		t.Errorf("metrics lack rapport_channel_up for telegram at 0")
	}

	tg.SetDown(false)
	telegramtest.WaitFor(t, "telegram ok on /readyz", 15*time.Second, func() bool { return channelState(t, base, "telegram") == "ok" })
	if hook := tg.Webhook(); hook["secret_token"] != e2eSecret {
		t.Errorf("setWebhook = %v", hook)
	}
	if n := strings.Count(logs.String(), "channel degraded"); n != 1 {
		t.Errorf("%d 'channel degraded' log lines; want one", n)
	}
	if strings.Contains(logs.String(), telegramtest.Token) {
		t.Error("the log carries the bot token")
	}
}

// TestTelegramWebhookOnlyInWebhookMode: in polling mode nothing is mounted
// at /webhooks/telegram, so forged updates have nowhere to go; in webhook
// mode an update without the secret is refused.
func TestTelegramWebhookOnlyInWebhookMode(t *testing.T) {
	update := `{"update_id":1,"message":{"message_id":1,"date":1767225600,"chat":{"id":42,"type":"private"},"from":{"id":42,"is_bot":false,"first_name":"Eve"},"text":"hi"}}`
	for _, c := range []struct {
		mode, extra string
		secret      string
		want        int
	}{
		{"polling", "", "", http.StatusNotFound},
		{"polling", "", "anything", http.StatusNotFound},
		{"webhook", fmt.Sprintf("  webhook_secret: %q\n", e2eSecret), "", http.StatusForbidden},
		{"webhook", fmt.Sprintf("  webhook_secret: %q\n", e2eSecret), "wrong", http.StatusForbidden},
		{"webhook", fmt.Sprintf("  webhook_secret: %q\n", e2eSecret), e2eSecret, http.StatusOK},
	} {
		t.Run(c.mode+"/"+c.secret, func(t *testing.T) {
			tg := telegramtest.New(t)
			path, base := writeConfig(t, store.SQLite, fmt.Sprintf("telegram:\n  enabled: true\n  token: %q\n  mode: %s\n  api_url: %q\n%s",
				telegramtest.Token, c.mode, tg.URL(), c.extra))
			serve(t, path, base)
			hdr := map[string]string{"Content-Type": "application/json"}
			if c.secret != "" {
				hdr["X-Telegram-Bot-Api-Secret-Token"] = c.secret
			}
			if got := status(t, "POST", base+"/webhooks/telegram", "", strings.NewReader(update), hdr); got != c.want {
				t.Fatalf("POST /webhooks/telegram = %d; want %d", got, c.want)
			}
		})
	}
}

// TestCloseWithOpenStream: an open /chat event stream no longer holds
// shutdown for its whole budget: Close ends it, stops the loops, closes
// the store only after them, and returns nil well within 10 s.
func TestCloseWithOpenStream(t *testing.T) {
	path, base := writeConfig(t, store.SQLite, "")
	cfg, err := LoadConfig(path, true)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncLog
	m := &Main{Config: cfg, Logger: newLogger(&logs)}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A loop that still needs the store after it is told to stop, as a
	// dispatcher finishing a send does.
	probe := make(chan error, 1)
	m.goLoop("probe", func(ctx context.Context) error {
		<-ctx.Done()
		time.Sleep(200 * time.Millisecond)
		probe <- m.Store.Ping(context.Background())
		return nil
	})

	resp, err := http.Get(base + "/chat/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("event stream: %q %v", line, err)
	}

	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatalf("Close = %v; want nil\n%s", err, logs.String())
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v with a stream open; want well under 10 s", d)
	}
	if err := <-probe; err != nil {
		t.Errorf("a loop found the store closed under it: %v", err)
	}
	if err := m.Store.Ping(context.Background()); err == nil {
		t.Error("store still open after Close")
	}
}
