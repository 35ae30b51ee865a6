package bots

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/rapport-crm/rapport/store"
)

// Limits are a channel's send rates. They hold across every process that
// shares the database because only the holder of the channel's dispatch
// lease sends on it.
type Limits struct {
	PerSecond float64 // whole channel; 0 = unlimited
	PerChat   float64 // one chat (Telegram: 1/s); 0 = unlimited
}

// DispatcherOptions configure a Dispatcher. Zero values are defaults.
type DispatcherOptions struct {
	// ID names this process as lease holder and claimer (default
	// host-pid-random). Two dispatchers must not share an ID.
	ID string
	// Batch is how many rows one claim takes (default 200, and at most two
	// seconds' worth at the channel's rate).
	Batch int
	// Workers is how many sends run at once per channel (default 16).
	Workers int
	// Lease is how long the channel lease and row claims last (default
	// 15 s); the lease is renewed every Lease/3, so a dead holder is
	// replaced within Lease.
	Lease time.Duration
	// Poll is how often an idle channel looks for due rows (default 500 ms).
	Poll time.Duration
	// RetryFor is how long a message that meets transient errors (network,
	// 5xx) is retried before it is failed, counted from its creation or
	// from staff requeuing it (default 24 h: an outage is not the
	// message's fault).
	RetryFor time.Duration
	// MaxBackoff caps the wait between two tries of a message (default
	// 30 min); the wait starts at about 1 s and doubles, with jitter.
	MaxBackoff time.Duration
	// DepthEvery refreshes the outbox depth gauge (default 15 s).
	DepthEvery time.Duration
	Logger     *slog.Logger
	Metrics    *Metrics
}

// Dispatcher delivers outbox rows (store.Message with direction out) on
// every added channel: it holds the channel's lease, claims due rows in
// batches, sends them within the channel's limits, and records every
// outcome. Delivery is at-least-once at the wire: a row whose claim
// expires (crash between claim and completion) is delivered again.
type Dispatcher struct {
	store    *store.Store
	opts     DispatcherOptions
	log      *slog.Logger
	channels []*channelState
}

type channelState struct {
	ch     Channel
	limits Limits
	kick   chan struct{}
	global *rate.Limiter

	mu          sync.Mutex
	chats       map[string]*rate.Limiter
	pausedUntil time.Time
}

// NewDispatcher builds a dispatcher; add channels, then Run it.
func NewDispatcher(s *store.Store, o DispatcherOptions) *Dispatcher {
	o.ID = cmp.Or(o.ID, store.HolderName())
	o.Batch = cmp.Or(o.Batch, 200)
	o.Workers = cmp.Or(o.Workers, 16)
	o.Lease = cmp.Or(o.Lease, 15*time.Second)
	o.Poll = cmp.Or(o.Poll, 500*time.Millisecond)
	o.RetryFor = cmp.Or(o.RetryFor, 24*time.Hour)
	o.MaxBackoff = cmp.Or(o.MaxBackoff, 30*time.Minute)
	o.DepthEvery = cmp.Or(o.DepthEvery, 15*time.Second)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	return &Dispatcher{store: s, opts: o, log: o.Logger}
}

// Add registers a channel with its limits. Call before Run.
func (d *Dispatcher) Add(ch Channel, l Limits) {
	cs := &channelState{ch: ch, limits: l, kick: make(chan struct{}, 1), chats: map[string]*rate.Limiter{}}
	cs.global = rate.NewLimiter(rate.Inf, 1)
	if l.PerSecond > 0 {
		// Burst 1: a new lease holder cannot add a burst on top of the
		// previous holder's last second.
		cs.global = rate.NewLimiter(rate.Limit(l.PerSecond), 1)
	}
	d.channels = append(d.channels, cs)
}

// ID is the dispatcher's lease-holder name.
func (d *Dispatcher) ID() string { return d.opts.ID }

// Kick wakes idle channels to look for new rows now.
func (d *Dispatcher) Kick() {
	for _, cs := range d.channels {
		select {
		case cs.kick <- struct{}{}:
		default:
		}
	}
}

// Run delivers until ctx is cancelled, then puts unsent claimed rows back,
// releases its leases and returns nil.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	names := make([]string, 0, len(d.channels))
	for _, cs := range d.channels {
		names = append(names, cs.ch.Name())
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.runChannel(ctx, cs)
		}()
	}
	if d.opts.Metrics != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.refreshDepth(ctx, names)
		}()
	}
	wg.Wait()
	return nil
}

// refreshDepth sets the outbox depth gauge every DepthEvery until ctx ends.
func (d *Dispatcher) refreshDepth(ctx context.Context, names []string) {
	for ok := true; ok; ok = Sleep(ctx, d.opts.DepthEvery) {
		if counts, err := d.store.OutboxDepth(ctx); err == nil {
			d.opts.Metrics.setDepth(counts, names)
		} else if ctx.Err() == nil {
			d.log.Warn("outbox depth", "err", err)
		}
	}
}

func leaseName(channel string) string { return "dispatch:" + channel }

// runChannel waits for the channel's lease and sends while holding it.
func (d *Dispatcher) runChannel(ctx context.Context, cs *channelState) {
	name := leaseName(cs.ch.Name())
	retry := d.opts.Lease / 3
	for ctx.Err() == nil {
		ok, err := d.store.AcquireLease(ctx, name, d.opts.ID, d.opts.Lease)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("dispatch lease", "channel", cs.ch.Name(), "err", err)
		}
		if ok {
			d.hold(ctx, cs, name)
			continue
		}
		Sleep(ctx, retry)
	}
}

// hold runs a sending session while renewing the lease; the session stops
// as soon as a renewal fails, before anyone else can take over.
func (d *Dispatcher) hold(ctx context.Context, cs *channelState, name string) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		last := time.Now()
		t := time.NewTicker(d.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			ok, err := d.store.AcquireLease(sctx, name, d.opts.ID, d.opts.Lease)
			switch {
			case ok:
				last = time.Now()
			case err == nil:
				d.log.Warn("dispatch lease lost", "channel", cs.ch.Name())
				cancel()
				return
			case time.Since(last) > d.opts.Lease*2/3:
				d.log.Warn("dispatch lease not renewed in time", "channel", cs.ch.Name(), "err", err)
				cancel()
				return
			}
		}
	}()
	d.session(sctx, cs)
	cancel()
	<-renewed
	if ctx.Err() != nil {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if err := d.store.ReleaseLease(rctx, name, d.opts.ID); err != nil {
			d.log.Warn("release dispatch lease", "channel", cs.ch.Name(), "err", err)
		}
	}
}

// session is a pipeline: one claimer feeds claimed rows to the send
// workers, and one completer records outcomes in batches.
func (d *Dispatcher) session(ctx context.Context, cs *channelState) {
	batch := d.opts.Batch
	if cs.limits.PerSecond > 0 {
		batch = max(1, min(batch, int(math.Ceil(cs.limits.PerSecond*2))))
	}
	rows := make(chan *store.Message, batch)
	results := make(chan store.Delivery, batch)

	go func() {
		defer close(rows)
		var from store.OutboxCursor // see store.OutboxCursor
		for ctx.Err() == nil {
			ms, next, err := d.store.ClaimOutboxAfter(ctx, cs.ch.Name(), batch, d.opts.Lease, from)
			from = next
			if err != nil && ctx.Err() == nil {
				d.log.Warn("claim outbox", "channel", cs.ch.Name(), "err", err)
			}
			for _, m := range ms {
				rows <- m // workers drain rows even after ctx ends
			}
			if len(ms) < batch {
				select {
				case <-ctx.Done():
				case <-cs.kick:
				case <-time.After(d.opts.Poll):
				}
			}
		}
	}()

	var workers sync.WaitGroup
	for range d.opts.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for m := range rows {
				results <- d.deliver(ctx, cs, m)
			}
		}()
	}
	go func() { workers.Wait(); close(results) }()

	// Complete with a context that outlives ctx, so outcomes of sends
	// that happened are recorded on shutdown.
	cctx := context.WithoutCancel(ctx)
	pending := make([]store.Delivery, 0, batch)
	flush := func() {
		if len(pending) == 0 {
			return
		}
		fctx, fcancel := context.WithTimeout(cctx, 30*time.Second)
		if err := d.store.CompleteOutbox(fctx, pending); err != nil {
			// The rows stay claimed until their lease expires, then are
			// delivered again: at-least-once.
			d.log.Error("complete outbox", "channel", cs.ch.Name(), "rows", len(pending), "err", err)
		}
		fcancel()
		pending = pending[:0]
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r, ok := <-results:
			if !ok {
				flush()
				return
			}
			pending = append(pending, r)
			if len(pending) >= batch {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// putBack returns a row to the queue untouched (no attempt counted).
func putBack(m *store.Message, at time.Time, reason string) store.Delivery {
	return store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusQueued, NextAttemptAt: at, Reason: reason}
}

// deliver sends one claimed row within the channel's limits and says what
// became of it.
func (d *Dispatcher) deliver(ctx context.Context, cs *channelState, m *store.Message) store.Delivery {
	name := cs.ch.Name()
	now := d.store.Now()
	if ctx.Err() != nil {
		return putBack(m, now, "")
	}
	// Per-chat rate: a row that would come too soon waits in the queue,
	// not in a worker.
	if cs.limits.PerChat > 0 {
		cs.mu.Lock()
		lim := cs.chats[m.ChatID]
		if lim == nil {
			if len(cs.chats) > 10000 {
				cs.chats = map[string]*rate.Limiter{} // forget idle chats
			}
			lim = rate.NewLimiter(rate.Limit(cs.limits.PerChat), 1)
			cs.chats[m.ChatID] = lim
		}
		res := lim.Reserve()
		delay := res.Delay()
		if delay > 0 {
			res.Cancel()
		}
		cs.mu.Unlock()
		if delay > 0 {
			d.opts.Metrics.send(name, "deferred")
			return putBack(m, now.Add(delay), "")
		}
	}
	// The global token first, then the pause check: a 429 that arrived
	// while this worker waited for its token must still hold it back.
	for {
		if err := cs.global.Wait(ctx); err != nil {
			return putBack(m, d.store.Now(), "")
		}
		cs.mu.Lock()
		paused := time.Until(cs.pausedUntil)
		cs.mu.Unlock()
		if paused <= 0 {
			break
		}
		if paused > 5*time.Second {
			return putBack(m, d.store.Now().Add(paused), "")
		}
		if !Sleep(ctx, paused) {
			return putBack(m, d.store.Now(), "")
		}
	}
	// A claim that is about to lapse may be taken over by another
	// dispatcher: sending now could deliver twice. Put it back instead.
	left := d.opts.Lease
	if m.LeaseUntil != nil {
		left = m.LeaseUntil.Sub(d.store.Now())
		if left < d.opts.Lease/4 {
			d.opts.Metrics.send(name, "deferred")
			return putBack(m, d.store.Now(), "")
		}
	}
	// A send that has started finishes even on shutdown (cancelling it
	// midway may have delivered the message and would then retry it), but
	// never outlives its claim.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), left)
	defer cancel()
	providerID, err := cs.ch.Send(sctx, m)
	now = d.store.Now()
	if err == nil {
		d.opts.Metrics.send(name, "sent")
		d.opts.Metrics.sent(name, now.Sub(m.CreatedAt))
		return store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusSent, ProviderMsgID: providerID, Attempted: true}
	}
	var se *SendError
	if !errors.As(err, &se) {
		se = &SendError{Outcome: Retry, Reason: "send failed", Err: err}
	}
	reason := se.Error() // the store cuts it to its column
	switch se.Outcome {
	case RetryAfter:
		d.opts.Metrics.send(name, "rate_limited")
		after := max(se.After, time.Second)
		cs.mu.Lock()
		if until := time.Now().Add(after); until.After(cs.pausedUntil) {
			cs.pausedUntil = until
		}
		cs.mu.Unlock()
		// Not the message's fault: no attempt counted.
		return store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusQueued, NextAttemptAt: now.Add(after), Reason: reason}
	case Skip:
		d.opts.Metrics.send(name, "skipped")
		return store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusSkipped, Reason: reason, Attempted: true}
	case Unreachable:
		d.opts.Metrics.send(name, "unreachable")
		if m.IdentityID != nil {
			if err := d.store.SetIdentityReachable(context.WithoutCancel(ctx), *m.IdentityID, false, reason); err != nil {
				d.log.Warn("mark unreachable", "identity_id", *m.IdentityID, "err", err)
			}
		}
		return store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusFailed, Reason: reason, Attempted: true}
	case Fail:
		d.opts.Metrics.send(name, "failed")
		return store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusFailed, Reason: reason, Attempted: true}
	}
	// Retry (network, 5xx): not the message's fault, so it waits out the
	// outage, up to RetryFor; the last try falls on the deadline.
	deadline := retryStart(m).Add(d.opts.RetryFor)
	if !now.Before(deadline) {
		d.opts.Metrics.send(name, "failed")
		reason = fmt.Sprintf("gave up after %s of retries: %s", d.opts.RetryFor, se.Error())
		return store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusFailed, Reason: reason, Attempted: true}
	}
	next := now.Add(RetryDelay(m.Attempts, time.Second, d.opts.MaxBackoff))
	if next.After(deadline) {
		next = deadline
	}
	d.opts.Metrics.send(name, "retry")
	return store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusQueued, NextAttemptAt: next, Reason: reason, Attempted: true}
}

// retryStart is when a message's retry window opened: its creation, or
// its last requeue by staff.
func retryStart(m *store.Message) time.Time {
	if m.RequeuedAt != nil && m.RequeuedAt.After(m.CreatedAt) {
		return *m.RequeuedAt
	}
	return m.CreatedAt
}

// Sleep waits d or until ctx ends; it reports whether the full time
// passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
