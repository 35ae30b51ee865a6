package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"gorm.io/gorm"
)

// Order kinds.
const (
	OrderPurchase = "purchase"
	OrderService  = "service"
)

// Order is a purchase or a service visit.
type Order struct {
	ID         int64     `gorm:"primaryKey" json:"id"`
	CustomerID int64     `gorm:"not null;index:ix_orders_customer_time,priority:1" json:"customer_id"`
	Kind       string    `gorm:"size:16;not null" json:"kind"`
	Amount     float64   `gorm:"type:decimal(14,2);not null;default:0" json:"amount"`
	OccurredAt time.Time `gorm:"not null;index:ix_orders_customer_time,priority:2;index" json:"occurred_at"`
	AssetID    *int64    `gorm:"index" json:"asset_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// OrderInput records an order. OccurredAt defaults to now.
type OrderInput struct {
	CustomerID int64      `json:"customer_id"`
	Kind       string     `json:"kind"`
	Amount     float64    `json:"amount"`
	OccurredAt *time.Time `json:"occurred_at"`
	AssetID    *int64     `json:"asset_id"`
}

func (in OrderInput) order(now time.Time) (*Order, error) {
	if in.CustomerID <= 0 {
		return nil, Invalid("customer_id", "required")
	}
	if in.Kind != OrderPurchase && in.Kind != OrderService {
		return nil, Invalid("kind", "%q is not purchase or service", in.Kind)
	}
	if in.Amount < 0 || in.Amount >= 1e12 || math.IsNaN(in.Amount) {
		return nil, Invalid("amount", "must be between 0 and 999999999999.99")
	}
	at := now
	if in.OccurredAt != nil {
		at = in.OccurredAt.UTC()
	}
	if at.After(now.Add(24 * time.Hour)) {
		return nil, Invalid("occurred_at", "is in the future")
	}
	if in.AssetID != nil && in.Kind != OrderService {
		return nil, Invalid("asset_id", "only service orders name an asset")
	}
	return &Order{CustomerID: in.CustomerID, Kind: in.Kind, Amount: math.Round(in.Amount*100) / 100,
		OccurredAt: at.Truncate(time.Millisecond), AssetID: in.AssetID}, nil
}

// CreateOrder records an order. A service order with an asset moves the
// asset's next due date to the service date (in loc) plus its interval.
func (s *Store) CreateOrder(ctx context.Context, in OrderInput, loc *time.Location) (*Order, error) {
	o, err := in.order(s.Now())
	if err != nil {
		return nil, err
	}
	err = s.tx(ctx, func(tx *gorm.DB) error { return createOrder(tx, o, loc) })
	if err != nil {
		return nil, fmt.Errorf("create order: %w", err)
	}
	return o, nil
}

func createOrder(tx *gorm.DB, o *Order, loc *time.Location) error {
	var n int64
	if err := tx.Model(&Customer{}).Where("id = ?", o.CustomerID).Count(&n).Error; err != nil {
		return err
	} else if n == 0 {
		return Errorf(ENOTFOUND, "customer %d not found", o.CustomerID)
	}
	var a Asset
	if o.AssetID != nil {
		if err := tx.Take(&a, *o.AssetID).Error; err != nil {
			return notFound(err, "asset %d", *o.AssetID)
		}
		if a.CustomerID != o.CustomerID {
			return Invalid("asset_id", "asset %d belongs to another customer", a.ID)
		}
	}
	if err := tx.Create(o).Error; err != nil {
		return err
	}
	if o.AssetID == nil {
		return nil
	}
	// An older service entered late must not move the due date backwards.
	if a.LastServiceAt != nil && a.LastServiceAt.After(o.OccurredAt) {
		return nil
	}
	up := map[string]any{"last_service_at": o.OccurredAt, "updated_at": o.OccurredAt}
	if a.ServiceIntervalDays > 0 {
		up["next_service_due"] = DateOf(o.OccurredAt, loc).AddDate(0, 0, a.ServiceIntervalDays)
	}
	return tx.Model(&Asset{}).Where("id = ?", a.ID).Updates(up).Error
}

// OrdersBetween returns up to limit orders that occurred in [from, to) with
// id > after, by id (optionally of one kind).
func (s *Store) OrdersBetween(ctx context.Context, from, to time.Time, kind string, after int64, limit int) ([]*Order, error) {
	q := s.db.WithContext(ctx).Where("occurred_at >= ? AND occurred_at < ? AND id > ?", from.UTC(), to.UTC(), after)
	if kind != "" {
		q = q.Where("kind = ?", kind)
	}
	var os []*Order
	if err := q.Order("id").Limit(limit).Find(&os).Error; err != nil {
		return nil, fmt.Errorf("orders between: %w", err)
	}
	return os, nil
}

// HadPurchaseBefore returns which of the customers made a purchase before t.
func (s *Store) HadPurchaseBefore(ctx context.Context, customerIDs []int64, t time.Time) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(customerIDs) == 0 {
		return out, nil
	}
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Order{}).Distinct("customer_id").
		Where("customer_id IN ? AND kind = ? AND occurred_at < ?", customerIDs, OrderPurchase, t.UTC()).Pluck("customer_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("had purchase: %w", err)
	}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}
