// Package telegram is the Telegram Bot API adapter: webhook and
// long-polling intake into a bots.Receiver, and a bots.Channel that sends
// outbox rows with github.com/go-telegram/bot.
package telegram

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/store"
)

// WebhookPath is where Telegram posts updates in webhook mode.
const WebhookPath = "/webhooks/telegram"

// Options are the adapter's collaborators.
type Options struct {
	Receiver bots.Receiver
	// PublicURL is http.public_url; webhook mode registers
	// PublicURL + WebhookPath with Telegram at start.
	PublicURL string
	Logger    *slog.Logger
	// HTTPClient overrides the client used for every Bot API call.
	HTTPClient *http.Client
	// PollTimeout is the getUpdates long-poll timeout (default 50 s).
	PollTimeout time.Duration
	// Health receives the channel's state: degraded while the Bot API
	// can't be reached, ok once it answers. Nil records nothing.
	Health *bots.Health
	// RetryMin and RetryMax bound the backoff between attempts to
	// register or delete the webhook at start (default 1 s and 2 min).
	RetryMin, RetryMax time.Duration
}

// Adapter is the Telegram channel.
type Adapter struct {
	cfg  Config
	opts Options
	log  *slog.Logger
	bot  *bot.Bot

	// bg outlives requests: callback answers run on it after the
	// webhook has answered.
	bg     context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once

	// polled is how far the library's handler has got through the
	// updates handed to it (batchGuard waits on it to keep order).
	polled progress
}

var _ bots.Channel = (*Adapter)(nil)

// New builds the adapter. It makes no network call; Run does.
func New(cfg Config, o Options) (*Adapter, error) {
	cfg.Mode = cmp.Or(cfg.Mode, "polling")
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.APIURL = cmp.Or(cfg.APIURL, DefaultConfig().APIURL)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	o.PollTimeout = cmp.Or(o.PollTimeout, 50*time.Second)
	o.HTTPClient = cmp.Or(o.HTTPClient, &http.Client{Timeout: o.PollTimeout + 20*time.Second, Transport: transport()})
	o.RetryMin = cmp.Or(o.RetryMin, time.Second)
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(o.RetryMin, 2*time.Minute)
	}
	a := &Adapter{cfg: cfg, opts: o, log: o.Logger}
	a.bg, a.stop = context.WithCancel(context.Background())
	b, err := bot.New(cfg.Token,
		// A trailing slash would give //bot<token>/... URLs.
		bot.WithServerURL(strings.TrimRight(cfg.APIURL, "/")),
		bot.WithSkipGetMe(),
		// Every call goes through the library; getUpdates answers are
		// screened first (batchGuard) so one odd update can't stall polling.
		bot.WithHTTPClient(o.PollTimeout, pollWatcher{batchGuard{bufferedClient{o.HTTPClient}, a}, a}),
		// The library's default handler logs whole updates (PII).
		bot.WithDefaultHandler(a.handlePolled),
		bot.WithMiddlewares(a.recoverMiddleware),
		bot.WithErrorsHandler(a.onError),
		bot.WithNotAsyncHandlers(),
		bot.WithAllowedUpdates(bot.AllowedUpdates{models.AllowedUpdateMessage, models.AllowedUpdateCallbackQuery, models.AllowedUpdateMyChatMember}),
	)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	a.bot = b
	return a, nil
}

// transport keeps enough idle connections for concurrent sends to one host.
func transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return t
}

// bufferedClient sends each request body in one piece. The library streams
// its multipart form through a pipe, which makes every call a chunked
// upload of many small writes; buffering it (a message is a few KiB at
// most) sets Content-Length and roughly halves the syscalls per send.
type bufferedClient struct{ c *http.Client }

func (b bufferedClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.ContentLength <= 0 {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return b.c.Do(req)
}

// Name is the store channel name.
func (a *Adapter) Name() string { return store.ChannelTelegram }

// Limits are Telegram's: the configured global rate and 1 message/s per chat.
func (a *Adapter) Limits() bots.Limits {
	return bots.Limits{PerSecond: a.cfg.RatePerSecond, PerChat: 1}
}

// Run registers the webhook (webhook mode) or long-polls (polling mode)
// until ctx ends, then waits for pending callback answers. A Bot API that
// can't be reached never ends it: setWebhook / deleteWebhook are retried
// with backoff while the channel reports itself degraded, and the rest of
// the service keeps serving.
func (a *Adapter) Run(ctx context.Context) error {
	defer a.close()
	if a.cfg.Mode == "webhook" {
		if a.opts.PublicURL == "" {
			// Behind an operator's own proxy: they register the URL.
			a.log.Info("telegram: http.public_url is empty, so the webhook is not registered; register https://<your host>" + WebhookPath +
				" with setWebhook yourself, with secret_token set to telegram.webhook_secret")
			a.opts.Health.OK(a.Name())
			<-ctx.Done()
			return nil
		}
		a.retry(ctx, "setWebhook", func(ctx context.Context) error {
			_, err := a.bot.SetWebhook(ctx, &bot.SetWebhookParams{
				URL:            strings.TrimRight(a.opts.PublicURL, "/") + WebhookPath,
				SecretToken:    a.cfg.WebhookSecret,
				AllowedUpdates: []string{models.AllowedUpdateMessage, models.AllowedUpdateCallbackQuery, models.AllowedUpdateMyChatMember},
			})
			return err
		})
		<-ctx.Done()
		return nil
	}
	// getUpdates answers 409 while a webhook is set.
	if !a.retry(ctx, "deleteWebhook", func(ctx context.Context) error {
		_, err := a.bot.DeleteWebhook(ctx, &bot.DeleteWebhookParams{})
		return err
	}) {
		return nil
	}
	a.bot.Start(ctx) // returns when ctx ends; getUpdates errors reach onError
	return nil
}

// retry calls fn until it succeeds (true) or ctx ends (false), waiting a
// capped exponential backoff with jitter between attempts. The channel is
// degraded from the first failure until fn succeeds; the state change is
// logged, the attempts only at debug level.
func (a *Adapter) retry(ctx context.Context, what string, fn func(context.Context) error) bool {
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			a.opts.Health.OK(a.Name())
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := bots.RetryDelay(attempt, a.opts.RetryMin, a.opts.RetryMax)
		reason := what + ": " + a.redact(err)
		a.opts.Health.Degraded(a.Name(), reason)
		a.log.Debug("telegram: retrying", "call", what, "attempt", attempt+1, "wait", wait, "err", reason)
		if !bots.Sleep(ctx, wait) {
			return false
		}
	}
}

// onError receives the library's errors. A failed getUpdates (the library
// retries it itself, every few seconds at most) degrades the channel until
// one succeeds (pollWatcher); other errors are logged.
func (a *Adapter) onError(err error) {
	msg := a.redact(err)
	if strings.HasPrefix(err.Error(), "error get updates") {
		a.opts.Health.Degraded(a.Name(), "getUpdates: "+msg)
		return
	}
	a.log.Warn("telegram", "err", msg)
}

// redact is err's text without the bot token, which the library's errors
// carry in request URLs (.../bot<token>/method).
func (a *Adapter) redact(err error) string {
	return strings.ReplaceAll(err.Error(), a.cfg.Token, "<token>")
}

func (a *Adapter) close() {
	a.closed.Do(func() {
		a.stop()
		a.wg.Wait()
	})
}

// handlePolled receives one polled update. It takes the webhook's path:
// the library's decoded update is encoded back to JSON for Parse, so one
// mapping serves both modes. The library has already confirmed the update
// to Telegram (it moves the offset before the handler runs), so an update
// that cannot be stored is retried until it is (keep), holding back the
// updates behind it; only shutdown gives up on it, and says so.
// Duplicates (an update delivered again after a restart) are stored once
// by the receiver.
func (a *Adapter) handlePolled(ctx context.Context, _ *bot.Bot, u *models.Update) {
	body, err := json.Marshal(u)
	if err != nil {
		a.log.Error("telegram: polled update cannot be encoded; lost", "update_id", u.ID, "err", err)
		return
	}
	in, ok, err := Parse(body)
	if err != nil {
		a.log.Error("telegram: polled update does not parse; lost", "update_id", u.ID, "err", err)
		return
	}
	if !ok {
		a.log.Debug("telegram: update of a kind Rapport does not keep", "update_id", u.ID)
		return
	}
	if err := a.keep(ctx, in, u.ID); err != nil {
		a.log.Error("telegram: polled update not stored before shutdown; lost", "update_id", u.ID, "err", err)
	}
}

// keep stores one polled update, retrying with backoff while the store
// refuses it for now. It returns nil once the update is stored (or the
// store refused it for good: dropped, logged) and the store's last error
// when ctx ends first.
func (a *Adapter) keep(ctx context.Context, in bots.Inbound, updateID int64) error {
	wait := pollRetryFirst
	for attempt := 1; ; attempt++ {
		// The library's context ends with Run; a store under way is not
		// cut short.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := a.opts.Receiver.Receive(rctx, in)
		cancel()
		switch {
		case err == nil:
			if attempt > 1 {
				a.log.Info("telegram: polled update stored after retrying", "update_id", updateID, "attempts", attempt)
			}
			a.answerCallback(in)
			return nil
		case store.IsCode(err, store.EINVALID):
			a.log.Error("telegram: polled update refused by the store; dropped", "update_id", updateID, "err", err)
			return nil
		}
		a.log.Warn("telegram: cannot store polled update; retrying", "update_id", updateID, "attempt", attempt, "retry_in", wait, "err", err)
		if !bots.Sleep(ctx, wait) {
			return err
		}
		wait = min(2*wait, pollRetryMax)
	}
}

// Backoff of a polled update the store refuses for now.
const (
	pollRetryFirst = time.Second
	pollRetryMax   = 30 * time.Second
)

func (a *Adapter) recoverMiddleware(next bot.HandlerFunc) bot.HandlerFunc {
	return func(ctx context.Context, b *bot.Bot, u *models.Update) {
		defer a.polled.done(u.ID)
		defer func() {
			if p := recover(); p != nil {
				a.log.Error("telegram: panic in update handler", "update_id", u.ID, "panic", p, "stack", string(debug.Stack()))
			}
		}()
		next(ctx, b, u)
	}
}

// answerCallback stops the client's spinner on an inline button; Telegram
// expects it even with no text.
func (a *Adapter) answerCallback(in bots.Inbound) {
	if in.CallbackID == "" {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(a.bg, 10*time.Second)
		defer cancel()
		if _, err := a.bot.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: in.CallbackID}); err != nil {
			a.log.Warn("telegram: answerCallbackQuery", "err", err)
		}
	}()
}

// maxText is Telegram's sendMessage limit (characters after parsing).
const maxText = 4096

// Send delivers one outbox row with sendMessage and returns the message id.
func (a *Adapter) Send(ctx context.Context, m *store.Message) (string, error) {
	if strings.TrimSpace(m.Text) == "" {
		return "", &bots.SendError{Outcome: bots.Fail, Reason: "empty text"}
	}
	text := store.Clip(m.Text, maxText)
	// chat_id as the stored string: the form carries the same digits,
	// and the library writes a string field without a JSON encoding.
	p := &bot.SendMessageParams{ChatID: m.ChatID, Text: text}
	x, err := m.Extras()
	if err != nil {
		return "", &bots.SendError{Outcome: bots.Fail, Reason: "bad payload", Err: err}
	}
	switch {
	case len(x.Keyboard) > 0:
		kb := &inlineKeyboard{}
		for _, row := range x.Keyboard {
			var r []callbackButton
			for _, b := range row {
				r = append(r, callbackButton{Text: b.Text, CallbackData: b.Data})
			}
			kb.InlineKeyboard = append(kb.InlineKeyboard, r)
		}
		p.ReplyMarkup = kb
	case x.RequestContact != "":
		// Shown in private chats only, which is where customers are.
		p.ReplyMarkup = &models.ReplyKeyboardMarkup{
			Keyboard:        [][]models.KeyboardButton{{{Text: x.RequestContact, RequestContact: true}}},
			OneTimeKeyboard: true, ResizeKeyboard: true,
		}
	case x.RemoveKeyboard:
		p.ReplyMarkup = &models.ReplyKeyboardRemove{RemoveKeyboard: true}
	}
	if id, err := strconv.Atoi(x.ReplyTo); err == nil {
		p.ReplyParameters = &models.ReplyParameters{MessageID: id, AllowSendingWithoutReply: true}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	msg, err := a.bot.SendMessage(ctx, p)
	if err != nil {
		return "", classify(err)
	}
	return strconv.Itoa(msg.ID), nil
}

// classify maps Bot API errors to dispatcher outcomes.
func classify(err error) error {
	var tmr *bot.TooManyRequestsError
	var mig *bot.MigrateError
	switch {
	case errors.As(err, &tmr):
		return &bots.SendError{Outcome: bots.RetryAfter, After: time.Duration(tmr.RetryAfter) * time.Second, Reason: "telegram 429", Err: err}
	case errors.Is(err, bot.ErrorForbidden):
		// Blocked by the user, deactivated, never started the bot.
		return &bots.SendError{Outcome: bots.Unreachable, Reason: "telegram 403", Err: err}
	case errors.As(err, &mig):
		return &bots.SendError{Outcome: bots.Fail, Reason: "telegram chat migrated", Err: err}
	case errors.Is(err, bot.ErrorBadRequest):
		if strings.Contains(err.Error(), "chat not found") {
			return &bots.SendError{Outcome: bots.Unreachable, Reason: "telegram 400", Err: err}
		}
		return &bots.SendError{Outcome: bots.Fail, Reason: "telegram 400", Err: err}
	}
	return &bots.SendError{Outcome: bots.Retry, Reason: "telegram", Err: err}
}

// inlineKeyboard is Telegram's InlineKeyboardMarkup with callback buttons
// only. The library's models.InlineKeyboardButton always serialises
// "copy_text":{"text":""} (a non-pointer field), which Telegram has been
// reported to refuse with BUTTON_COPY_TEXT_INVALID; reply_markup is `any`
// in the library, so our own type goes out as it is.
type inlineKeyboard struct {
	InlineKeyboard [][]callbackButton `json:"inline_keyboard"`
}

type callbackButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data"`
}
