// Package webchat is the web chat channel for the company's website: a
// self-contained page at /chat, visitors known by a signed cookie, inbound
// messages posted as JSON, and outbound ones (agent replies, care) pushed
// with server-sent events. Delivery is the outbox's: Send only marks a row
// delivered, and the event stream shows rows once they are sent.
package webchat

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/store"
)

// CookieName is the visitor cookie.
const CookieName = "rapport_chat"

// secretKey is where the cookie-signing secret lives in the kv table, so
// every replica signs and checks with the same one.
const secretKey = "webchat:cookie_secret"

// Options are the channel's collaborators.
type Options struct {
	Receiver bots.Receiver
	Store    *store.Store
	Logger   *slog.Logger
	// Poll is how often an event stream looks for new messages (default 1 s).
	Poll time.Duration
	// Heartbeat keeps idle streams open through proxies (default 15 s).
	Heartbeat time.Duration
	// PostBurst and PostEvery limit one visitor's posts: a burst of
	// PostBurst, then one message per PostEvery (default 5 and 2 s).
	PostBurst int
	PostEvery time.Duration
	// IPBurst and IPEvery are the looser limit per client address, for
	// visitors who drop their cookie to get a fresh budget (default 20
	// and 500 ms).
	IPBurst int
	IPEvery time.Duration
	// NewVisitorBurst and NewVisitorEvery limit the visitor cookies one
	// client address is issued: a burst, then one per interval (default
	// 30 and 10 s). Each visitor can become a customer, so this bounds
	// how fast one address can create them.
	NewVisitorBurst int
	NewVisitorEvery time.Duration
	// StreamsPerVisitor and StreamsPerClient cap the open event streams
	// of one visitor and of one client address (default 3 and 20).
	StreamsPerVisitor int
	StreamsPerClient  int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (http.trusted_proxies); empty trusts none.
	TrustedProxies []netip.Prefix
	// ClientIP names the client address of a request (default ClientIP
	// with TrustedProxies).
	ClientIP func(*http.Request) string
	// Now is the rate limits' clock (default time.Now).
	Now func() time.Time
}

// Channel is the web chat channel: bots.Channel plus the HTTP handlers.
type Channel struct {
	opts   Options
	log    *slog.Logger
	secret []byte

	// Posting limits, per visitor and per client address.
	visitors *limiter
	clients  *limiter
	// newVisitors limits the cookies issued per client address.
	newVisitors *limiter
	streams     *streamSlots
	// ending is closed at shutdown: open event streams end, new ones are
	// refused, so the HTTP server can drain.
	ending    chan struct{}
	endStream sync.Once
}

var _ bots.Channel = (*Channel)(nil)

// New loads the shared cookie secret, creating it on first start.
func New(ctx context.Context, o Options) (*Channel, error) {
	if o.Store == nil || o.Receiver == nil {
		return nil, errors.New("webchat: a store and a receiver are required")
	}
	o.Logger = cmp.Or(o.Logger, slog.Default())
	o.Poll = cmp.Or(o.Poll, time.Second)
	o.Heartbeat = cmp.Or(o.Heartbeat, 15*time.Second)
	o.PostBurst = cmp.Or(o.PostBurst, defaultPostBurst)
	o.PostEvery = cmp.Or(o.PostEvery, defaultPostEvery)
	o.IPBurst = cmp.Or(o.IPBurst, defaultIPBurst)
	o.IPEvery = cmp.Or(o.IPEvery, defaultIPEvery)
	o.NewVisitorBurst = cmp.Or(o.NewVisitorBurst, defaultNewVisitorBurst)
	o.NewVisitorEvery = cmp.Or(o.NewVisitorEvery, defaultNewVisitorEvery)
	o.StreamsPerVisitor = cmp.Or(o.StreamsPerVisitor, defaultStreamsPerVisitor)
	o.StreamsPerClient = cmp.Or(o.StreamsPerClient, defaultStreamsPerClient)
	if o.ClientIP == nil {
		trusted, log := o.TrustedProxies, o.Logger
		var warn sync.Once
		o.ClientIP = func(r *http.Request) string {
			if len(trusted) == 0 && r.Header.Get("X-Forwarded-For") != "" {
				// Behind a proxy nobody listed, every visitor would share
				// the proxy's limits: say so once.
				warn.Do(func() {
					log.Warn("webchat: X-Forwarded-For ignored; if Rapport is behind a reverse proxy, list it in http.trusted_proxies so visitors are told apart")
				})
			}
			return ClientIP(r, trusted)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	secret, err := loadSecret(ctx, o.Store)
	if err != nil {
		return nil, fmt.Errorf("webchat: %w", err)
	}
	return &Channel{
		opts: o, log: o.Logger, secret: secret,
		visitors:    newLimiter(o.PostBurst, o.PostEvery),
		clients:     newLimiter(o.IPBurst, o.IPEvery),
		newVisitors: newLimiter(o.NewVisitorBurst, o.NewVisitorEvery),
		streams:     newStreamSlots(o.StreamsPerVisitor, o.StreamsPerClient),
		ending:      make(chan struct{}),
	}, nil
}

// loadSecret reads the signing secret, or adds one; of replicas starting
// together one adds it and all read the same.
func loadSecret(ctx context.Context, s *store.Store) ([]byte, error) {
	var b [32]byte
	rand.Read(b[:])
	if _, err := s.KVAdd(ctx, secretKey, hex.EncodeToString(b[:]), 0); err != nil {
		return nil, err
	}
	v, ok, err := s.KVGet(ctx, secretKey)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("cookie secret missing")
	}
	return hex.DecodeString(v)
}

// Name is the store channel name.
func (c *Channel) Name() string { return store.ChannelWebChat }

// Limits: none; the browser polls at its own pace.
func (c *Channel) Limits() bots.Limits { return bots.Limits{} }

// Run has nothing to do in the background; it waits for ctx, then ends
// any event stream still open.
func (c *Channel) Run(ctx context.Context) error {
	<-ctx.Done()
	c.EndStreams()
	return nil
}

// EndStreams ends every open event stream and refuses new ones (503, so
// browsers reconnect elsewhere). Call it when HTTP shutdown begins
// (http.Server.RegisterOnShutdown): Shutdown waits for handlers, and a
// stream's handler only returns when the stream ends.
func (c *Channel) EndStreams() {
	c.endStream.Do(func() { close(c.ending) })
}

// Send marks an outbox row delivered: the visitor's event stream picks up
// sent rows. The provider id is the row id.
func (c *Channel) Send(_ context.Context, m *store.Message) (string, error) {
	if m.ChatID == "" {
		return "", &bots.SendError{Outcome: bots.Fail, Reason: "no visitor id"}
	}
	return strconv.FormatInt(m.ID, 10), nil
}

// sign is the cookie value for a visitor id.
func (c *Channel) sign(id string) string {
	mac := hmac.New(sha256.New, c.secret)
	mac.Write([]byte(id))
	return id + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// verify returns the visitor id of a cookie value, or "" if it was not
// signed by us.
func (c *Channel) verify(v string) string {
	id, _, ok := strings.Cut(v, ".")
	if !ok || !validID(id) {
		return ""
	}
	if !hmac.Equal([]byte(c.sign(id)), []byte(v)) {
		return ""
	}
	return id
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// knownVisitor is the visitor id of the request's cookie, or "" when it
// has none or one we did not sign.
func (c *Channel) knownVisitor(r *http.Request) string {
	if ck, err := r.Cookie(CookieName); err == nil {
		return c.verify(ck.Value)
	}
	return ""
}

// newVisitor issues a visitor id and sets its cookie, while the client
// address's budget for new visitors lasts; otherwise it returns "" and how
// long until the next one.
func (c *Channel) newVisitor(w http.ResponseWriter, r *http.Request, client string) (string, time.Duration) {
	now := c.opts.Now()
	res := c.newVisitors.reserve(client, now)
	if wait := res.DelayFrom(now); wait > 0 {
		res.CancelAt(now)
		return "", wait
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: c.sign(id), Path: "/chat", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
	})
	return id, 0
}
