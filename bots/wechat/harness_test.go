package wechat_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/wechat"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
)

const (
	cbToken = "spamtest"
	aesKey  = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

type harness struct {
	s     *store.Store
	clock *storetest.Clock
	r     *bots.Router
	a     *wechat.Adapter
	cfg   wechat.Config
}

type setupOpts struct {
	receiver  bots.Receiver // default: the router
	templates map[string]string
	opts      wechat.Options
	noRouter  bool
	// plaintext configures no encoding_aes_key; by default the adapter is
	// in safe mode, as WeChat recommends, and h.post encrypts.
	plaintext bool
	// db, when set, is the database to use instead of a fresh one.
	db *store.Config
}

// each runs fn on both databases with a fresh store, router and adapter.
func each(t *testing.T, o setupOpts, fn func(t *testing.T, h *harness)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			api.reset()
			fn(t, setup(t, d, o))
		})
	}
}

func setup(t *testing.T, dialect string, o setupOpts) *harness {
	t.Helper()
	c := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := &harness{clock: c}
	if o.db != nil {
		h.s = storetest.OpenConfig(t, *o.db, store.WithClock(c.Now))
	} else {
		h.s = storetest.Open(t, dialect, store.WithClock(c.Now))
	}
	h.r = bots.NewRouter(h.s, bots.RouterOptions{Renderer: templates.New(h.s, templates.Config{})})
	recv := o.receiver
	if recv == nil {
		recv = h.r
	}
	h.cfg = wechat.DefaultConfig()
	h.cfg.Enabled, h.cfg.AppID, h.cfg.AppSecret, h.cfg.Token, h.cfg.EncodingAESKey = true, appID, appSecret, cbToken, aesKey
	if o.plaintext {
		h.cfg.EncodingAESKey = ""
	}
	h.cfg.APIBaseURL = api.srv.URL + "/"
	if o.templates != nil {
		h.cfg.TemplateIDs = o.templates
	}
	opts := o.opts
	opts.Receiver, opts.Store = recv, h.s
	a, err := wechat.New(h.cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.a = a
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); h.r.Run(ctx) }()
	go func() { defer wg.Done(); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return h
}

// nonces makes every callback's nonce unique, as WeChat's are.
var nonces atomic.Int64

// now is the time WeChat stamps a callback with: the store's clock.
func (h *harness) now() time.Time {
	if h.clock == nil {
		return time.Now()
	}
	return h.clock.Now()
}

// signed adds a valid signature over a fresh timestamp and a new nonce.
func (h *harness) signed(q url.Values) url.Values {
	if q == nil {
		q = url.Values{}
	}
	ts, nonce := strconv.FormatInt(h.now().Unix(), 10), strconv.FormatInt(1320562132+nonces.Add(1), 10)
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	q.Set("signature", util.Signature(cbToken, ts, nonce))
	return q
}

func (h *harness) do(method string, q url.Values, body string) *httptest.ResponseRecorder {
	return h.doWith(h.a, method, q, body)
}

func (h *harness) doWith(a *wechat.Adapter, method string, q url.Values, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, wechat.WebhookPath+"?"+q.Encode(), strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml")
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	return rec
}

// post delivers a callback the way WeChat does in the adapter's mode:
// encrypted in safe mode, else plaintext.
func (h *harness) post(body string) *httptest.ResponseRecorder {
	if h.cfg.EncodingAESKey != "" {
		return h.postSafe(nil, body)
	}
	return h.postPlain(body)
}

// postPlain delivers a plaintext callback whatever the mode.
func (h *harness) postPlain(body string) *httptest.ResponseRecorder {
	return h.do(http.MethodPost, h.signed(nil), body)
}

// postSafe delivers body encrypted, as in safe mode.
func (h *harness) postSafe(t testing.TB, body string) *httptest.ResponseRecorder {
	return h.do(http.MethodPost, h.safeQuery(t, body), envelope(h.encrypt(t, body)))
}

func (h *harness) encrypt(t testing.TB, body string) string {
	enc, err := util.EncryptMsg([]byte("aaaabbbbccccdddd"), []byte(body), appID, aesKey)
	if err != nil {
		if t == nil {
			panic(err)
		}
		t.Fatal(err)
	}
	return string(enc)
}

// safeQuery is a signed safe-mode query for body.
func (h *harness) safeQuery(t testing.TB, body string) url.Values {
	q := h.signed(nil)
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", util.Signature(cbToken, q.Get("timestamp"), q.Get("nonce"), h.encrypt(t, body)))
	return q
}

func envelope(enc string) string {
	var b strings.Builder
	b.WriteString("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[")
	xml.EscapeText(&b, []byte(enc))
	b.WriteString("]]></Encrypt></xml>")
	return b.String()
}

func textXML(openid string, msgID int64, text string) string {
	return fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>1767225600</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId></xml>`, openid, text, msgID)
}

func eventXML(openid string, at int64, event, key string) string {
	return fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[%s]]></Event><EventKey><![CDATA[%s]]></EventKey></xml>`, openid, at, event, key)
}

// inbound lists what is stored for an openid (nil when nothing).
func (h *harness) inbound(t *testing.T, openid string) []*store.Message {
	t.Helper()
	ctx := context.Background()
	id, err := h.s.IdentityByExternal(ctx, store.ChannelWeChat, openid)
	if store.IsCode(err, store.ENOTFOUND) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	ms, _, err := h.s.ListMessages(ctx, id.CustomerID, store.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var in []*store.Message
	for _, m := range ms {
		if m.Direction == store.DirectionIn {
			in = append(in, m)
		}
	}
	return in
}

func (h *harness) identity(t *testing.T, openid string) *store.Identity {
	t.Helper()
	id, err := h.s.IdentityByExternal(context.Background(), store.ChannelWeChat, openid)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (h *harness) customer(t *testing.T, openid string) *store.Customer {
	t.Helper()
	c, err := h.s.CustomerByID(context.Background(), h.identity(t, openid).CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantSuccess(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusOK || rec.Body.String() != "success" {
		t.Fatalf("answer = %d %q; want 200 success", rec.Code, rec.Body.String())
	}
}

// setupWith builds a second adapter on h's store with another receiver.
func setupWith(t *testing.T, h *harness, recv bots.Receiver, timeout time.Duration) *wechat.Adapter {
	t.Helper()
	a, err := wechat.New(h.cfg, wechat.Options{Receiver: recv, Store: h.s, ReceiveTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

// deliver posts body to another adapter on h's store, in h's mode.
func (h *harness) deliver(a *wechat.Adapter, body string) *httptest.ResponseRecorder {
	if h.cfg.EncodingAESKey != "" {
		return h.doWith(a, http.MethodPost, h.safeQuery(nil, body), envelope(h.encrypt(nil, body)))
	}
	return h.doWith(a, http.MethodPost, h.signed(nil), body)
}
