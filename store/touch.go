package store

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// Touches: which customers' figures an event changed, and the hook that
// refreshes them in the event's own transaction.

// customerTouch marks a customer whose figures an event changed (an
// order, a survey answer, a complaint opened or closed, a merge): it is
// written in the event's own transaction, so a crash right after it
// loses nothing, and removed by the refresh that reads the event.
type customerTouch struct {
	CustomerID int64     `gorm:"primaryKey;autoIncrement:false"`
	TouchedAt  time.Time `gorm:"not null;index"`
}

func (customerTouch) TableName() string { return "customer_touches" }

// touchCustomers marks customers touched at at.
func touchCustomers(tx *gorm.DB, at time.Time, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	seen := make(map[int64]bool, len(ids))
	var sb strings.Builder
	args := make([]any, 0, 2*len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if len(args) > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(?, ?)")
		args = append(args, id, at.UTC())
	}
	q := "INSERT INTO customer_touches (customer_id, touched_at) VALUES " + sb.String()
	if tx.Dialector.Name() == "mysql" {
		q += " ON DUPLICATE KEY UPDATE touched_at = VALUES(touched_at)"
	} else {
		q += " ON CONFLICT(customer_id) DO UPDATE SET touched_at = excluded.touched_at"
	}
	return tx.Exec(q, args...).Error
}

// FigureCompute computes one customer's figures from what the store read
// of them (package analytics provides it): the stats row to write and the
// tier and stage changes.
type FigureCompute func(r FigureRow, orders []OrderPoint) FigureWrite

// figureHook holds the function OnFigures set.
type figureHook struct {
	fn atomic.Pointer[func(context.Context) (FigureCompute, error)]
}

// OnFigures sets where the store gets the computation of a customer's
// figures for now; cmd points it at analytics. With it, an order, a survey
// answer and a complaint opened or closed recompute their customer's
// figures inside the transaction that records them: one commit, and the
// figures are current when the call returns. Without it, or when it
// fails, the event marks the customer touched (durably, in the same
// transaction) for the analytics sweep.
func (s *Store) OnFigures(fn func(ctx context.Context) (FigureCompute, error)) {
	s.figures.fn.Store(&fn)
}

// figureCompute is the computation for now, or nil (no hook, or it failed).
func (s *Store) figureCompute(ctx context.Context) FigureCompute {
	fn := s.figures.fn.Load()
	if fn == nil || *fn == nil {
		return nil
	}
	c, err := (*fn)(ctx)
	if err != nil {
		return nil
	}
	return c
}

// refreshOrTouch, inside an event's transaction, recomputes the
// customer's figures with compute, or marks them touched without one;
// complaints as for refreshIn.
func (s *Store) refreshOrTouch(tx *gorm.DB, compute FigureCompute, at time.Time, customerID int64, complaints *int) error {
	if compute == nil {
		return touchCustomers(tx, at, customerID)
	}
	_, err := s.refreshIn(tx, customerID, compute, at, complaints)
	return err
}

// TouchedCustomers returns up to limit customers touched before t, the
// longest waiting first.
func (s *Store) TouchedCustomers(ctx context.Context, before time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Model(&customerTouch{}).Where("touched_at < ?", before.UTC()).
		Order("touched_at").Limit(limit).Pluck("customer_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("touched customers: %w", err)
	}
	return ids, nil
}

// TouchBacklog counts the touched customers waiting, up to atMost.
func (s *Store) TouchBacklog(ctx context.Context, atMost int) (int, error) {
	var n int64
	err := s.db.WithContext(ctx).Table("(?) AS t", s.db.Model(&customerTouch{}).Select("customer_id").Limit(atMost)).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("touch backlog: %w", err)
	}
	return int(n), nil
}

// ClearTouches removes the touches a recompute that read every order from
// `before` on has covered, a chunk at a time.
func (s *Store) ClearTouches(ctx context.Context, before time.Time) error {
	for {
		var ids []int64
		db := s.db.WithContext(ctx)
		if err := db.Model(&customerTouch{}).Where("touched_at <= ?", before.UTC()).Limit(5000).Pluck("customer_id", &ids).Error; err != nil {
			return fmt.Errorf("clear touches: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := db.Where("customer_id IN ? AND touched_at <= ?", ids, before.UTC()).Delete(&customerTouch{}).Error; err != nil {
			return fmt.Errorf("clear touches: %w", err)
		}
		if len(ids) < 5000 {
			return nil
		}
	}
}

// ClearTouch removes a customer's touch (a customer that is gone).
func (s *Store) ClearTouch(ctx context.Context, customerID int64) error {
	if err := s.db.WithContext(ctx).Where("customer_id = ?", customerID).Delete(&customerTouch{}).Error; err != nil {
		return fmt.Errorf("clear touch: %w", err)
	}
	return nil
}
