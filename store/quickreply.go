package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// QuickReply (快捷回复) is a canned answer managers maintain and agents
// insert into a reply.
type QuickReply struct {
	ID    int64  `gorm:"primaryKey" json:"id"`
	Title string `gorm:"size:64;not null" json:"title"`
	Body  string `gorm:"type:text;not null" json:"body"`
	// Shortcut is what an agent types after "/" in the reply box to pick
	// it (letters, digits, - and _), or "".
	Shortcut  string    `gorm:"size:32;not null;default:''" json:"shortcut"`
	CreatedBy *int64    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Quick reply limits.
const (
	maxQuickReplyBody = 2000 // characters
	// MaxQuickReplies bounds the list: it is read whole.
	MaxQuickReplies = 500
)

// QuickReplyInput creates or changes a quick reply; nil fields stay.
type QuickReplyInput struct {
	Title    *string `json:"title"`
	Body     *string `json:"body"`
	Shortcut *string `json:"shortcut"`
}

func (in QuickReplyInput) apply(q *QuickReply) error {
	if in.Title != nil {
		t := strings.TrimSpace(*in.Title)
		if t == "" || utf8.RuneCountInString(t) > 64 {
			return Invalid("title", "must be 1-64 characters")
		}
		q.Title = t
	}
	if in.Body != nil {
		b := strings.TrimSpace(*in.Body)
		if b == "" || utf8.RuneCountInString(b) > maxQuickReplyBody {
			return Invalid("body", "must be 1-%d characters", maxQuickReplyBody)
		}
		q.Body = b
	}
	if in.Shortcut != nil {
		sc := strings.TrimSpace(*in.Shortcut)
		if len(sc) > 32 || strings.IndexFunc(sc, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) >= 0 {
			return Invalid("shortcut", "%q: up to 32 letters, digits, - or _", sc)
		}
		q.Shortcut = sc
	}
	return nil
}

// ListQuickReplies returns every quick reply by title.
func (s *Store) ListQuickReplies(ctx context.Context) ([]*QuickReply, error) {
	out := []*QuickReply{}
	if err := s.db.WithContext(ctx).Order("title, id").Limit(MaxQuickReplies).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("quick replies: %w", err)
	}
	return out, nil
}

// CreateQuickReply adds one; title and body are required.
func (s *Store) CreateQuickReply(ctx context.Context, by Actor, in QuickReplyInput) (*QuickReply, error) {
	if in.Title == nil {
		return nil, Invalid("title", "required")
	}
	if in.Body == nil {
		return nil, Invalid("body", "required")
	}
	now := s.Now().Truncate(time.Millisecond)
	q := &QuickReply{CreatedBy: by.StaffID, CreatedAt: now, UpdatedAt: now}
	if err := in.apply(q); err != nil {
		return nil, err
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&QuickReply{}).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("create quick reply: %w", err)
	}
	if n >= MaxQuickReplies {
		return nil, Errorf(ECONFLICT, "there are %d quick replies already; delete some first", n)
	}
	if err := s.db.WithContext(ctx).Create(q).Error; err != nil {
		return nil, fmt.Errorf("create quick reply: %w", err)
	}
	return q, nil
}

// UpdateQuickReply changes one.
func (s *Store) UpdateQuickReply(ctx context.Context, id int64, in QuickReplyInput) (*QuickReply, error) {
	var q QuickReply
	db := s.db.WithContext(ctx)
	if err := db.Take(&q, id).Error; err != nil {
		return nil, notFound(err, "quick reply %d", id)
	}
	if err := in.apply(&q); err != nil {
		return nil, err
	}
	q.UpdatedAt = s.Now().Truncate(time.Millisecond)
	if err := db.Save(&q).Error; err != nil {
		return nil, fmt.Errorf("update quick reply: %w", err)
	}
	return &q, nil
}

// DeleteQuickReply removes one.
func (s *Store) DeleteQuickReply(ctx context.Context, id int64) error {
	res := s.db.WithContext(ctx).Delete(&QuickReply{}, id)
	if res.Error != nil {
		return fmt.Errorf("delete quick reply: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return Errorf(ENOTFOUND, "quick reply %d not found", id)
	}
	return nil
}
