package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"
)

// Voucher statuses. Expired is not stored: an unused voucher past its
// ExpiresAt reads as expired.
const (
	VoucherUnused  = "unused"
	VoucherUsed    = "used"
	VoucherExpired = "expired"
)

// Voucher is what a redemption issues: a short code the customer shows
// at the next visit, worth Value until ExpiresAt, used once.
type Voucher struct {
	ID         int64  `gorm:"primaryKey" json:"id"`
	CustomerID int64  `gorm:"not null;index" json:"customer_id"`
	RewardID   int64  `gorm:"not null;index" json:"reward_id"`
	Code       string `gorm:"size:16;not null;uniqueIndex" json:"code"`
	// What the reward was when redeemed (the catalogue may change).
	Name      string     `gorm:"size:128;not null;default:''" json:"name"`
	Kind      string     `gorm:"size:32;not null;default:'voucher'" json:"kind"`
	Value     Money      `gorm:"column:value_fen;type:bigint;not null;default:0" json:"value"`
	Points    int64      `gorm:"not null" json:"points"`
	Status    string     `gorm:"size:8;not null;default:'unused'" json:"status"`
	ExpiresAt time.Time  `gorm:"not null" json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	OrderID   *int64     `json:"order_id,omitempty"`
	UsedBy    *int64     `json:"used_by,omitempty"`
	// RedeemKey makes a redemption land once however often it is sent
	// (a double-tapped button, a retried request).
	RedeemKey *string   `gorm:"size:100;uniqueIndex" json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

func (v *Voucher) view(now time.Time) *Voucher {
	if v.Status == VoucherUnused && !v.ExpiresAt.After(now) {
		v.Status = VoucherExpired
	}
	return v
}

// codeAlphabet leaves out 0/O and 1/I/L, which read alike; 10 letters of
// 32 are 50 random bits, beyond guessing at any rate the API allows.
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

const codeLen = 10

func newVoucherCode() string {
	b := make([]byte, codeLen)
	rand.Read(b)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b)
}

// normalizeCode reads a code as typed: case and spaces do not matter.
func normalizeCode(code string) string {
	return strings.ToUpper(strings.Join(strings.Fields(code), ""))
}

// UseVoucher marks an unused, unexpired voucher used, optionally on an
// order of its customer. Used or expired: ECONFLICT saying which. The
// conditional UPDATE makes two staff marking it at once agree: one wins.
func (s *Store) UseVoucher(ctx context.Context, by Actor, code string, orderID *int64) (*Voucher, error) {
	code = normalizeCode(code)
	if code == "" || len(code) > 16 {
		return nil, Errorf(ENOTFOUND, "voucher %q not found", code)
	}
	var v Voucher
	db := s.db.WithContext(ctx)
	if err := db.Where("code = ?", code).Take(&v).Error; err != nil {
		return nil, fmt.Errorf("use voucher: %w", notFound(err, "voucher %q", code))
	}
	if err := s.SeeCustomer(ctx, by, v.CustomerID); err != nil {
		return nil, err
	}
	if orderID != nil {
		var o Order
		if err := db.Take(&o, *orderID).Error; err != nil {
			return nil, fmt.Errorf("use voucher: %w", notFound(err, "order %d", *orderID))
		}
		if o.CustomerID != v.CustomerID {
			return nil, Invalid("order_id", "order %d is another customer's", o.ID)
		}
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	res := db.Model(&Voucher{}).Where("id = ? AND status = ? AND expires_at > ?", v.ID, VoucherUnused, now).
		Updates(map[string]any{"status": VoucherUsed, "used_at": now, "order_id": orderID, "used_by": by.StaffID})
	if res.Error != nil {
		return nil, fmt.Errorf("use voucher: %w", res.Error)
	}
	if err := db.Take(&v, v.ID).Error; err != nil {
		return nil, fmt.Errorf("use voucher: %w", err)
	}
	if res.RowsAffected == 0 {
		if v.Status == VoucherUsed {
			return nil, &Error{Code: ECONFLICT, Field: "code", Message: fmt.Sprintf("voucher %s was already used on %s", v.Code, v.UsedAt.UTC().Format(time.RFC3339))}
		}
		return nil, &Error{Code: ECONFLICT, Field: "code", Message: fmt.Sprintf("voucher %s expired on %s", v.Code, v.ExpiresAt.UTC().Format(time.RFC3339))}
	}
	return v.view(now), nil
}

// CustomerVouchers lists a customer's vouchers, newest first (up to 200);
// unusedOnly: those still usable.
func (s *Store) CustomerVouchers(ctx context.Context, by Actor, customerID int64, unusedOnly bool) ([]*Voucher, error) {
	if err := s.SeeCustomer(ctx, by, customerID); err != nil {
		return nil, err
	}
	now := s.Now()
	q := s.db.WithContext(ctx).Where("customer_id = ?", customerID)
	if unusedOnly {
		q = q.Where("status = ? AND expires_at > ?", VoucherUnused, now.UTC())
	}
	vs := []*Voucher{}
	if err := q.Order("id DESC").Limit(200).Find(&vs).Error; err != nil {
		return nil, fmt.Errorf("vouchers: %w", err)
	}
	for _, v := range vs {
		v.view(now)
	}
	return vs, nil
}
