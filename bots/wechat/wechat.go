// Package wechat is the WeChat Official Account adapter: the callback
// endpoint (URL verification, plaintext and safe-mode messages and events)
// feeding a bots.Receiver, and a bots.Channel that sends outbox rows as
// customer-service messages inside WeChat's 48-hour window and as template
// messages outside it. It uses sub-packages of silenceper/wechat/v2 only:
// the root package's init() turns on debug logging of every request.
package wechat

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/silenceper/wechat/v2/officialaccount"
	offcfg "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/util"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// WebhookPath is the callback URL path configured in the WeChat console.
const WebhookPath = "/webhooks/wechat"

// DefaultAPIBaseURL is where the library's hard-coded API URLs point.
const DefaultAPIBaseURL = "https://api.weixin.qq.com"

// API endpoints, as the library spells them (rewritten to
// wechat.api_base_url by util.SetURIModifier).
const (
	customSendURL   = DefaultAPIBaseURL + "/cgi-bin/message/custom/send"
	templateSendURL = DefaultAPIBaseURL + "/cgi-bin/message/template/send"
)

// WeChat's customer-service window (rules since 2023-06): a customer's
// message allows 5 messages within 48 hours (store.WeChatWindow);
// following the account, scanning a QR code or clicking a menu allows 3
// within a minute.
const (
	messageQuota = 5
	eventWindow  = time.Minute
	eventQuota   = 3
)

// SkipNoTemplate is the reason of a message skipped outside the window.
const SkipNoTemplate = "outside WeChat 48h window and no template configured"

// Options are the adapter's collaborators.
type Options struct {
	Receiver bots.Receiver
	Store    *store.Store
	Logger   *slog.Logger
	// Registerer takes the WeChat metrics; nil records none.
	Registerer prometheus.Registerer
	// ReceiveTimeout bounds how long a callback waits for the message to
	// be stored before answering (default 3.5 s; WeChat gives up at 5 s).
	ReceiveTimeout time.Duration
	// StoreTimeout bounds a store that outlives its callback (default 30 s).
	StoreTimeout time.Duration
	// HTTPClient becomes the library's process-wide client (default: 10 s
	// timeout).
	HTTPClient *http.Client
	// Holder names this replica for the token lease (default host-pid-random).
	Holder string
	// Health receives the channel's state: degraded while access tokens
	// can't be fetched, ok once one is. Nil records nothing.
	Health *bots.Health
}

// Adapter is the WeChat channel.
type Adapter struct {
	cfg     Config
	opts    Options
	log     *slog.Logger
	oa      *officialaccount.OfficialAccount
	tokens  *tokenSource
	nonces  *nonceBook
	metrics *metrics
	quota   quota

	// late tracks stores that outlived their callback, so Run can wait
	// for them on shutdown.
	late sync.WaitGroup
}

var _ bots.Channel = (*Adapter)(nil)

// New builds the adapter. It makes no network call. It sets the library's
// process-wide HTTP client and URL rewrite (util.DefaultHTTPClient,
// util.SetURIModifier): build one adapter per process.
func New(cfg Config, o Options) (*Adapter, error) {
	if o.Store == nil || o.Receiver == nil {
		return nil, errors.New("wechat: a store and a receiver are required")
	}
	if err := cfg.check(true); err != nil {
		return nil, err
	}
	cfg.APIBaseURL = cmp.Or(cfg.APIBaseURL, DefaultAPIBaseURL)
	base := strings.TrimRight(cfg.APIBaseURL, "/")
	o.Logger = cmp.Or(o.Logger, slog.Default())
	o.ReceiveTimeout = cmp.Or(o.ReceiveTimeout, 3500*time.Millisecond)
	o.StoreTimeout = cmp.Or(o.StoreTimeout, 30*time.Second)
	o.HTTPClient = cmp.Or(o.HTTPClient, &http.Client{Timeout: 10 * time.Second})
	o.Holder = cmp.Or(o.Holder, store.HolderName())
	util.DefaultHTTPClient = o.HTTPClient
	if base != DefaultAPIBaseURL {
		util.SetURIModifier(func(u string) string {
			if rest, ok := strings.CutPrefix(u, DefaultAPIBaseURL); ok {
				return base + rest
			}
			return u
		})
	} else {
		util.SetURIModifier(nil)
	}
	a := &Adapter{cfg: cfg, opts: o, log: o.Logger, metrics: newMetrics(o.Registerer)}
	a.tokens = newTokenSource(o.Store, cfg.AppID, cfg.AppSecret, o.Holder, a.metrics, a.log)
	a.tokens.health = o.Health
	a.nonces = newNonceBook(o.Store, a.log)
	a.oa = officialaccount.NewOfficialAccount(&offcfg.Config{
		AppID: cfg.AppID, AppSecret: cfg.AppSecret, Token: cfg.Token, EncodingAESKey: cfg.EncodingAESKey,
		Cache: kvCache{store: o.Store, prefix: "wechat:lib:"},
	})
	a.oa.SetAccessTokenHandle(a.tokens)
	return a, nil
}

// Name is the store channel name.
func (a *Adapter) Name() string { return store.ChannelWeChat }

// Limits are the configured global rate; WeChat has no per-chat rate.
func (a *Adapter) Limits() bots.Limits { return bots.Limits{PerSecond: a.cfg.RatePerSecond} }

// Run has no intake loop (WeChat calls us): it purges used nonces until
// ctx ends, then waits for stores that outlived their callbacks.
func (a *Adapter) Run(ctx context.Context) error {
	a.nonces.purge(ctx)
	a.late.Wait()
	return nil
}

// Send delivers one outbox row: a customer-service text inside WeChat's
// window, otherwise the workflow's template message, otherwise a skip.
func (a *Adapter) Send(ctx context.Context, m *store.Message) (string, error) {
	if m.ChatID == "" {
		return "", &bots.SendError{Outcome: bots.Fail, Reason: "no openid"}
	}
	open, why, release, err := a.window(ctx, m)
	if err != nil {
		return "", &bots.SendError{Outcome: bots.Retry, Reason: "wechat window", Err: err}
	}
	if open {
		err := a.call(ctx, customSendURL, message.NewCustomerTextMessage(m.ChatID, m.Text), nil)
		var ae *APIError
		switch {
		case err == nil:
			return "", nil
		case errors.As(err, &ae) && (ae.Code == 45015 || ae.Code == 45047):
			// WeChat's own view of the window or quota wins over ours.
			why = fmt.Sprintf("WeChat refused a customer-service message (%d) and no template configured", ae.Code)
		default:
			release()
			return "", classify(err)
		}
	}
	tpl := a.cfg.Template(m.Workflow)
	if tpl == "" {
		return "", &bots.SendError{Outcome: bots.Skip, Reason: why}
	}
	data, err := templateData(m)
	if err != nil {
		return "", &bots.SendError{Outcome: bots.Fail, Reason: "wechat template data", Err: err}
	}
	tm := &message.TemplateMessage{ToUser: m.ChatID, TemplateID: tpl, Data: data, ClientMsgID: "rapport-" + strconv.FormatInt(m.ID, 10)}
	var res struct {
		MsgID int64 `json:"msgid"`
	}
	if err := a.call(ctx, templateSendURL, tm, &res); err != nil {
		return "", classify(err)
	}
	// Recorded as the row's provider_msg_id, where the delivery report
	// (TEMPLATESENDJOBFINISH) finds it.
	return templateProviderID(res.MsgID), nil
}

// window reports whether a customer-service message may go to m's chat
// now (then it has taken a quota slot; release gives it back if the send
// fails), and if not, why.
func (a *Adapter) window(ctx context.Context, m *store.Message) (open bool, why string, release func(), err error) {
	now := a.opts.Store.Now()
	act, err := a.opts.Store.LastInbound(ctx, m, now.Add(-store.WeChatWindow), []string{bots.EventSubscribe, "scan", "click"})
	if err != nil {
		return false, "", nil, err
	}
	why = SkipNoTemplate
	try := func(since time.Time, limit int) (bool, error) {
		n, err := a.opts.Store.CountSent(ctx, m, since)
		if err != nil {
			return false, err
		}
		ok, rel := a.quota.reserve(m.ChatID, since, now, n, limit)
		if ok {
			release = rel
		}
		return ok, nil
	}
	if act.LastEventAt != nil && now.Sub(*act.LastEventAt) < eventWindow {
		if open, err = try(*act.LastEventAt, eventQuota); open || err != nil {
			return open, "", release, err
		}
	}
	if store.InWeChatWindow(act.LastMessageAt, now) {
		if open, err = try(*act.LastMessageAt, messageQuota); open || err != nil {
			return open, "", release, err
		}
		why = fmt.Sprintf("WeChat quota of %d messages per 48h window used up and no template configured", messageQuota)
	}
	return false, why, nil, nil
}

// templateData is the payload's template_data, else the text mapped onto
// the classic first/keyword1/remark fields.
func templateData(m *store.Message) (map[string]*message.TemplateDataItem, error) {
	x, err := m.Extras()
	if err != nil {
		return nil, err
	}
	fields := x.TemplateData
	if len(fields) == 0 {
		fields = render.Rendered{Text: m.Text}.WeChatFields()
	}
	data := make(map[string]*message.TemplateDataItem, len(fields))
	for k, v := range fields {
		data[k] = &message.TemplateDataItem{Value: v}
	}
	return data, nil
}

// call POSTs one JSON API request with the shared access token, decoding
// the errcode answer into res. A refused token (40001/40014/42001) is
// dropped from the shared cache and the call retried once with a new one.
func (a *Adapter) call(ctx context.Context, uri string, body, res any) error {
	for attempt := 0; ; attempt++ {
		tok, err := a.tokens.GetAccessTokenContext(ctx)
		if err != nil {
			return err
		}
		out, err := util.PostJSONContext(ctx, uri+"?access_token="+tok, body)
		if err != nil {
			a.metrics.sendError(0, false)
			return redact(err)
		}
		var ce util.CommonError
		if err := json.Unmarshal(out, &ce); err != nil {
			a.metrics.sendError(0, false)
			return fmt.Errorf("wechat: bad answer: %w", err)
		}
		if ce.ErrCode == 0 {
			if res != nil {
				if err := json.Unmarshal(out, res); err != nil {
					return fmt.Errorf("wechat: bad answer: %w", err)
				}
			}
			return nil
		}
		a.metrics.sendError(ce.ErrCode, true)
		aerr := &APIError{Code: ce.ErrCode, Msg: ce.ErrMsg}
		if !tokenRefused(ce.ErrCode) || attempt > 0 {
			return aerr
		}
		if err := a.tokens.invalidate(ctx, tok); err != nil {
			return err
		}
	}
}

func tokenRefused(code int64) bool { return code == 40001 || code == 40014 || code == 42001 }

// classify tells the dispatcher what a failed call means.
func classify(err error) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		return &bots.SendError{Outcome: bots.Retry, Reason: "wechat", Err: err}
	}
	switch {
	case ae.Code == 43004:
		return &bots.SendError{Outcome: bots.Unreachable, Reason: "customer does not follow the account (43004)", Err: err}
	case ae.Code == 45015 || ae.Code == 45047:
		return &bots.SendError{Outcome: bots.Skip, Reason: fmt.Sprintf("outside WeChat's window or quota (%d)", ae.Code), Err: err}
	case ae.Code == 45009:
		return &bots.SendError{Outcome: bots.RetryAfter, After: time.Hour, Reason: "WeChat daily API quota reached (45009)", Err: err}
	case ae.Code == -1, tokenRefused(ae.Code), ae.Code == 40164, ae.Code == 89503:
		// Busy, or a token/IP problem an operator or the next token fixes.
		return &bots.SendError{Outcome: bots.Retry, Reason: "wechat", Err: err}
	}
	return &bots.SendError{Outcome: bots.Fail, Reason: "wechat refused the message", Err: err}
}
