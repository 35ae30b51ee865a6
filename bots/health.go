package bots

import (
	"cmp"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Channel states as /readyz names them.
const (
	// StateOK: the channel reaches its platform (or needs none).
	StateOK = "ok"
	// StateDegraded: the platform can't be reached; the adapter keeps
	// retrying and the rest of the service carries on.
	StateDegraded = "degraded"
	// StateDisabled: the channel is not configured.
	StateDisabled = "disabled"
)

// ChannelHealth is one channel's state.
type ChannelHealth struct {
	State  string
	Reason string // why it is degraded or disabled
	Since  time.Time
}

// Health is the state of every chat channel, shared by the adapters (which
// report) and the web server (which shows it on /readyz). Each change of
// state is logged once and sets the rapport_channel_up gauge; repeated
// reports of the same state (a retry that fails again) change nothing but
// the reason. A nil *Health records nothing, so adapters run without one
// in tests.
type Health struct {
	log *slog.Logger
	up  *prometheus.GaugeVec
	now func() time.Time

	mu       sync.Mutex
	channels map[string]ChannelHealth
}

// NewHealth registers the rapport_channel_up gauge on reg (nil: no metric).
func NewHealth(reg prometheus.Registerer, log *slog.Logger) *Health {
	log = cmp.Or(log, slog.Default())
	h := &Health{log: log, now: time.Now, channels: map[string]ChannelHealth{}}
	h.up = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rapport_channel_up",
		Help: "1 while a chat channel reaches its platform, 0 while it is degraded; absent when disabled.",
	}, []string{"channel"})
	if reg != nil {
		reg.MustRegister(h.up)
	}
	return h
}

// Start records a channel's initial state without logging it: ok for an
// enabled channel until it fails, disabled (with a reason) otherwise.
func (h *Health) Start(channel, state, reason string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.channels[channel] = ChannelHealth{State: state, Reason: reason, Since: h.now()}
	h.gauge(channel, state)
}

// OK reports that channel reaches its platform.
func (h *Health) OK(channel string) { h.set(channel, StateOK, "") }

// Degraded reports that channel can't reach its platform, and why. The
// reason is for logs and operators, never for the public /readyz body: it
// may name hosts.
func (h *Health) Degraded(channel, reason string) { h.set(channel, StateDegraded, reason) }

func (h *Health) set(channel, state, reason string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	old, known := h.channels[channel]
	if known && old.State == state {
		old.Reason = reason
		h.channels[channel] = old
		return
	}
	h.channels[channel] = ChannelHealth{State: state, Reason: reason, Since: h.now()}
	h.gauge(channel, state)
	switch {
	case state == StateDegraded:
		h.log.Warn("channel degraded", "channel", channel, "reason", reason)
	case known && old.State == StateDegraded:
		h.log.Info("channel recovered", "channel", channel, "degraded_for", h.now().Sub(old.Since).Round(time.Second).String())
	default:
		h.log.Info("channel state", "channel", channel, "state", state)
	}
}

func (h *Health) gauge(channel, state string) {
	switch state {
	case StateOK:
		h.up.WithLabelValues(channel).Set(1)
	case StateDegraded:
		h.up.WithLabelValues(channel).Set(0)
	default:
		h.up.DeleteLabelValues(channel)
	}
}

// Get is one channel's state; ok is false for a channel never reported.
func (h *Health) Get(channel string) (ChannelHealth, bool) {
	if h == nil {
		return ChannelHealth{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.channels[channel]
	return c, ok
}

// ChannelStates maps each known channel to its state (web's /readyz).
func (h *Health) ChannelStates() map[string]string {
	out := map[string]string{}
	if h == nil {
		return out
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, c := range h.channels {
		out[name] = c.State
	}
	return out
}

// RetryDelay is the wait before retry number attempt (0-based) of a
// platform call: exponential from first, capped at limit, with "equal jitter"
// (half fixed, half random) so replicas that failed together do not retry
// in step.
func RetryDelay(attempt int, first, limit time.Duration) time.Duration {
	d := first
	for i := 0; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}
