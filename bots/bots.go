// Package bots connects Rapport to chat platforms. It holds the
// channel-agnostic types, the router that turns inbound chat into stored
// messages and hook calls, and the outbox dispatcher that delivers every
// outbound message. Platform quirks (Telegram's retry_after, WeChat's 48-hour
// window) stay inside the adapters in bots/telegram, bots/wechat and
// bots/webchat.
package bots

import (
	"context"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// Inbound is a message or event from a chat user, whatever the platform.
type Inbound struct {
	Channel    string // store.ChannelTelegram, ...
	SenderID   string // Telegram user id, WeChat openid, web chat visitor id
	ChatID     string // where replies go
	DedupKey   string // Telegram update_id; WeChat MsgId or From+CreateTime+Event
	Kind       string // text, callback, event; image, voice, video, location, link (WeChat); photo, document, animation, video, video_note, voice, audio, sticker, venue, location, contact, dice, poll (Telegram)
	Text       string
	Event      string // platform event: subscribe, unsubscribe, blocked, unblocked, click, view, scan
	EventKey   string // WeChat EventKey (qrscene_...), menu key
	Callback   string // inline-button data
	CallbackID string // Telegram callback query id, to answer it
	ReplyTo    string // provider id of the message replied to
	Name       string // display name for first contact
	Locale     string // language hint
	Source     string // acquisition source for first contact ("wechat:qrscene:X")
	Raw        []byte
	// Media is what a non-text message carries: its file, place or
	// contact card, kept with the message (store.Message.Media).
	Media *store.Media
	// Contact is a phone number the sender shared (Telegram's contact
	// message); with UserID equal to SenderID it is their own number, which
	// the platform verified.
	Contact *SharedContact
}

// SharedContact is a contact card shared in chat.
type SharedContact struct {
	Phone  string `json:"phone"`
	UserID string `json:"user_id,omitempty"` // the platform user it belongs to, if any
	Name   string `json:"name,omitempty"`
}

// Channel delivers outbound messages on one platform.
type Channel interface {
	// Name is the store channel name.
	Name() string
	// Send delivers one outbox row and returns the platform's message id.
	// Errors should be *SendError to say whether to retry.
	Send(ctx context.Context, m *store.Message) (providerID string, err error)
}

// Outcome classifies a failed send.
type Outcome int

const (
	// Retry transiently (network, 5xx) with backoff.
	Retry Outcome = iota
	// RetryAfter waits exactly SendError.After (Telegram 429 retry_after).
	RetryAfter
	// Skip gives up on this message with a reason (outside WeChat's window
	// with no template, Telegram user who never started the bot).
	Skip
	// Unreachable gives up and marks the identity unreachable (blocked the
	// bot, unsubscribed).
	Unreachable
	// Fail gives up: the message is bad (400) and will never go through.
	Fail
)

// SendError tells the dispatcher what to do with a failed send.
type SendError struct {
	Outcome Outcome
	After   time.Duration
	Reason  string
	Err     error
}

func (e *SendError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *SendError) Unwrap() error { return e.Err }

// Hook reacts to a stored inbound chat message. Hooks run in order; the
// first that returns handled=true stops the rest. Hooks answer by enqueueing
// outbound messages (store.Enqueue), never by calling a platform directly.
// care, followup and templates implement it without importing bots.
type Hook interface {
	HandleChat(ctx context.Context, ev *store.ChatEvent) (handled bool, err error)
}

// Receiver takes inbound chat from an adapter. Receive returns once the
// message is durably stored (or recognised as a duplicate); hooks and
// replies run afterwards, so webhook handlers can answer fast.
type Receiver interface {
	Receive(ctx context.Context, in Inbound) error
}

// Inbound kinds the router treats specially.
const (
	KindText     = "text"
	KindCallback = "callback"
	KindEvent    = "event"
)

// Inbound events (Inbound.Event) that change whether an identity is
// reachable: subscribe/unblocked make it reachable (subscribe also gets the
// welcome), unsubscribe/blocked make it unreachable.
const (
	EventSubscribe   = "subscribe"
	EventUnsubscribe = "unsubscribe"
	EventBlocked     = "blocked"
	EventUnblocked   = "unblocked"
)
