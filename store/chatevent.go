package store

import (
	"cmp"
	"strings"
	"unicode"
)

// ChatEvent is one stored inbound chat message as the router hands it to the
// hooks of other packages (care's survey answers, follow-up's staff commands
// and relays, template editing in chat). It carries only store types so that
// care and followup need not import bots.
type ChatEvent struct {
	Message  *Message  // the stored inbound row
	Identity *Identity // the sender's identity; nil when the sender is staff
	Staff    *Staff    // the bound staff member, or nil for a customer
	// SenderID is the platform user id (Telegram user id, WeChat openid,
	// web chat visitor id); with Message.Channel it names the chat account
	// even when neither Identity nor Staff is set (an unbound /bind).
	SenderID string
	// Command is the normalised command without slash or @bot suffix
	// ("start", "birthday", "tasks", "done", "template"); WeChat's Chinese
	// words are mapped to the same names. Args is the rest of the text.
	Command string
	Args    string
	// CallbackData is a Telegram inline-button payload ("sv:123:4").
	CallbackData string
	// ReplyToProviderMsgID is the platform id of the message this one
	// replies to (Telegram reply-to), for relays.
	ReplyToProviderMsgID string
	// Facts, when set, are the customer's chat facts read for this
	// message's batch; nil means a hook reads what it needs itself.
	Facts *ChatFacts
}

// CutWord splits chat text at its first run of white space (the
// full-width space Chinese keyboards type, too): a command's first
// argument and the rest, both trimmed.
func CutWord(s string) (word, rest string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// Reply is an outbound message answering the event on the chat it came
// from, to the staff member or the customer's identity who wrote (neither
// for an account binding itself), under the idempotency key: a message
// processed again answers once.
func (e *ChatEvent) Reply(text, idempotencyKey string) Outbound {
	o := Outbound{Channel: e.Message.Channel, ChatID: cmp.Or(e.Message.ChatID, e.SenderID), Text: text, IdempotencyKey: idempotencyKey}
	if e.Staff != nil {
		id := e.Staff.ID
		o.StaffID = &id
	} else if e.Identity != nil {
		cid, iid := e.Identity.CustomerID, e.Identity.ID
		o.CustomerID, o.IdentityID = &cid, &iid
	}
	return o
}
