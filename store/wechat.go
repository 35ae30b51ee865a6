package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ChatActivity is the recent inbound traffic of the chat an outbound
// message goes to: what WeChat's customer-service window depends on.
type ChatActivity struct {
	// LastMessageAt is the newest inbound message that is not an event.
	LastMessageAt *time.Time
	// LastEventAt is the newest inbound event among the ones asked for,
	// and LastEvent its name.
	LastEventAt *time.Time
	LastEvent   string
}

// chatScope narrows a query to the conversation of out: same recipient
// (customer or staff, both indexed), channel and chat address.
func chatScope(db *gorm.DB, out *Message) (*gorm.DB, error) {
	switch {
	case out.CustomerID != nil:
		db = db.Where("customer_id = ?", *out.CustomerID)
	case out.StaffID != nil:
		db = db.Where("staff_id = ?", *out.StaffID)
	default:
		return nil, Errorf(EINVALID, "message %d has no recipient", out.ID)
	}
	return db.Where("channel = ? AND chat_id = ?", out.Channel, out.ChatID), nil
}

// LastInbound reports the newest inbound message and the newest inbound
// event named in events (Message.Text of kind "event" rows) of out's chat,
// looking back no further than since.
func (s *Store) LastInbound(ctx context.Context, out *Message, since time.Time, events []string) (ChatActivity, error) {
	var act ChatActivity
	db := s.db.WithContext(ctx)
	q, err := chatScope(db, out)
	if err != nil {
		return act, err
	}
	var ms []Message
	err = q.Select("created_at").Where("direction = ? AND kind <> ? AND created_at >= ?", DirectionIn, "event", since.UTC()).
		Order("created_at DESC").Limit(1).Find(&ms).Error
	if err != nil {
		return act, fmt.Errorf("last inbound: %w", err)
	}
	if len(ms) == 1 {
		act.LastMessageAt = &ms[0].CreatedAt
	}
	if len(events) == 0 {
		return act, nil
	}
	q, _ = chatScope(db, out)
	ms = nil
	err = q.Select("created_at", "text").Where("direction = ? AND kind = ? AND text IN ? AND created_at >= ?", DirectionIn, "event", events, since.UTC()).
		Order("created_at DESC").Limit(1).Find(&ms).Error
	if err != nil {
		return act, fmt.Errorf("last inbound: %w", err)
	}
	if len(ms) == 1 {
		act.LastEventAt, act.LastEvent = &ms[0].CreatedAt, ms[0].Text
	}
	return act, nil
}

// CountSent counts the outbound messages of out's chat (other than out)
// sent at or after since.
func (s *Store) CountSent(ctx context.Context, out *Message, since time.Time) (int, error) {
	q, err := chatScope(s.db.WithContext(ctx).Model(&Message{}), out)
	if err != nil {
		return 0, err
	}
	var n int64
	err = q.Where("direction = ? AND status = ? AND sent_at >= ? AND id <> ?", DirectionOut, StatusSent, since.UTC(), out.ID).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count sent: %w", err)
	}
	return int(n), nil
}

// Undelivered is a platform's late report that an outbound message it had
// accepted (status sent) did not reach the recipient: WeChat's
// TEMPLATESENDJOBFINISH with a failed status.
type Undelivered struct {
	Channel string
	// ChatID is the recipient the report names; the message must be
	// addressed to it.
	ChatID        string
	ProviderMsgID string
	Reason        string
	// Unreachable also marks the message's identity unreachable (the
	// recipient blocked the account), as a send refused with 43004 does.
	Unreachable bool
}

// MarkUndelivered sets the sent message with u's provider id to failed with
// u.Reason and, if u.Unreachable, its identity unreachable, in one
// transaction. An unknown message is ENOTFOUND. A message no longer sent
// is left alone and changed is false: a report delivered again must not
// undo what happened since (the customer following the account again).
func (s *Store) MarkUndelivered(ctx context.Context, u Undelivered) (changed bool, err error) {
	if u.Channel == "" || u.ChatID == "" || u.ProviderMsgID == "" {
		return false, Errorf(EINVALID, "undelivered report without channel, chat or provider message id")
	}
	reason := CutRunes(u.Reason, 255)
	err = s.tx(ctx, func(tx *gorm.DB) error {
		changed = false
		m, err := sentTo(tx, u.Channel, u.ChatID, u.ProviderMsgID)
		if err != nil {
			return notFound(err, "%s message %s", u.Channel, u.ProviderMsgID)
		}
		now := s.Now().Truncate(time.Millisecond)
		res := tx.Model(&Message{}).Where("id = ? AND status = ?", m.ID, StatusSent).
			Updates(map[string]any{"status": StatusFailed, "reason": reason, "updated_at": now})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		changed = true
		if !u.Unreachable || m.IdentityID == nil {
			return nil
		}
		// The columns SetIdentityReachable writes, inside this transaction.
		return tx.Model(&Identity{}).Where("id = ?", *m.IdentityID).
			Updates(map[string]any{"unreachable": true, "unreachable_reason": reason}).Error
	})
	if err != nil {
		return false, fmt.Errorf("mark undelivered: %w", err)
	}
	return changed, nil
}

// sentTo finds the outbound message with a provider id among those to one
// chat account. provider_msg_id has no index of its own (the dispatcher
// would move an index entry for every message it sends), so the search
// goes through the recipient's: the customer's messages, else the staff
// member's, newest first.
func sentTo(tx *gorm.DB, channel, chatID, providerMsgID string) (*Message, error) {
	find := func(recipient string, of any, order string) (*Message, error) {
		var m Message
		who := tx.Model(of).Select(recipient).Where("channel = ? AND external_id = ?", channel, chatID)
		err := tx.Select("id", "identity_id").
			Where("channel = ? AND chat_id = ? AND provider_msg_id = ? AND direction = ?", channel, chatID, providerMsgID, DirectionOut).
			Where(recipient+" = (?)", who).Order(order).Take(&m).Error
		return &m, err
	}
	m, err := find("customer_id", &Identity{}, "created_at DESC")
	if errors.Is(err, gorm.ErrRecordNotFound) {
		m, err = find("staff_id", &StaffIdentity{}, "id DESC")
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}
