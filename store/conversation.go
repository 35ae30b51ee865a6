package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// A conversation is the shared inbox's view of one customer's messages on
// every channel: whether someone owes them a reply (waiting_since), how
// many of their messages nobody has read, who is on it, and its status.
// It is a row per customer kept current by batches: the router's
// MarkProcessed notes each batch of processed inbound messages in one
// upsert (noteArrivals), an agent's reply clears the wait (noteReply).
// Writing it with each intake group instead cost the webhook a statement
// per group (about 15 % of intake throughput, measured).
//
// Waiting starts with the first customer message after the last staff
// reply and ends with the next staff reply (or when staff resolve it or
// set it pending). Bot answers and care messages do not end it: a
// customer who typed something still wants a person. Unread is shared by
// the team, as in a shared inbox: opening the conversation reads it for
// everyone.
type Conversation struct {
	CustomerID int64  `gorm:"primaryKey;autoIncrement:false" json:"customer_id"`
	Status     string `gorm:"size:16;not null;default:'open';index:ix_conversations_queue,priority:1" json:"status"`
	// WaitingSince is the customer's first unanswered message; nil when
	// nobody owes them a reply.
	WaitingSince *time.Time `gorm:"index:ix_conversations_queue,priority:2" json:"waiting_since"`
	AssigneeID   *int64     `gorm:"index" json:"assignee_id"`
	// Channel is where the customer wrote last (a reply goes there).
	Channel       string     `gorm:"size:16;not null;default:''" json:"channel"`
	Unread        int        `gorm:"not null;default:0" json:"unread"`
	LastInboundAt *time.Time `json:"last_inbound_at"`
	LastReplyAt   *time.Time `json:"last_reply_at"`
	LastReplyBy   *int64     `json:"last_reply_by"`
	// The last message either way (of those noted here): the inbox's
	// preview line.
	LastMessageID int64     `gorm:"not null;default:0" json:"last_message_id"`
	LastMessageAt time.Time `gorm:"not null" json:"last_message_at"`
	LastPreview   string    `gorm:"size:255;not null;default:''" json:"last_preview"`
	LastKind      string    `gorm:"size:24;not null;default:''" json:"last_kind"`
	LastDirection string    `gorm:"size:3;not null;default:''" json:"last_direction"`
	// Rev counts the row's changes: an event stream tells a change it has
	// not shown from one it has.
	Rev       int64     `gorm:"not null;default:0" json:"rev"`
	UpdatedAt time.Time `gorm:"index" json:"updated_at"`

	// For the inbox (not stored).
	CustomerName string `gorm:"-" json:"customer_name"`
	AssigneeName string `gorm:"-" json:"assignee_name,omitempty"`
	Complaint    bool   `gorm:"-" json:"complaint"`
}

// Conversation statuses: open (someone is on it, or should be), pending
// (waiting for the customer), resolved. A customer's new message opens it
// again.
const (
	ConversationOpen     = "open"
	ConversationPending  = "pending"
	ConversationResolved = "resolved"
)

// previewRunes bounds the stored preview.
const previewRunes = 80

func preview(m *Message) string {
	t := strings.Join(strings.Fields(m.Text), " ")
	if t == "" && m.Media != nil {
		t = firstNonEmpty(m.Media.Title, m.Media.Label, m.Media.FileName, m.Media.Name, m.Media.Recognition, m.Media.Emoji)
	}
	return CutRunes(t, previewRunes)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// convRow is one conversation's part of a write.
type convRow struct {
	customerID int64
	n          int       // new inbound messages
	first      time.Time // the earliest of them
	last       *Message  // the latest (highest id)
}

// noteArrivals records newly processed inbound messages on their
// conversations, inside tx: one multi-row upsert, rows in customer order
// (two batches upserting the same rows then lock them in the same order).
// Staff messages (no customer) are not anyone's conversation.
func (s *Store) noteArrivals(tx *gorm.DB, msgs []*Message) error {
	byCustomer := map[int64]*convRow{}
	var rows []*convRow
	for _, m := range msgs {
		if m.CustomerID == nil || m.StaffID != nil {
			continue
		}
		r := byCustomer[*m.CustomerID]
		if r == nil {
			r = &convRow{customerID: *m.CustomerID, last: m}
			byCustomer[*m.CustomerID] = r
			rows = append(rows, r)
		}
		if !isCommand(m) {
			if r.n == 0 || m.CreatedAt.Before(r.first) {
				r.first = m.CreatedAt
			}
			r.n++
		}
		if m.ID > r.last.ID {
			r.last = m
		}
	}
	if len(rows) == 0 {
		return nil
	}
	slices.SortFunc(rows, func(a, b *convRow) int { return cmpInt64(a.customerID, b.customerID) })
	now := s.Now().Truncate(time.Millisecond)
	var sb strings.Builder
	sb.WriteString("INSERT INTO conversations (customer_id, status, waiting_since, channel, unread, last_inbound_at, " +
		"last_message_id, last_message_at, last_preview, last_kind, last_direction, rev, updated_at) VALUES ")
	args := make([]any, 0, len(rows)*12)
	for i, r := range rows {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'in', 1, ?)")
		at := r.last.CreatedAt
		status, waiting := ConversationResolved, (*time.Time)(nil)
		if r.n > 0 {
			status, waiting = ConversationOpen, &r.first
		}
		args = append(args, r.customerID, status, waiting, r.last.Channel, r.n, at, r.last.ID, at, preview(r.last), r.last.Kind, now)
	}
	if s.dialect == MySQL {
		// MySQL assigns left to right, each later assignment seeing the
		// earlier ones: last_message_id goes last, so the comparisons
		// before it see the stored value.
		newer := "VALUES(last_message_id) > last_message_id"
		sb.WriteString(" ON DUPLICATE KEY UPDATE status = IF(VALUES(unread) > 0, 'open', status), waiting_since = COALESCE(waiting_since, VALUES(waiting_since)), " +
			"unread = unread + VALUES(unread), rev = rev + 1, updated_at = VALUES(updated_at), " +
			"channel = IF(" + newer + ", VALUES(channel), channel), " +
			"last_inbound_at = IF(" + newer + ", VALUES(last_inbound_at), last_inbound_at), " +
			"last_message_at = IF(" + newer + ", VALUES(last_message_at), last_message_at), " +
			"last_preview = IF(" + newer + ", VALUES(last_preview), last_preview), " +
			"last_kind = IF(" + newer + ", VALUES(last_kind), last_kind), " +
			"last_direction = IF(" + newer + ", VALUES(last_direction), last_direction), " +
			"last_message_id = GREATEST(last_message_id, VALUES(last_message_id))")
	} else {
		newer := "excluded.last_message_id > conversations.last_message_id"
		pick := func(col string) string {
			return col + " = CASE WHEN " + newer + " THEN excluded." + col + " ELSE conversations." + col + " END"
		}
		sb.WriteString(" ON CONFLICT(customer_id) DO UPDATE SET status = CASE WHEN excluded.unread > 0 THEN 'open' ELSE conversations.status END, " +
			"waiting_since = COALESCE(conversations.waiting_since, excluded.waiting_since), " +
			"unread = conversations.unread + excluded.unread, rev = conversations.rev + 1, updated_at = excluded.updated_at, " +
			strings.Join([]string{pick("channel"), pick("last_inbound_at"), pick("last_message_at"), pick("last_preview"),
				pick("last_kind"), pick("last_direction"), pick("last_message_id")}, ", "))
	}
	return tx.Exec(sb.String(), args...).Error
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// isCommand reports a chat command (/start, /birthday ...): the bot
// answers it, so it owes the customer no reply from a person. WeChat's
// commands have no slash; those count as words to answer.
func isCommand(m *Message) bool { return m.Kind == "text" && strings.HasPrefix(m.Text, "/") }

// noteReply records a staff reply on the customer's conversation: nobody
// owes them a reply now, and whoever answered an unassigned conversation
// takes it.
func (s *Store) noteReply(ctx context.Context, by *Actor, m *Message) error {
	now := s.Now().Truncate(time.Millisecond)
	cid := *m.CustomerID
	var replier *int64
	if by != nil && by.StaffID != nil {
		id := *by.StaffID
		replier = &id
	}
	return s.txCreating(ctx, func(tx *gorm.DB) error {
		var c Conversation
		err := s.forUpdate(tx).Take(&c, cid).Error
		fresh := errors.Is(err, gorm.ErrRecordNotFound)
		if fresh {
			c = Conversation{CustomerID: cid, Status: ConversationOpen, Channel: m.Channel, AssigneeID: replier}
		} else if err != nil {
			return err
		}
		if c.AssigneeID == nil {
			c.AssigneeID = replier
		}
		c.WaitingSince, c.Unread = nil, 0
		c.LastReplyAt, c.LastReplyBy = &now, replier
		if m.ID > c.LastMessageID {
			c.LastMessageID, c.LastMessageAt, c.LastPreview, c.LastKind, c.LastDirection = m.ID, m.CreatedAt, preview(m), m.Kind, DirectionOut
		}
		c.Rev++
		c.UpdatedAt = now
		if fresh {
			return tx.Create(&c).Error
		}
		return tx.Save(&c).Error
	})
}

// ConversationFilter picks the inbox's conversations.
type ConversationFilter struct {
	Viewer Actor
	// View is waiting (the default: owed a reply, oldest first), open,
	// pending, resolved or all (those by latest activity).
	View string
	// Assignee is "" (anyone), "me", "none" or a staff id.
	Assignee  string
	Channel   string
	Complaint bool // only customers with an open complaint task
	Page
}

// Inbox views.
const (
	ViewWaiting = "waiting"
	ViewAll     = "all"
)

// complaintKinds are the task kinds the inbox flags as complaints.
var complaintKinds = []string{TaskComplaint, TaskSurveyRecovery}

// ListConversations returns one page of the inbox: conversations of the
// customers the viewer may see, with names, assignee names and complaint
// flags filled in.
func (s *Store) ListConversations(ctx context.Context, f ConversationFilter) ([]*Conversation, string, error) {
	limit, after, err := f.Page.parse()
	if err != nil {
		return nil, "", err
	}
	db := s.db.WithContext(ctx)
	q := s.scopeCustomers(db.Model(&Conversation{}), f.Viewer, "conversations.customer_id")
	switch f.View {
	case "", ViewWaiting:
		q = q.Where("status <> ? AND waiting_since IS NOT NULL", ConversationResolved)
	case ConversationOpen, ConversationPending, ConversationResolved:
		q = q.Where("status = ?", f.View)
	case ViewAll:
	default:
		return nil, "", Invalid("view", "%q is not waiting, open, pending, resolved or all", f.View)
	}
	switch f.Assignee {
	case "":
	case "me":
		if f.Viewer.StaffID == nil {
			return nil, "", Invalid("assignee", "\"me\" needs a caller who is a staff member")
		}
		q = q.Where("assignee_id = ?", *f.Viewer.StaffID)
	case "none":
		q = q.Where("assignee_id IS NULL")
	default:
		id, err := parseID(f.Assignee)
		if err != nil {
			return nil, "", Invalid("assignee", "%q is not me, none or a staff id", f.Assignee)
		}
		q = q.Where("assignee_id = ?", id)
	}
	if f.Channel != "" {
		if !ValidChannel(f.Channel) {
			return nil, "", Invalid("channel", "%q is not telegram, wechat or webchat", f.Channel)
		}
		q = q.Where("channel = ?", f.Channel)
	}
	if f.Complaint {
		q = q.Where("EXISTS (SELECT 1 FROM tasks WHERE tasks.customer_id = conversations.customer_id AND tasks.status = ? AND tasks.kind IN ?)",
			TaskOpen, complaintKinds)
	}
	waiting := f.View == "" || f.View == ViewWaiting
	if after > 0 {
		var last Conversation
		if err := db.Take(&last, after).Error; err != nil {
			return nil, "", Invalid("cursor", "not a cursor from this API")
		}
		switch {
		case waiting && last.WaitingSince != nil:
			q = q.Where("waiting_since > ? OR (waiting_since = ? AND customer_id > ?)", *last.WaitingSince, *last.WaitingSince, last.CustomerID)
		case waiting:
			q = q.Where("customer_id > ?", last.CustomerID) // it was answered meanwhile: carry on by id
		default:
			q = q.Where("updated_at < ? OR (updated_at = ? AND customer_id < ?)", last.UpdatedAt, last.UpdatedAt, last.CustomerID)
		}
	}
	if waiting {
		q = q.Order("waiting_since, customer_id")
	} else {
		q = q.Order("updated_at DESC, customer_id DESC") // last activity, by an index
	}
	out, next, err := pageOf(q, limit, func(c *Conversation) int64 { return c.CustomerID })
	if err != nil {
		return nil, "", fmt.Errorf("list conversations: %w", err)
	}
	if err := s.describeConversations(ctx, out); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// describeConversations fills in names and complaint flags: three
// queries for a page, whatever its size.
func (s *Store) describeConversations(ctx context.Context, cs []*Conversation) error {
	if len(cs) == 0 {
		return nil
	}
	db := s.db.WithContext(ctx)
	ids := make([]int64, len(cs))
	var staffIDs []int64
	for i, c := range cs {
		ids[i] = c.CustomerID
		if c.AssigneeID != nil {
			staffIDs = append(staffIDs, *c.AssigneeID)
		}
	}
	var names []struct {
		ID   int64
		Name string
	}
	if err := db.Model(&Customer{}).Select("id, name").Where("id IN ?", ids).Scan(&names).Error; err != nil {
		return fmt.Errorf("conversations: %w", err)
	}
	nameOf := map[int64]string{}
	for _, n := range names {
		nameOf[n.ID] = n.Name
	}
	var complaints []int64
	if err := db.Model(&Task{}).Distinct("customer_id").Where("customer_id IN ? AND status = ? AND kind IN ?", ids, TaskOpen, complaintKinds).
		Pluck("customer_id", &complaints).Error; err != nil {
		return fmt.Errorf("conversations: %w", err)
	}
	staff, err := s.StaffNames(ctx, staffIDs)
	if err != nil {
		return err
	}
	for _, c := range cs {
		c.CustomerName = nameOf[c.CustomerID]
		c.Complaint = slices.Contains(complaints, c.CustomerID)
		if c.AssigneeID != nil {
			c.AssigneeName = staff[*c.AssigneeID]
		}
	}
	return nil
}

// ConversationFor is one customer's conversation as the viewer may see
// it; a customer who never wrote and was never written to has an empty,
// resolved one.
func (s *Store) ConversationFor(ctx context.Context, by Actor, customerID int64) (*Conversation, error) {
	if err := s.SeeCustomer(ctx, by, customerID); err != nil {
		return nil, err
	}
	var c Conversation
	err := s.db.WithContext(ctx).Take(&c, customerID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		c = Conversation{CustomerID: customerID, Status: ConversationResolved}
	} else if err != nil {
		return nil, fmt.Errorf("conversation: %w", err)
	}
	if err := s.describeConversations(ctx, []*Conversation{&c}); err != nil {
		return nil, err
	}
	return &c, nil
}

// ConversationUpdate changes a conversation; nil fields stay. AssigneeID
// 0 unassigns.
type ConversationUpdate struct {
	Status     *string `json:"status"`
	AssigneeID *int64  `json:"assignee_id"`
	// Read marks every message read.
	Read bool `json:"read"`
}

// UpdateConversation sets status, assignee or read. Agents may take a
// conversation or let it go, not hand it to someone else; an assignee
// must be active and, if an agent, able to see the customer (access.go).
// Resolving or setting it pending ends the wait.
func (s *Store) UpdateConversation(ctx context.Context, by Actor, customerID int64, up ConversationUpdate) (*Conversation, error) {
	if err := s.SeeCustomer(ctx, by, customerID); err != nil {
		return nil, err
	}
	if up.Status != nil && !slices.Contains([]string{ConversationOpen, ConversationPending, ConversationResolved}, *up.Status) {
		return nil, Invalid("status", "%q is not open, pending or resolved", *up.Status)
	}
	if up.AssigneeID != nil && *up.AssigneeID != 0 {
		st, err := s.StaffByID(ctx, *up.AssigneeID)
		if IsCode(err, ENOTFOUND) || (err == nil && !st.Active) {
			return nil, Invalid("assignee_id", "staff %d is not an active staff member", *up.AssigneeID)
		} else if err != nil {
			return nil, err
		}
		if by.agent() && (by.StaffID == nil || *by.StaffID != st.ID) {
			return nil, Errorf(EFORBIDDEN, "agents take conversations for themselves only")
		}
		if st.Role == RoleAgent {
			if err := s.SeeCustomer(ctx, ActorStaff(st, ViaAPI), customerID); IsCode(err, ENOTFOUND) {
				return nil, Invalid("assignee_id", "%s cannot see this customer; make them its owner or give them a task first", st.Name)
			} else if err != nil {
				return nil, err
			}
		}
	}
	now := s.Now().Truncate(time.Millisecond)
	var c Conversation
	err := s.txCreating(ctx, func(tx *gorm.DB) error {
		c = Conversation{}
		err := s.forUpdate(tx).Take(&c, customerID).Error
		fresh := errors.Is(err, gorm.ErrRecordNotFound)
		if fresh {
			c = Conversation{CustomerID: customerID, Status: ConversationOpen, LastMessageAt: now}
		} else if err != nil {
			return err
		}
		if up.AssigneeID != nil {
			if *up.AssigneeID == 0 {
				if by.agent() && c.AssigneeID != nil && (by.StaffID == nil || *c.AssigneeID != *by.StaffID) {
					return Errorf(EFORBIDDEN, "agents let go of their own conversations only")
				}
				c.AssigneeID = nil
			} else {
				id := *up.AssigneeID
				c.AssigneeID = &id
			}
		}
		if up.Status != nil {
			c.Status = *up.Status
			if c.Status != ConversationOpen {
				c.WaitingSince = nil
			}
		}
		if up.Read || (up.Status != nil && c.Status == ConversationResolved) {
			c.Unread = 0
		}
		c.Rev++
		c.UpdatedAt = now
		if fresh {
			return tx.Create(&c).Error
		}
		return tx.Save(&c).Error
	})
	if err != nil {
		return nil, fmt.Errorf("update conversation: %w", err)
	}
	if err := s.describeConversations(ctx, []*Conversation{&c}); err != nil {
		return nil, err
	}
	return &c, nil
}

// InboxCounts are the inbox's badges for one viewer.
type InboxCounts struct {
	Waiting    int64 `json:"waiting"`
	Mine       int64 `json:"mine"`
	Unassigned int64 `json:"unassigned"`
	Unread     int64 `json:"unread"`
}

// CountInbox counts the conversations waiting for a reply that the
// viewer may see: all, theirs, nobody's, and their unread messages.
func (s *Store) CountInbox(ctx context.Context, by Actor) (*InboxCounts, error) {
	var rows []struct {
		AssigneeID *int64
		N          int64
		Unread     int64
	}
	q := s.scopeCustomers(s.db.WithContext(ctx).Model(&Conversation{}), by, "conversations.customer_id").
		Select("assignee_id, COUNT(*) AS n, SUM(unread) AS unread").
		Where("status <> ? AND waiting_since IS NOT NULL", ConversationResolved).Group("assignee_id")
	if err := q.Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("count inbox: %w", err)
	}
	var out InboxCounts
	for _, r := range rows {
		out.Waiting += r.N
		out.Unread += r.Unread
		switch {
		case r.AssigneeID == nil:
			out.Unassigned += r.N
		case by.StaffID != nil && *r.AssigneeID == *by.StaffID:
			out.Mine += r.N
		}
	}
	return &out, nil
}

// ConversationsChanged returns up to limit conversations changed at or
// after since, oldest change first, of the customers the viewer may see:
// what an event stream shows.
func (s *Store) ConversationsChanged(ctx context.Context, by Actor, since time.Time, limit int) ([]*Conversation, error) {
	var out []*Conversation
	q := s.scopeCustomers(s.db.WithContext(ctx).Model(&Conversation{}), by, "conversations.customer_id").
		Where("updated_at >= ?", since.UTC()).Order("updated_at, customer_id").Limit(limit)
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("conversations changed: %w", err)
	}
	if err := s.describeConversations(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// RecentMessages returns the customer's newest messages created after
// since (at most limit, newest first), with their current status: an
// event stream shows new ones and status changes of the open
// conversation. The caller has checked the viewer may see the customer.
func (s *Store) RecentMessages(ctx context.Context, customerID int64, since time.Time, limit int) ([]*Message, error) {
	var out []*Message
	err := s.db.WithContext(ctx).Where("customer_id = ? AND staff_id IS NULL AND created_at > ?", customerID, since.UTC()).
		Order("created_at DESC, id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("recent messages: %w", err)
	}
	return out, nil
}

// mergeConversations folds the gone customer's conversation into the
// kept one's, inside a merge's transaction.
func mergeConversations(tx *gorm.DB, keepID, goneID int64, now time.Time) error {
	var both []Conversation
	if err := tx.Where("customer_id IN ?", []int64{keepID, goneID}).Find(&both).Error; err != nil {
		return err
	}
	var keep, gone *Conversation
	for i := range both {
		if both[i].CustomerID == keepID {
			keep = &both[i]
		} else {
			gone = &both[i]
		}
	}
	if gone == nil {
		return nil
	}
	if err := tx.Delete(&Conversation{}, goneID).Error; err != nil {
		return err
	}
	if keep == nil {
		gone.CustomerID = keepID
		gone.Rev++
		gone.UpdatedAt = now
		return tx.Create(gone).Error
	}
	keep.Unread += gone.Unread
	if gone.WaitingSince != nil && (keep.WaitingSince == nil || gone.WaitingSince.Before(*keep.WaitingSince)) {
		keep.WaitingSince = gone.WaitingSince
	}
	if keep.AssigneeID == nil {
		keep.AssigneeID = gone.AssigneeID
	}
	if gone.LastMessageID > keep.LastMessageID {
		keep.LastMessageID, keep.LastMessageAt, keep.LastPreview, keep.LastKind, keep.LastDirection, keep.Channel =
			gone.LastMessageID, gone.LastMessageAt, gone.LastPreview, gone.LastKind, gone.LastDirection, gone.Channel
		keep.LastInboundAt = gone.LastInboundAt
	}
	if keep.WaitingSince != nil && keep.Status != ConversationOpen {
		keep.Status = ConversationOpen
	}
	keep.Rev++
	keep.UpdatedAt = now
	return tx.Save(keep).Error
}

// conversationsBackfill gives every customer who ever wrote a resolved
// conversation, so the inbox's history starts full but owes nobody a
// reply from before it existed.
func conversationsBackfill(tx *gorm.DB) error {
	if err := tx.AutoMigrate(&Conversation{}); err != nil {
		return err
	}
	return tx.Exec(`INSERT INTO conversations (customer_id, status, channel, unread, last_inbound_at, last_message_id, last_message_at,
		last_preview, last_kind, last_direction, rev, updated_at)
		SELECT m.customer_id, 'resolved', '', 0, MAX(m.created_at), MAX(m.id), MAX(m.created_at), '', '', 'in', 1, MAX(m.created_at)
		FROM messages m WHERE m.customer_id IS NOT NULL AND m.direction = 'in' AND m.staff_id IS NULL
		AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.customer_id = m.customer_id)
		GROUP BY m.customer_id`).Error
}

func parseID(s string) (int64, error) {
	var id int64
	if _, err := fmt.Sscan(s, &id); err != nil || id <= 0 || fmt.Sprint(id) != s {
		return 0, errors.New("not an id")
	}
	return id, nil
}

// ListRecentMessagesFor is a conversation the actor may see, newest
// first: the console shows the latest page and pages back with
// next_cursor.
func (s *Store) ListRecentMessagesFor(ctx context.Context, by Actor, customerID int64, p Page) ([]*Message, string, error) {
	if err := s.SeeCustomer(ctx, by, customerID); err != nil {
		return nil, "", err
	}
	limit, before, err := p.parse()
	if err != nil {
		return nil, "", err
	}
	db := s.db.WithContext(ctx)
	q := db.Where("customer_id = ? AND staff_id IS NULL", customerID)
	if before > 0 {
		var last Message
		if err := db.Select("id", "created_at").Take(&last, before).Error; err != nil {
			return nil, "", Invalid("cursor", "not a cursor from this API")
		}
		q = q.Where("created_at < ? OR (created_at = ? AND id < ?)", last.CreatedAt, last.CreatedAt, last.ID)
	}
	ms, next, err := pageOf(q.Order("created_at DESC, id DESC"), limit, func(r *Message) int64 { return r.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list messages: %w", err)
	}
	return ms, next, nil
}
