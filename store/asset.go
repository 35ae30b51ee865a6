package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Asset is a serviced item a customer owns (a car, an appliance, a
// subscription): maintenance care reminds before NextServiceDue.
type Asset struct {
	ID         int64  `gorm:"primaryKey" json:"id"`
	CustomerID int64  `gorm:"not null;index" json:"customer_id"`
	Name       string `gorm:"size:128;not null" json:"name"`
	// Kind (car, motorcycle, air_conditioner...), Model and Year (of make,
	// 0 unknown) let segments pick owners by what they own and its age.
	Kind                string     `gorm:"size:64;not null;default:'';index" json:"kind"`
	Model               string     `gorm:"size:128;not null;default:''" json:"model"`
	Year                int        `gorm:"not null;default:0" json:"year"`
	ServiceIntervalDays int        `gorm:"not null;default:0" json:"service_interval_days"`
	LastServiceAt       *time.Time `json:"last_service_at"`
	// NextServiceDue is a date (midnight UTC) in the business calendar.
	NextServiceDue *time.Time `gorm:"index" json:"next_service_due"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// AssetInput creates an asset: either a last service time plus an interval
// (the next due date follows), or an explicit next due date.
type AssetInput struct {
	Name                string     `json:"name"`
	Kind                string     `json:"kind"`
	Model               string     `json:"model"`
	Year                int        `json:"year"`
	LastServiceAt       *time.Time `json:"last_service_at"`
	ServiceIntervalDays int        `json:"service_interval_days"`
	NextServiceDue      string     `json:"next_service_due"` // YYYY-MM-DD
}

// DateOf is the business-calendar date of t in loc, as midnight UTC: the
// way date columns (Asset.NextServiceDue) are stored.
func DateOf(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// CreateAsset adds a serviced item to a customer. loc is the business time
// zone that turns last_service_at into a calendar date.
func (s *Store) CreateAsset(ctx context.Context, customerID int64, in AssetInput, loc *time.Location) (*Asset, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > 128 {
		return nil, Invalid("name", "must be 1-128 characters")
	}
	if in.ServiceIntervalDays < 0 || in.ServiceIntervalDays > 3660 {
		return nil, Invalid("service_interval_days", "must be 0-3660")
	}
	kind, model := strings.ToLower(strings.TrimSpace(in.Kind)), strings.TrimSpace(in.Model)
	if utf8.RuneCountInString(kind) > 64 {
		return nil, Invalid("kind", "longer than 64 characters")
	}
	if utf8.RuneCountInString(model) > 128 {
		return nil, Invalid("model", "longer than 128 characters")
	}
	if in.Year != 0 && (in.Year < 1900 || in.Year > 2200) {
		return nil, Invalid("year", "must be 1900-2200 (or 0 for unknown)")
	}
	a := &Asset{CustomerID: customerID, Name: name, Kind: kind, Model: model, Year: in.Year, ServiceIntervalDays: in.ServiceIntervalDays}
	switch {
	case in.NextServiceDue != "":
		d, err := time.Parse("2006-01-02", in.NextServiceDue)
		if err != nil {
			return nil, Invalid("next_service_due", "%q is not YYYY-MM-DD", in.NextServiceDue)
		}
		if err := checkTime("next_service_due", d); err != nil {
			return nil, err
		}
		a.NextServiceDue = &d
		if in.LastServiceAt != nil {
			t := in.LastServiceAt.UTC()
			a.LastServiceAt = &t
		}
	case in.LastServiceAt != nil:
		if in.ServiceIntervalDays <= 0 {
			return nil, Invalid("service_interval_days", "required with last_service_at")
		}
		t := in.LastServiceAt.UTC()
		due := DateOf(t, loc).AddDate(0, 0, in.ServiceIntervalDays)
		a.LastServiceAt, a.NextServiceDue = &t, &due
	default:
		return nil, Invalid("next_service_due", "give next_service_due, or last_service_at with service_interval_days")
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Customer{}).Where("id = ?", customerID).Count(&n).Error; err != nil {
			return err
		} else if n == 0 {
			return Errorf(ENOTFOUND, "customer %d not found", customerID)
		}
		return tx.Create(a).Error
	})
	if err != nil {
		return nil, fmt.Errorf("create asset: %w", err)
	}
	return a, nil
}

// AssetByID loads one asset.
func (s *Store) AssetByID(ctx context.Context, id int64) (*Asset, error) {
	return byID[Asset](ctx, s, "asset", id)
}

// ListAssets returns a customer's assets.
func (s *Store) ListAssets(ctx context.Context, customerID int64) ([]*Asset, error) {
	var as []*Asset
	if err := s.db.WithContext(ctx).Where("customer_id = ?", customerID).Order("id").Find(&as).Error; err != nil {
		return nil, fmt.Errorf("list assets: %w", err)
	}
	return as, nil
}

// AssetsDue returns up to limit assets whose next service is due in
// [from, to] (dates), after the keyset (afterDue, afterID), ordered by due
// date then id through the next_service_due index. A zero afterDue starts
// from the first: the zero time is never sent as a value, because servers
// with NO_ZERO_DATE (TiDB) compare no date greater than '0000-00-00'.
func (s *Store) AssetsDue(ctx context.Context, from, to, afterDue time.Time, afterID int64, limit int) ([]*Asset, error) {
	var as []*Asset
	q := s.db.WithContext(ctx).Where("next_service_due >= ? AND next_service_due <= ?", from.UTC(), to.UTC())
	if !afterDue.IsZero() {
		q = q.Where("(next_service_due > ? OR (next_service_due = ? AND id > ?))", afterDue.UTC(), afterDue.UTC(), afterID)
	}
	err := q.Order("next_service_due, id").Limit(limit).Find(&as).Error
	if err != nil {
		return nil, fmt.Errorf("assets due: %w", err)
	}
	return as, nil
}
