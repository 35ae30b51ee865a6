package store

// Inbound messages after they are stored: the router marks them
// processed; recovery claims those it never got to.

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// MarkProcessed records that the router has run its commands and hooks on
// these inbound messages, and notes them on their customers' conversations
// (the shared inbox) in the same transaction: a message becomes processed
// once, so it is counted once, whichever replica processes it. This keeps
// the inbox off the webhook's path: the router marks messages in batches
// (every 200 ms or 256 messages), one upsert of conversations per batch,
// where writing them with each intake group cost a statement per group.
func (s *Store) MarkProcessed(ctx context.Context, ids []int64) error {
	for start := 0; start < len(ids); start += enqueueBatch {
		part := ids[start:min(start+enqueueBatch, len(ids))]
		err := s.tx(ctx, func(tx *gorm.DB) error {
			var fresh []*Message
			if err := s.forUpdate(tx).Select("id", "customer_id", "staff_id", "channel", "kind", "text", "media", "created_at").
				Where("id IN ? AND status = ?", part, StatusReceived).Order("id").Find(&fresh).Error; err != nil {
				return err
			}
			if len(fresh) == 0 {
				return nil
			}
			ids := make([]int64, len(fresh))
			for i, m := range fresh {
				ids[i] = m.ID
			}
			if err := tx.Model(&Message{}).Where("id IN ? AND status = ?", ids, StatusReceived).
				Updates(map[string]any{"status": StatusProcessed, "claimed_by": "", "lease_until": nil}).Error; err != nil {
				return err
			}
			return s.noteArrivals(tx, fresh)
		})
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
	var res *gorm.DB
	err = retry(ctx, func() error {
		res = db.Model(&Message{}).
			Where("id IN ? AND status = ? AND (lease_until IS NULL OR lease_until < ?)", ids, StatusReceived, now).
			Updates(map[string]any{"claimed_by": token, "lease_until": now.Add(lease)})
		return res.Error
	})
	if err != nil || res.RowsAffected == 0 {
		return nil, wrapErr("claim unprocessed", err)
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
