package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Direction of a message.
const (
	DirectionIn  = "in"
	DirectionOut = "out"
)

// Message statuses. Inbound messages are "received", then "processed" once
// the router's commands and hooks have run (a message still "received"
// after a crash is processed again); outbound ones are queued, then sent,
// or end failed / skipped (with a reason). A queued row under a dispatcher's
// claim is "sending" only in OutboxDepth: the claim is not a status change.
const (
	StatusReceived  = "received"
	StatusProcessed = "processed"
	StatusQueued    = "queued"
	StatusSending   = "sending"
	StatusSent      = "sent"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
)

// MaxRawBytes bounds the raw platform payload kept with a message; a
// longer one is cut on a character boundary. The text is kept whole: its
// column (MEDIUMTEXT on MySQL) holds anything a platform delivers, whose
// webhook bodies are at most 1 MiB.
const MaxRawBytes = 64 << 10

// maxTextBytes bounds an inbound message's text; nothing a platform
// delivers comes near it.
const maxTextBytes = 1 << 20

// Message is one message in a conversation, either direction. Outbound rows
// double as the outbox: the dispatcher claims queued rows and delivers them
// (see outbox.go), so a message is durable before anything is sent.
type Message struct {
	ID         int64  `gorm:"primaryKey" json:"id"`
	CustomerID *int64 `gorm:"index:ix_messages_customer_time,priority:1" json:"customer_id,omitempty"`
	// StaffID is set on messages to staff (task notices, relays); they are
	// not part of any customer's conversation.
	StaffID    *int64 `gorm:"index" json:"staff_id,omitempty"`
	IdentityID *int64 `json:"-"`
	Direction  string `gorm:"size:3;not null" json:"direction"`
	Channel    string `gorm:"size:16;not null;uniqueIndex:ux_messages_channel_ext,priority:1;index:ix_messages_queue,priority:1" json:"channel"`
	// ChatID is the platform address: Telegram chat id, WeChat openid,
	// web chat visitor id.
	ChatID string `gorm:"size:128;not null;default:''" json:"-"`
	Kind   string `gorm:"size:24;not null;default:'text'" json:"kind"`
	// Text and Raw are MEDIUMTEXT on MySQL (a size over 64 KiB); SQLite
	// has one text type for every size.
	Text string `gorm:"size:16777215" json:"text"`
	Raw  string `gorm:"size:16777215" json:"-"`
	// Media is what a message carries besides its text: a file, a place,
	// a contact card.
	Media *Media `gorm:"type:text" json:"media,omitempty"`
	// DedupKey dedups inbound deliveries: Telegram update_id, WeChat
	// MsgId or FromUserName+CreateTime+Event. (Its column keeps the name
	// external_id from before; Identity.ExternalID is the platform user.)
	DedupKey *string `gorm:"column:external_id;size:128;uniqueIndex:ux_messages_channel_ext,priority:2" json:"-"`
	// Status, ClaimedBy and ProviderMsgID are CHAR so that a value change
	// keeps the row's size: InnoDB then updates the row in place instead of
	// rewriting it, and the outbox changes every row twice (see outbox.go).
	Status string `gorm:"type:char(9);not null;index:ix_messages_queue,priority:2" json:"status"`

	// Outbound delivery state.
	IdempotencyKey *string `gorm:"size:191;uniqueIndex" json:"-"`
	// Payload is JSON: for outbound rows the keyboard and channel extras;
	// for inbound rows what the router needs to process it again (Route).
	Payload         string     `gorm:"type:text" json:"-"`
	Workflow        string     `gorm:"size:32;not null;default:''" json:"workflow,omitempty"`
	TemplateKey     string     `gorm:"size:64;not null;default:''" json:"template_key,omitempty"`
	TemplateVersion int        `gorm:"not null;default:0" json:"template_version,omitempty"`
	Attempts        int        `gorm:"not null;default:0" json:"-"`
	NextAttemptAt   *time.Time `gorm:"index:ix_messages_queue,priority:3" json:"-"`
	ClaimedBy       string     `gorm:"type:char(24);not null;default:''" json:"-"`
	LeaseUntil      *time.Time `json:"-"`
	Reason          string     `gorm:"size:255;not null;default:''" json:"reason,omitempty"`
	ProviderMsgID   string     `gorm:"type:char(24);not null;default:''" json:"-"`
	SentAt          *time.Time `json:"sent_at,omitempty"`
	// RequeuedAt is when staff last put the failed message back in the
	// queue (RequeueFailed); its retry window counts from then.
	RequeuedAt *time.Time `json:"requeued_at,omitempty"`

	CreatedAt time.Time `gorm:"index:ix_messages_customer_time,priority:2" json:"created_at"`
	UpdatedAt time.Time `json:"-"`
}

// unset is what an outbound row's lease_until and sent_at hold until they
// are set: they are written non-NULL from the start because a NULL that
// becomes a time grows the row, and a row that grows is rewritten rather
// than updated in place (about four times the cost on InnoDB).
func unset() time.Time { return time.Unix(0, 0).UTC() }

// AfterFind shows the unset times as absent.
func (m *Message) AfterFind(*gorm.DB) error {
	if m.LeaseUntil != nil && m.LeaseUntil.Unix() == 0 {
		m.LeaseUntil = nil
	}
	if m.SentAt != nil && m.SentAt.Unix() == 0 {
		m.SentAt = nil
	}
	return nil
}

// Inbound is a captured customer message, ready to store.
type Inbound struct {
	Channel  string
	DedupKey string // the platform's delivery id (see Message.DedupKey); required
	ChatID   string
	Kind     string
	Text     string
	Raw      []byte
	Media    *Media
	// Route is the router's own JSON (sender, button data, reply-to, event)
	// kept in Payload so an unprocessed message can be processed after a
	// crash. Opaque to the store.
	Route string
}

// ListMessages returns a customer's conversation, oldest first.
func (s *Store) ListMessages(ctx context.Context, customerID int64, p Page) ([]*Message, string, error) {
	limit, after, err := p.parse()
	if err != nil {
		return nil, "", err
	}
	db := s.db.WithContext(ctx)
	var n int64
	if err := db.Model(&Customer{}).Where("id = ?", customerID).Count(&n).Error; err != nil {
		return nil, "", fmt.Errorf("list messages: %w", err)
	} else if n == 0 {
		return nil, "", Errorf(ENOTFOUND, "customer %d not found", customerID)
	}
	q := db.Where("customer_id = ? AND staff_id IS NULL", customerID)
	if after > 0 {
		var last Message
		if err := db.Select("id", "created_at").Take(&last, after).Error; err != nil {
			return nil, "", Invalid("cursor", "not a cursor from this API")
		}
		q = q.Where("created_at > ? OR (created_at = ? AND id > ?)", last.CreatedAt, last.CreatedAt, last.ID)
	}
	ms, next, err := pageOf(q.Order("created_at, id"), limit, func(r *Message) int64 { return r.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list messages: %w", err)
	}
	return ms, next, nil
}

// SendToCustomer writes an agent's reply to the outbox, addressed to the
// chat the customer wrote from last (ReplyIdentity), and returns the
// queued row. It goes in through Enqueue like every outbound row; a key
// of its own (agent sends are never deduplicated) finds the row again.
func (s *Store) SendToCustomer(ctx context.Context, customerID int64, text string) (*Message, error) {
	return s.sendToCustomer(ctx, nil, customerID, text)
}

// sendToCustomer is SendToCustomer for a person (by) or the system (nil);
// the reply also ends the conversation's wait (noteReply).
func (s *Store) sendToCustomer(ctx context.Context, by *Actor, customerID int64, text string) (*Message, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, Invalid("text", "must not be empty")
	}
	if utf8.RuneCountInString(text) > 4096 {
		return nil, Invalid("text", "longer than 4096 characters")
	}
	id, err := s.ReplyIdentity(ctx, customerID)
	if err != nil {
		return nil, err
	}
	cid, iid, key := customerID, id.ID, "agent_reply:"+rowToken()
	if _, err := s.Enqueue(ctx, []Outbound{{
		CustomerID: &cid, IdentityID: &iid, Channel: id.Channel, ChatID: id.ExternalID, Text: text, IdempotencyKey: key,
	}}); err != nil {
		return nil, fmt.Errorf("send to customer: %w", err)
	}
	var m Message
	if err := s.db.WithContext(ctx).Where("idempotency_key = ?", key).Take(&m).Error; err != nil {
		return nil, fmt.Errorf("send to customer: %w", err)
	}
	if err := s.noteReply(ctx, by, &m); err != nil {
		return nil, fmt.Errorf("send to customer: %w", err)
	}
	return &m, nil
}

// RecentProactive returns, per customer, the idempotency keys of proactive
// (workflow) messages created since `since` that were not skipped: the
// per-customer cap counts them, and a key already there means "already
// queued" rather than "over the cap".
func (s *Store) RecentProactive(ctx context.Context, customerIDs []int64, since time.Time) (map[int64][]string, error) {
	out := map[int64][]string{}
	if len(customerIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		CustomerID     int64
		IdempotencyKey *string
	}
	q := s.db.WithContext(ctx).Model(&Message{}).Select("customer_id, idempotency_key").
		Where("created_at >= ? AND direction = ? AND workflow <> '' AND status <> ?", since.UTC(), DirectionOut, StatusSkipped)
	// A dense batch (consecutive ids, as a holiday run streams them) is
	// one index range instead of thousands of lookups.
	lo, hi := customerIDs[0], customerIDs[0]
	for _, id := range customerIDs {
		lo, hi = min(lo, id), max(hi, id)
	}
	want := map[int64]bool{}
	if hi-lo < int64(2*len(customerIDs)) {
		q = q.Where("customer_id BETWEEN ? AND ?", lo, hi)
		for _, id := range customerIDs {
			want[id] = true
		}
	} else {
		q = q.Where("customer_id IN ?", customerIDs)
	}
	err := q.Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("recent proactive: %w", err)
	}
	for _, r := range rows {
		if len(want) == 0 || want[r.CustomerID] {
			out[r.CustomerID] = append(out[r.CustomerID], deref(r.IdempotencyKey))
		}
	}
	return out, nil
}

// StaffContacted returns the customers (of ids) that staff wrote to since
// `since`: outbound messages not sent by a workflow nor rendered from a
// template (bot replies), i.e. typed by an agent.
func (s *Store) StaffContacted(ctx context.Context, customerIDs []int64, since time.Time) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(customerIDs) == 0 {
		return out, nil
	}
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Message{}).Distinct("customer_id").
		Where("customer_id IN ? AND created_at >= ? AND direction = ? AND workflow = '' AND template_key = '' AND staff_id IS NULL",
			customerIDs, since.UTC(), DirectionOut).Pluck("customer_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("staff contacted: %w", err)
	}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// MessageByID loads one message.
func (s *Store) MessageByID(ctx context.Context, id int64) (*Message, error) {
	return byID[Message](ctx, s, "message", id)
}

// StaffMessageKey returns the idempotency key of the latest message sent
// to a staff member on channel that the platform knows as providerMsgID
// (what a Telegram reply-to names), or "" when there is none. What a key
// says is its sender's business: followup names the task in its notices'
// and relays' keys.
func (s *Store) StaffMessageKey(ctx context.Context, staffID int64, channel, providerMsgID string) (string, error) {
	if providerMsgID == "" {
		return "", nil
	}
	var keys []*string
	err := s.db.WithContext(ctx).Model(&Message{}).
		Where("channel = ? AND provider_msg_id = ? AND staff_id = ? AND direction = ?", channel, providerMsgID, staffID, DirectionOut).
		Order("id DESC").Limit(1).Pluck("idempotency_key", &keys).Error
	if err != nil {
		return "", fmt.Errorf("staff message key: %w", err)
	}
	if len(keys) == 0 {
		return "", nil
	}
	return deref(keys[0]), nil
}

// providerIndex lets a staff member's Telegram reply-to (the platform id of
// the relayed message) find the relayed message.
func providerIndex(tx *gorm.DB) error {
	if tx.Migrator().HasIndex(&Message{}, "ix_messages_channel_provider") {
		return nil
	}
	return tx.Exec("CREATE INDEX ix_messages_channel_provider ON messages (channel, provider_msg_id)").Error
}

// dropProviderIndex: the lookups by provider id go through the recipient's
// index instead (StaffMessageKey by staff_id, sentTo by the chat's
// customer or staff member). Kept, the index cost the dispatcher one entry
// move per message sent, about a third of the database's work per send.
func dropProviderIndex(tx *gorm.DB) error {
	if !tx.Migrator().HasIndex(&Message{}, "ix_messages_channel_provider") {
		return nil
	}
	return tx.Migrator().DropIndex(&Message{}, "ix_messages_channel_provider")
}

// messagesAnyContent lets messages hold whatever a platform delivers: text
// and raw payload become MEDIUMTEXT on MySQL (TEXT ends at 64 KiB), and
// the media and requeued_at columns are added. On MySQL it is one ALTER,
// because changing a column's type rebuilds the table (on a large
// messages table that takes a while; run it in a quiet hour).
func messagesAnyContent(tx *gorm.DB) error {
	mig := tx.Migrator()
	if tx.Dialector.Name() != MySQL {
		for _, col := range []string{"Media", "RequeuedAt"} {
			if !mig.HasColumn(&Message{}, col) {
				if err := mig.AddColumn(&Message{}, col); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var alter []string
	for _, col := range []string{"text", "raw"} {
		var typ string
		err := tx.Raw("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'messages' AND COLUMN_NAME = ?", col).
			Scan(&typ).Error
		if err != nil {
			return err
		}
		if t := strings.ToLower(typ); t != "mediumtext" && t != "longtext" {
			alter = append(alter, "MODIFY `"+col+"` MEDIUMTEXT")
		}
	}
	if !mig.HasColumn(&Message{}, "Media") {
		alter = append(alter, "ADD COLUMN `media` TEXT NULL")
	}
	if !mig.HasColumn(&Message{}, "RequeuedAt") {
		alter = append(alter, "ADD COLUMN `requeued_at` DATETIME(3) NULL")
	}
	if len(alter) == 0 {
		return nil
	}
	return tx.Exec("ALTER TABLE messages " + strings.Join(alter, ", ")).Error
}
