package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"time"

	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/util"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/store"
)

// kvCache is the library's cache.Cache on the store's shared kv table, so
// whatever the library caches (tokens, tickets) is one value for every
// replica. Values are strings, which is all the library stores.
type kvCache struct {
	store  *store.Store
	prefix string
}

var _ cache.ContextCache = kvCache{}

func (c kvCache) bg() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func (c kvCache) Get(key string) any {
	ctx, cancel := c.bg()
	defer cancel()
	return c.GetContext(ctx, key)
}

func (c kvCache) GetContext(ctx context.Context, key string) any {
	v, ok, err := c.store.KVGet(ctx, c.prefix+key)
	if err != nil || !ok {
		return nil
	}
	return v
}

func (c kvCache) Set(key string, val any, timeout time.Duration) error {
	ctx, cancel := c.bg()
	defer cancel()
	return c.SetContext(ctx, key, val, timeout)
}

func (c kvCache) SetContext(ctx context.Context, key string, val any, timeout time.Duration) error {
	s, ok := val.(string)
	if !ok {
		return fmt.Errorf("wechat cache: %T values are not supported", val)
	}
	if timeout <= 0 {
		// The library passes expires_in-1500, negative for short-lived
		// tokens; caching them "forever" would be wrong.
		return nil
	}
	return c.store.KVSet(ctx, c.prefix+key, s, timeout)
}

func (c kvCache) IsExist(key string) bool { return c.Get(key) != nil }

func (c kvCache) IsExistContext(ctx context.Context, key string) bool {
	return c.GetContext(ctx, key) != nil
}

func (c kvCache) Delete(key string) error {
	ctx, cancel := c.bg()
	defer cancel()
	return c.DeleteContext(ctx, key)
}

func (c kvCache) DeleteContext(ctx context.Context, key string) error {
	_, err := c.store.KVDelete(ctx, c.prefix+key, nil)
	return err
}

// tokenURL is the library's (credential/default_access_token.go);
// util.SetURIModifier points it at wechat.api_base_url.
const tokenURL = "https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential&appid=%s&secret=%s"

// tokenSource is the access-token handle shared by every replica. WeChat
// invalidates the previous token whenever a new one is fetched, so one
// replica at a time fetches (it holds a lease in the store) and stores the
// token in the kv table; the others wait briefly and read it from there.
type tokenSource struct {
	store   *store.Store
	appID   string
	secret  string
	key     string // kv key of the token
	lease   string // lease name of the fetcher
	holder  string // this replica
	wait    time.Duration
	poll    time.Duration
	metrics *metrics
	log     *slog.Logger
	health  *bots.Health
	// failures counts fetches in a row that WeChat refused or that could
	// not reach it; guarded by one.
	failures int
	// one lets a single goroutine of this replica contend for the lease
	// (a lease is re-entrant for its holder, so it does not exclude them).
	one chan struct{}
}

var _ credential.AccessTokenContextHandle = (*tokenSource)(nil)

func newTokenSource(s *store.Store, appID, secret, holder string, m *metrics, log *slog.Logger) *tokenSource {
	return &tokenSource{
		store: s, appID: appID, secret: secret,
		key:    "wechat:access_token:" + appID,
		lease:  store.CutRunes("wechat-token:"+appID, 64),
		holder: holder, wait: 10 * time.Second, poll: 100 * time.Millisecond,
		metrics: m, log: log, one: make(chan struct{}, 1),
	}
}

// GetAccessToken is for the library's own calls, which have no context.
func (t *tokenSource) GetAccessToken() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return t.GetAccessTokenContext(ctx)
}

// GetAccessTokenContext returns the shared token, fetching it when no
// replica has a valid one.
func (t *tokenSource) GetAccessTokenContext(ctx context.Context) (string, error) {
	deadline := time.Now().Add(t.wait)
	for {
		tok, ok, err := t.store.KVGet(ctx, t.key)
		if err != nil {
			return "", fmt.Errorf("wechat access token: %w", err)
		}
		if ok && tok != "" {
			return tok, nil
		}
		select {
		case t.one <- struct{}{}:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		got, err := t.store.AcquireLease(ctx, t.lease, t.holder, 30*time.Second)
		if err == nil && got {
			tok, err = t.fetchHolding(ctx)
		}
		<-t.one
		if err != nil {
			return "", fmt.Errorf("wechat access token: %w", err)
		}
		if got {
			return tok, nil
		}
		if time.Now().After(deadline) {
			return "", errors.New("wechat access token: another replica is fetching it and has not stored it in time")
		}
		if !bots.Sleep(ctx, t.poll) {
			return "", ctx.Err()
		}
	}
}

// fetchHolding fetches and stores a token while holding the lease.
func (t *tokenSource) fetchHolding(ctx context.Context) (string, error) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := t.store.ReleaseLease(rctx, t.lease, t.holder); err != nil {
			t.log.Warn("wechat: release token lease", "err", err)
		}
	}()
	// Another replica may have stored one between our read and the lease.
	if tok, ok, err := t.store.KVGet(ctx, t.key); err != nil {
		return "", err
	} else if ok && tok != "" {
		return tok, nil
	}
	body, err := util.HTTPGetContext(ctx, fmt.Sprintf(tokenURL, url.QueryEscape(t.appID), url.QueryEscape(t.secret)))
	if err != nil {
		return "", t.failed(ctx, redact(err))
	}
	var res credential.ResAccessToken
	if err := json.Unmarshal(body, &res); err != nil {
		return "", t.failed(ctx, fmt.Errorf("bad answer: %w", err))
	}
	if res.ErrCode != 0 || res.AccessToken == "" {
		return "", t.failed(ctx, &APIError{Code: res.ErrCode, Msg: res.ErrMsg})
	}
	t.metrics.tokenFetch("ok")
	t.failures = 0
	t.health.OK(store.ChannelWeChat)
	if err := t.store.KVSet(ctx, t.key, res.AccessToken, tokenTTL(res.ExpiresIn)); err != nil {
		return "", err
	}
	return res.AccessToken, nil
}

// degradedAfter is how many token fetches in a row must fail before the
// channel counts as degraded: one failure may be a blip, and the
// dispatcher retries.
const degradedAfter = 3

// failed records a failed token fetch and returns err.
func (t *tokenSource) failed(ctx context.Context, err error) error {
	t.metrics.tokenFetch("error")
	if ctx.Err() != nil {
		return err // shutting down or given up: says nothing about WeChat
	}
	if t.failures++; t.failures >= degradedAfter {
		t.health.Degraded(store.ChannelWeChat, fmt.Sprintf("access token: %d fetches in a row failed, last: %v", t.failures, err))
	}
	return err
}

// tokenTTL keeps a token until 10 minutes before WeChat expires it.
func tokenTTL(expiresIn int64) time.Duration {
	ttl := time.Duration(expiresIn) * time.Second
	if ttl > 20*time.Minute {
		return ttl - 10*time.Minute
	}
	return max(ttl/2, time.Second)
}

// invalidate drops tok from the shared cache after WeChat refused it
// (40001/40014/42001), unless another replica already replaced it.
func (t *tokenSource) invalidate(ctx context.Context, tok string) error {
	_, err := t.store.KVDelete(ctx, t.key, &tok)
	return err
}

// APIError is an errcode answer from the WeChat API.
type APIError struct {
	Code int64
	Msg  string
}

func (e *APIError) Error() string { return fmt.Sprintf("errcode=%d errmsg=%s", e.Code, e.Msg) }

// secretParam matches credentials in URLs the library puts in its errors.
var secretParam = regexp.MustCompile(`((?:access_token|secret)=)[^&\s"]+`)

// redact removes access tokens and the app secret from an error's text.
func redact(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	r := secretParam.ReplaceAllString(s, "${1}REDACTED")
	if r == s {
		return err
	}
	return errors.New(r)
}
