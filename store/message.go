package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
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
	// ExternalID dedups inbound deliveries: Telegram update_id, WeChat
	// MsgId or FromUserName+CreateTime+Event.
	ExternalID *string `gorm:"size:128;uniqueIndex:ux_messages_channel_ext,priority:2" json:"-"`
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
	Channel    string
	ExternalID string // dedup key; required
	ChatID     string
	Kind       string
	Text       string
	Raw        []byte
	Media      *Media
	At         time.Time // platform time; zero = now
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

// RecordStaffInbound stores an inbound message from a staff member's chat
// account once (dedup as RecordArrival). It belongs to no customer's
// conversation. staffID is nil for an account that is not bound yet (its
// /bind command), which is stored without creating a customer.
func (s *Store) RecordStaffInbound(ctx context.Context, staffID *int64, in Inbound) (msg *Message, duplicate bool, err error) {
	row, err := inboundRow(in, s.Now())
	if err != nil {
		return nil, false, err
	}
	m := &row
	m.StaffID = staffID
	err = s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(m).Error
	if err == nil && m.ID != 0 {
		return m, false, nil
	}
	if err != nil && !isDuplicate(err) {
		return nil, false, fmt.Errorf("record staff inbound: %w", err)
	}
	var old Message
	if err := s.db.WithContext(ctx).Where("channel = ? AND external_id = ?", in.Channel, in.ExternalID).Take(&old).Error; err != nil {
		return nil, true, fmt.Errorf("record staff inbound: %w", err)
	}
	return &old, true, nil
}

// ReachableIdentity returns the customer's identity to answer on: the one
// their latest message came from, if it is still reachable; otherwise the
// reachable one that wrote last by last_inbound_at (ties: the newest). A
// customer with no reachable identity is EINVALID.
//
// last_inbound_at alone is not enough: intake refreshes it at most once a
// minute, so a customer who just moved from Telegram to web chat would be
// answered on Telegram for up to a minute.
func (s *Store) ReachableIdentity(ctx context.Context, customerID int64) (*Identity, error) {
	db := s.db.WithContext(ctx)
	var n int64
	if err := db.Model(&Customer{}).Where("id = ?", customerID).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("reachable identity: %w", err)
	} else if n == 0 {
		return nil, Errorf(ENOTFOUND, "customer %d not found", customerID)
	}
	var ids []Identity
	if err := db.Where("customer_id = ? AND unreachable = ?", customerID, false).Find(&ids).Error; err != nil {
		return nil, fmt.Errorf("reachable identity: %w", err)
	}
	if len(ids) == 0 {
		return nil, Errorf(EINVALID, "customer %d has no reachable chat identity", customerID)
	}
	best := &ids[0]
	for i := range ids[1:] {
		c := &ids[i+1]
		if after(c.LastInboundAt, best.LastInboundAt) || (sameTime(c.LastInboundAt, best.LastInboundAt) && c.ID > best.ID) {
			best = c
		}
	}
	if len(ids) == 1 || best.LastInboundAt == nil {
		return best, nil
	}
	// The latest message is no older than the freshest last_inbound_at
	// (stamped with the time of a message it came with), so only the
	// customer's last moments of the (customer_id, created_at) index are
	// read, however long their history.
	reachable := make([]int64, len(ids))
	for i := range ids {
		reachable[i] = ids[i].ID
	}
	var latest []int64
	err := db.Model(&Message{}).
		Where("customer_id = ? AND created_at >= ? AND direction = ? AND identity_id IN ?",
			customerID, best.LastInboundAt.Add(-lastInboundSlack).UTC(), DirectionIn, reachable).
		Order("created_at DESC, id DESC").Limit(1).Pluck("identity_id", &latest).Error
	if err != nil {
		return nil, fmt.Errorf("reachable identity: %w", err)
	}
	for i := range ids {
		if len(latest) == 1 && ids[i].ID == latest[0] {
			return &ids[i], nil
		}
	}
	return best, nil
}

// lastInboundSlack covers rounding between a message's created_at and the
// last_inbound_at stamped with it (column precisions differ).
const lastInboundSlack = time.Second

func after(a, b *time.Time) bool {
	return a != nil && (b == nil || a.After(*b))
}

func sameTime(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}

// SendToCustomer writes an agent's reply to the outbox, addressed to the
// chat the customer wrote from last (ReachableIdentity), and returns the
// queued row.
func (s *Store) SendToCustomer(ctx context.Context, customerID int64, text string) (*Message, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, Invalid("text", "must not be empty")
	}
	if utf8.RuneCountInString(text) > 4096 {
		return nil, Invalid("text", "longer than 4096 characters")
	}
	id, err := s.ReachableIdentity(ctx, customerID)
	if err != nil {
		return nil, err
	}
	now := s.Now().Truncate(time.Millisecond)
	cid, iid := customerID, id.ID
	m := &Message{
		CustomerID: &cid, IdentityID: &iid, Direction: DirectionOut, Channel: id.Channel, ChatID: id.ExternalID,
		Kind: "text", Text: text, Status: StatusQueued, NextAttemptAt: &now, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.db.WithContext(ctx).Create(m).Error; err != nil {
		return nil, fmt.Errorf("send to customer: %w", err)
	}
	return m, nil
}

// MarkProcessed records that the router has run its commands and hooks on
// these inbound messages.
func (s *Store) MarkProcessed(ctx context.Context, ids []int64) error {
	for start := 0; start < len(ids); start += enqueueBatch {
		part := ids[start:min(start+enqueueBatch, len(ids))]
		err := s.db.WithContext(ctx).Model(&Message{}).Where("id IN ? AND status = ?", part, StatusReceived).
			Updates(map[string]any{"status": StatusProcessed, "claimed_by": "", "lease_until": nil}).Error
		if err != nil {
			return fmt.Errorf("mark processed: %w", err)
		}
	}
	return nil
}

// ClaimUnprocessed claims up to limit inbound messages of the channels that
// were stored between after and before but never processed (their process
// died between storing and processing them), until now+lease.
// Like ClaimOutbox, a conditional UPDATE makes two replicas never take the
// same message; a claim that lapses is taken again.
func (s *Store) ClaimUnprocessed(ctx context.Context, channels []string, after, before time.Time, limit int, lease time.Duration) ([]*Message, error) {
	now := s.Now().Truncate(time.Millisecond)
	db := s.db.WithContext(ctx)
	var ids []int64
	// (channel, status) leads the outbox index, so this reads only the
	// few messages still "received".
	err := db.Model(&Message{}).
		Where("channel IN ? AND status = ? AND direction = ? AND created_at BETWEEN ? AND ? AND (lease_until IS NULL OR lease_until < ?)",
			channels, StatusReceived, DirectionIn, after, before, now).
		Order("id").Limit(limit).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return nil, wrapErr("claim unprocessed", err)
	}
	token := rowToken()
	res := db.Model(&Message{}).
		Where("id IN ? AND status = ? AND (lease_until IS NULL OR lease_until < ?)", ids, StatusReceived, now).
		Updates(map[string]any{"claimed_by": token, "lease_until": now.Add(lease)})
	if res.Error != nil || res.RowsAffected == 0 {
		return nil, wrapErr("claim unprocessed", res.Error)
	}
	var ms []*Message
	if err := db.Where("id IN ? AND claimed_by = ?", ids, token).Order("id").Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("claim unprocessed: %w", err)
	}
	return ms, nil
}

// wrapErr prefixes err, or is nil for nil.
func wrapErr(prefix string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", prefix, err)
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
// index instead (TaskOfStaffMessage by staff_id, sentTo by the chat's
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
