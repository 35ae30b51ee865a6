package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Outbound is an outbound message to write to the outbox. Exactly one of
// CustomerID / StaffID names the recipient.
type Outbound struct {
	CustomerID *int64
	StaffID    *int64
	IdentityID *int64
	Channel    string
	ChatID     string
	Kind       string // default "text"
	Text       string
	// Extras is what the message carries besides its text (buttons,
	// channel options); nil for none. Stored as JSON in Message.Payload.
	Extras *Extras
	// IdempotencyKey makes the message once-only: a second Enqueue with the
	// same key writes nothing. Care uses workflow:customer:occurrence.
	IdempotencyKey  string
	Workflow        string
	TemplateKey     string
	TemplateVersion int
	// NotBefore defers delivery (quiet hours). Zero = now.
	NotBefore time.Time
	// Status is queued unless the caller records a skip (with Reason).
	Status string
	Reason string
}

// Extras is what an outbound message carries besides its text, for the
// channel adapters: stored as JSON in Message.Payload by Enqueue and read
// back with Message.Extras. A channel that cannot show an extra ignores it.
type Extras struct {
	// Keyboard is an inline keyboard (Telegram): rows of buttons whose
	// data comes back as the callback of the press.
	Keyboard [][]Button `json:"keyboard,omitempty"`
	// TemplateData fills the fields of a WeChat template message sent
	// outside the 48-hour window (otherwise the text is mapped onto them).
	TemplateData map[string]string `json:"template_data,omitempty"`
	// ReplyTo quotes a provider message (Telegram reply_parameters).
	ReplyTo string `json:"reply_to,omitempty"`
	// RequestContact, when set, is the label of a reply-keyboard button
	// that asks a Telegram user to share their own phone number
	// (request_contact); the contact that comes back proves the number.
	RequestContact string `json:"request_contact,omitempty"`
	// RemoveKeyboard takes such a reply keyboard away again (Telegram).
	RemoveKeyboard bool `json:"remove_keyboard,omitempty"`
}

// Button is one choice on an inline keyboard.
type Button struct {
	Text string `json:"text"`
	Data string `json:"data"`
}

// Extras reads the extras of an outbound message (none: the zero value).
func (m *Message) Extras() (Extras, error) {
	var x Extras
	if m.Payload == "" {
		return x, nil
	}
	if err := json.Unmarshal([]byte(m.Payload), &x); err != nil {
		return x, fmt.Errorf("message %d: payload: %w", m.ID, err)
	}
	return x, nil
}

// payload is the stored form of extras: "" for none.
func (x *Extras) payload() (string, error) {
	if x == nil {
		return "", nil
	}
	b, err := json.Marshal(x)
	if err != nil || string(b) == "{}" {
		return "", err
	}
	return string(b), nil
}

// WeChatWindow is how long after a customer's last message WeChat accepts
// customer-service messages to them; outside it only template messages go.
const WeChatWindow = 48 * time.Hour

// InWeChatWindow reports whether a chat whose last inbound message came at
// last (nil: never) is inside WeChat's customer-service window at now.
func InWeChatWindow(last *time.Time, now time.Time) bool {
	return last != nil && now.Sub(*last) < WeChatWindow
}

// enqueueBatch is how many rows go into one multi-row INSERT.
const enqueueBatch = 500

// Enqueue writes outbound messages to the outbox and returns how many rows
// were new (the rest were duplicates of an idempotency key).
func (s *Store) Enqueue(ctx context.Context, items []Outbound) (int, error) {
	var n int
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var err error
		n, err = s.enqueue(tx, items)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	return n, nil
}

func (s *Store) enqueue(tx *gorm.DB, items []Outbound) (int, error) {
	now := s.Now().Truncate(time.Millisecond)
	total := 0
	// The statement is built here rather than by GORM's Create: care
	// writes a million of these in a run, and reflecting over every field
	// of every row cost more than the database's own work on them.
	ncols := strings.Count(outboxCols, ",") + 1
	insert := "INSERT INTO messages (" + outboxCols + ") VALUES "
	row := "(" + strings.Repeat("?, ", ncols-1) + "?)"
	ignore := " ON DUPLICATE KEY UPDATE id = id" // the idempotency key decides
	if s.dialect == SQLite {
		ignore = " ON CONFLICT DO NOTHING"
	}
	var sb strings.Builder
	for start := 0; start < len(items); start += enqueueBatch {
		end := min(start+enqueueBatch, len(items))
		sb.Reset()
		sb.WriteString(insert)
		args := make([]any, 0, (end-start)*ncols)
		for i, it := range items[start:end] {
			m, err := outboxRow(it, now)
			if err != nil {
				return total, err
			}
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(row)
			args = append(args, m.CustomerID, m.StaffID, m.IdentityID, m.Direction, m.Channel, m.ChatID, m.Kind, m.Text,
				m.Status, m.Reason, m.IdempotencyKey, m.Payload, m.Workflow, m.TemplateKey, m.TemplateVersion,
				m.NextAttemptAt, m.LeaseUntil, m.SentAt, m.CreatedAt, m.UpdatedAt)
		}
		sb.WriteString(ignore)
		res, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, sb.String(), args...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += int(n)
	}
	if total > 0 {
		s.enqueued.Add(uint64(total))
		if err := noteStaffContact(tx, items, now); err != nil {
			return total, err
		}
	}
	return total, nil
}

// Enqueued counts the outbound rows this process has queued so far (a
// transaction that rolled back may have counted its rows too): when it
// moves, a dispatcher in the same process has something to send, and
// when it does not, waking one would only cost a query.
func (s *Store) Enqueued() uint64 { return s.enqueued.Load() }

// outboxCols are the columns enqueue writes, in the order of its values.
const outboxCols = "customer_id, staff_id, identity_id, direction, channel, chat_id, kind, text, " +
	"status, reason, idempotency_key, payload, workflow, template_key, template_version, " +
	"next_attempt_at, lease_until, sent_at, created_at, updated_at"

// outboxRow is the stored form of an outbound message.
func outboxRow(it Outbound, now time.Time) (Message, error) {
	if it.Channel == "" || it.ChatID == "" {
		return Message{}, Errorf(EINVALID, "outbound message without a channel or chat id")
	}
	payload, err := it.Extras.payload()
	if err != nil {
		return Message{}, err
	}
	never := unset()
	m := Message{
		CustomerID: it.CustomerID, StaffID: it.StaffID, IdentityID: it.IdentityID,
		Direction: DirectionOut, Channel: it.Channel, ChatID: it.ChatID, Kind: it.Kind, Text: it.Text,
		Payload: payload, Workflow: it.Workflow, TemplateKey: it.TemplateKey, TemplateVersion: it.TemplateVersion,
		Status: it.Status, Reason: CutRunes(it.Reason, 255), CreatedAt: now, UpdatedAt: now,
		LeaseUntil: &never, SentAt: &never,
	}
	m.Kind = cmp.Or(m.Kind, "text")
	m.Status = cmp.Or(m.Status, StatusQueued)
	if it.IdempotencyKey != "" {
		k := it.IdempotencyKey
		m.IdempotencyKey = &k
	}
	at := now
	if it.NotBefore.After(now) {
		at = it.NotBefore.UTC()
	}
	if m.Status == StatusQueued {
		m.NextAttemptAt = &at
	}
	return m, nil
}

// claimToken makes a per-claim owner string, so a holder that restarts (or
// reclaims its own expired rows) never finishes rows it no longer owns.
func claimToken(holder string) string {
	var b [5]byte
	rand.Read(b[:])
	return CutRunes(holder, 53) + ":" + hex.EncodeToString(b[:])
}

// rowToken is claimToken for message rows: random and of the column's
// fixed width, so that claiming a row keeps its size.
func rowToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Delivery is the outcome of one claimed row, for CompleteOutbox.
type Delivery struct {
	ID        int64
	ClaimedBy string // the claim token from ClaimOutbox
	// Status is StatusSent, StatusFailed, StatusSkipped, or StatusQueued to
	// try again at NextAttemptAt.
	Status        string
	ProviderMsgID string
	Reason        string
	NextAttemptAt time.Time
	// Attempted counts this as a delivery attempt (false for a row put back
	// untouched, e.g. deferred by the per-chat rate or at shutdown).
	Attempted bool
}

// CompleteOutbox records the outcomes of claimed rows in one transaction,
// one UPDATE for all the sent rows of a claim. A row whose claim was taken
// over meanwhile (lease expired) is left to its new owner.
func (s *Store) CompleteOutbox(ctx context.Context, ds []Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	now := s.Now().Truncate(time.Millisecond)
	sent := map[string][]Delivery{}
	var rest []Delivery
	for _, d := range ds {
		if d.Status == StatusSent {
			sent[d.ClaimedBy] = append(sent[d.ClaimedBy], d)
		} else {
			rest = append(rest, d)
		}
	}
	const claimed = "claimed_by = ? AND status = ?"
	err := s.tx(ctx, func(tx *gorm.DB) error {
		for token, group := range sent {
			for start := 0; start < len(group); start += enqueueBatch {
				part := group[start:min(start+enqueueBatch, len(group))]
				ids := make([]int64, len(part))
				var sb strings.Builder
				args := make([]any, 0, 2*len(part))
				sb.WriteString("CASE id")
				for i, d := range part {
					ids[i] = d.ID
					sb.WriteString(" WHEN ? THEN ?")
					args = append(args, d.ID, CutRunes(d.ProviderMsgID, providerIDLen))
				}
				sb.WriteString(" END")
				// lease_until and claimed_by stay as they are: the row
				// has left the queue, and rewriting them would cost.
				err := tx.Model(&Message{}).Where("id IN ? AND "+claimed, ids, token, StatusQueued).
					Updates(map[string]any{
						"status": StatusSent, "sent_at": now, "attempts": gorm.Expr("attempts + 1"),
						"provider_msg_id": gorm.Expr(sb.String(), args...), "reason": "", "updated_at": now,
					}).Error
				if err != nil {
					return err
				}
			}
		}
		for _, d := range rest {
			up := map[string]any{"status": d.Status, "reason": CutRunes(d.Reason, 255), "updated_at": now}
			if d.Attempted {
				up["attempts"] = gorm.Expr("attempts + 1")
			}
			if d.Status == StatusQueued {
				// Back in the queue, unclaimed.
				at := d.NextAttemptAt.UTC().Truncate(time.Millisecond)
				if at.IsZero() {
					at = now
				}
				up["next_attempt_at"], up["lease_until"], up["claimed_by"] = at, unset(), ""
			}
			err := tx.Model(&Message{}).Where("id = ? AND "+claimed, d.ID, d.ClaimedBy, StatusQueued).Updates(up).Error
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("complete outbox: %w", err)
	}
	return nil
}

// providerIDLen is the width of messages.provider_msg_id.
const providerIDLen = 24

// OutboxCount is the number of outbound rows of a channel in one status.
type OutboxCount struct {
	Channel string
	Status  string
	N       int64
}

// OutboxDepth counts the outbox rows still to deliver by channel, as
// StatusQueued (waiting) and StatusSending (under a live claim), for the
// depth gauge.
func (s *Store) OutboxDepth(ctx context.Context) ([]OutboxCount, error) {
	now := s.Now().Truncate(time.Millisecond)
	var out []OutboxCount
	err := s.db.WithContext(ctx).Model(&Message{}).
		Select("channel, CASE WHEN lease_until >= ? THEN ? ELSE ? END AS status, COUNT(*) AS n", now, StatusSending, StatusQueued).
		Where("status = ?", StatusQueued).Group("1, 2").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("outbox depth: %w", err)
	}
	return out, nil
}

// outboxInPlace moves the outbox to claims that change no status (see
// ClaimOutbox) and to fixed-width columns for what the dispatcher writes,
// so that InnoDB updates a delivering row in place. Run it with every
// replica stopped: a process of the earlier version marks claims with
// status "sending", which this version no longer reads.
func outboxInPlace(tx *gorm.DB) error {
	// Rows claimed the old way go back to the queue, as any lapsed claim.
	if err := tx.Exec("UPDATE messages SET status = ?, claimed_by = '', lease_until = ? WHERE status = ?",
		StatusQueued, unset(), StatusSending).Error; err != nil {
		return err
	}
	if tx.Dialector.Name() != MySQL {
		return nil // SQLite stores every value at its own length anyway
	}
	for _, q := range []string{
		"UPDATE messages SET claimed_by = '' WHERE CHAR_LENGTH(claimed_by) > 24",
		"UPDATE messages SET provider_msg_id = LEFT(provider_msg_id, 24) WHERE CHAR_LENGTH(provider_msg_id) > 24",
		"ALTER TABLE messages MODIFY status CHAR(9) NOT NULL, MODIFY claimed_by CHAR(24) NOT NULL DEFAULT '', MODIFY provider_msg_id CHAR(24) NOT NULL DEFAULT ''",
	} {
		if err := tx.Exec(q).Error; err != nil {
			return err
		}
	}
	return nil
}

// RequeueFilter picks failed outbound messages to queue again. At least
// one of its fields must be set; set fields must all match.
type RequeueFilter struct {
	Channel string
	// From and To bound the messages' creation time: [From, To).
	From, To time.Time
	IDs      []int64
}

// maxRequeueIDs bounds RequeueFilter.IDs.
const maxRequeueIDs = 1000

func (f RequeueFilter) check() error {
	switch {
	case f.Channel == "" && f.From.IsZero() && f.To.IsZero() && len(f.IDs) == 0:
		return Invalid("filter", "give a channel, a time range (from, to) or ids")
	case f.Channel != "" && !ValidChannel(f.Channel):
		return Invalid("channel", "%q is not telegram, wechat or webchat", f.Channel)
	case !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To):
		return Invalid("to", "must be after from")
	case len(f.IDs) > maxRequeueIDs:
		return Invalid("ids", "at most %d ids at once", maxRequeueIDs)
	}
	for _, id := range f.IDs {
		if id <= 0 {
			return Invalid("ids", "%d is not a message id", id)
		}
	}
	return nil
}

// RequeueFailed puts failed outbound messages that match f back in the
// queue, due now, with their attempts and reason cleared and a new retry
// window (RequeuedAt), and returns how many it queued. Sent and skipped
// messages, and inbound ones, are never touched. It works in batches, so
// requeuing the aftermath of a long outage holds no large lock.
func (s *Store) RequeueFailed(ctx context.Context, f RequeueFilter) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	db := s.db.WithContext(ctx)
	q := db.Model(&Message{}).Where("direction = ? AND status = ?", DirectionOut, StatusFailed)
	if f.Channel != "" {
		q = q.Where("channel = ?", f.Channel)
	}
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("created_at < ?", f.To.UTC())
	}
	if len(f.IDs) > 0 {
		q = q.Where("id IN ?", f.IDs)
	}
	total := 0
	var last int64
	for {
		var ids []int64
		if err := q.Session(&gorm.Session{}).Where("id > ?", last).Order("id").Limit(enqueueBatch).Pluck("id", &ids).Error; err != nil {
			return total, fmt.Errorf("requeue failed: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		last = ids[len(ids)-1]
		now := s.Now().Truncate(time.Millisecond)
		res := db.Model(&Message{}).Where("id IN ? AND direction = ? AND status = ?", ids, DirectionOut, StatusFailed).
			Updates(map[string]any{
				"status": StatusQueued, "attempts": 0, "next_attempt_at": now, "reason": "",
				"claimed_by": "", "lease_until": unset(), "requeued_at": now, "updated_at": now,
			})
		if res.Error != nil {
			return total, fmt.Errorf("requeue failed: %w", res.Error)
		}
		total += int(res.RowsAffected)
		if len(ids) < enqueueBatch {
			return total, nil
		}
	}
}

// SentKeys reports which of the idempotency keys already have an outbox
// row, so a periodic job can skip rendering what it already queued.
func (s *Store) SentKeys(ctx context.Context, keys []string) (map[string]bool, error) {
	out := make(map[string]bool, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	var got []string
	if err := s.db.WithContext(ctx).Model(&Message{}).Where("idempotency_key IN ?", keys).Pluck("idempotency_key", &got).Error; err != nil {
		return nil, fmt.Errorf("sent keys: %w", err)
	}
	for _, k := range got {
		out[k] = true
	}
	return out, nil
}
