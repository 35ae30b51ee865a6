package webchat

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Default posting limits (see Options).
const (
	defaultPostBurst = 5
	defaultPostEvery = 2 * time.Second
	defaultIPBurst   = 20
	defaultIPEvery   = 500 * time.Millisecond

	defaultNewVisitorBurst = 30
	defaultNewVisitorEvery = 10 * time.Second

	defaultStreamsPerVisitor = 3
	defaultStreamsPerClient  = 20
)

// limiterIdle is how long a key's bucket is kept after its last post; it is
// at least the time the bucket takes to refill, so forgetting a key never
// hands out tokens early.
const limiterIdle = 10 * time.Minute

// sweepEvery is how often a limiter looks for idle keys.
const sweepEvery = time.Minute

// limiter is a token bucket per key (visitor id, client address). Keys
// idle for longer than idle are swept, so memory follows recent traffic.
type limiter struct {
	limit rate.Limit
	burst int
	idle  time.Duration

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{
		limit:   rate.Every(every),
		burst:   burst,
		idle:    max(limiterIdle, time.Duration(burst)*every),
		buckets: map[string]*bucket{},
	}
}

// reserve takes a token for key at now. The reservation's DelayFrom(now)
// is how long the caller would have to wait; cancel it if not acting.
func (l *limiter) reserve(key string, now time.Time) *rate.Reservation {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.ReserveN(now, 1)
}

func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.seen) > l.idle {
			delete(l.buckets, k)
		}
	}
	l.lastSweep = now
}

// admit takes one post's tokens from both the visitor's and the client
// address's bucket, or neither: a refused post must not use up the budget
// of the other key (a neighbour behind the same NAT, say). wait is how
// long until the post would be allowed.
func (c *Channel) admit(visitor, client string) (ok bool, wait time.Duration) {
	now := c.opts.Now()
	rv := c.visitors.reserve(visitor, now)
	rc := c.clients.reserve(client, now)
	wait = max(rv.DelayFrom(now), rc.DelayFrom(now))
	if wait > 0 {
		rv.CancelAt(now)
		rc.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// retryAfter is a Retry-After value: whole seconds, at least 1.
func retryAfter(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}

// ClientIP is the client address of a request: the peer, unless the peer
// is one of the trusted proxies; then, walking X-Forwarded-For from the
// right (each proxy appends the address it saw), the first address that
// is not a trusted proxy. Anyone can write X-Forwarded-For, so only hops
// added by trusted proxies count. IPv6 clients are keyed by their /64,
// which one subscriber usually holds whole.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if isTrusted(addr, trusted) {
		var hops []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
		for i := len(hops) - 1; i >= 0 && isTrusted(addr, trusted); i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // garbage: keep the last address a trusted hop vouched for
			}
			addr = a.Unmap()
		}
	}
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.String()
		}
	}
	return addr.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a) })
}
