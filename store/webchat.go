package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// chatCustomer finds the customer behind a chat address; 0 when the
// account never wrote.
func (s *Store) chatCustomer(ctx context.Context, channel, externalID string) (int64, error) {
	id, err := s.IdentityByExternal(ctx, channel, externalID)
	if IsCode(err, ENOTFOUND) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	return id.CustomerID, nil
}

// ChatHistory returns the newest limit messages of one chat account's
// conversation on its channel, oldest first: what the account wrote and
// what was sent to it (outbound rows not yet sent are left out).
func (s *Store) ChatHistory(ctx context.Context, channel, externalID string, limit int) ([]*Message, error) {
	cid, err := s.chatCustomer(ctx, channel, externalID)
	if err != nil || cid == 0 {
		return nil, err
	}
	var ms []*Message
	err = s.db.WithContext(ctx).
		Where("customer_id = ? AND channel = ? AND chat_id = ? AND (direction = ? OR status = ?)", cid, channel, externalID, DirectionIn, StatusSent).
		Order("created_at DESC, id DESC").Limit(limit).Find(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("chat history: %w", err)
	}
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
	return ms, nil
}

// SentCursor orders outbound messages by when they were sent: a message
// deferred by quiet hours is sent after later-created ones.
type SentCursor struct {
	At time.Time
	ID int64
}

// SentAfter returns up to limit messages sent to one chat account after the
// cursor, in the order they were sent.
func (s *Store) SentAfter(ctx context.Context, channel, externalID string, after SentCursor, limit int) ([]*Message, error) {
	if limit <= 0 {
		return nil, errors.New("sent after: limit must be positive")
	}
	cid, err := s.chatCustomer(ctx, channel, externalID)
	if err != nil || cid == 0 {
		return nil, err
	}
	at := after.At.UTC()
	var ms []*Message
	err = s.db.WithContext(ctx).
		Where("customer_id = ? AND channel = ? AND chat_id = ? AND direction = ? AND status = ?", cid, channel, externalID, DirectionOut, StatusSent).
		Where("sent_at > ? OR (sent_at = ? AND id > ?)", at, at, after.ID).
		Order("sent_at, id").Limit(limit).Find(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("sent after: %w", err)
	}
	return ms, nil
}
