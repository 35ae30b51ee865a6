package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Binding limits. Codes are 8 characters of a 32-letter alphabet (40 bits);
// with a handful of guesses per chat account and hour and at most one live
// code per staff member, guessing one is hopeless.
const (
	BindingCodeTTL = 15 * time.Minute
	// BindFailuresPerHour is how many wrong codes one chat account may send
	// in an hour; after that even a right code is refused until it passes.
	BindFailuresPerHour = 5
	// BindingCodesPerHour is how many codes one staff member may be issued
	// in an hour.
	BindingCodesPerHour = 5
	bindingCodeLen      = 8
	bindingAlphabet     = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" // no I, O, 0, 1
)

// BindingCode is a one-time code that binds a chat account to a staff
// member. Only its hash is stored.
type BindingCode struct {
	ID        int64      `gorm:"primaryKey"`
	StaffID   int64      `gorm:"not null;index"`
	Hash      string     `gorm:"size:64;not null;uniqueIndex"`
	ExpiresAt time.Time  `gorm:"not null"`
	UsedAt    *time.Time // also set when a newer code replaces it
	CreatedAt time.Time  `gorm:"index"`
}

// bindAttempt is one /bind from a chat account, kept to limit guessing.
type bindAttempt struct {
	ID        int64     `gorm:"primaryKey"`
	Account   string    `gorm:"size:160;not null;index:ix_bind_attempts_account_time,priority:1"`
	OK        bool      `gorm:"not null"`
	CreatedAt time.Time `gorm:"index:ix_bind_attempts_account_time,priority:2"`
}

func (bindAttempt) TableName() string { return "bind_attempts" }

// Binding errors, for the chat replies.
var (
	ErrBindThrottled = &Error{Code: EFORBIDDEN, Message: "too many wrong binding codes from this account; try again in an hour"}
	ErrBindBadCode   = &Error{Code: EINVALID, Field: "code", Message: "code: unknown, used or expired binding code"}
)

// CreateBindingCode issues a new code for an active staff member; it
// replaces any earlier unused code. Only admins issue codes for an admin
// (a code binds a chat account to the admin).
func (s *Store) CreateBindingCode(ctx context.Context, staffID int64, by Actor) (code string, expiresAt time.Time, err error) {
	code = newBindingCode()
	now := s.Now().Truncate(time.Millisecond)
	expiresAt = now.Add(BindingCodeTTL)
	err = s.tx(ctx, func(tx *gorm.DB) error {
		var st Staff
		if err := tx.Take(&st, staffID).Error; err != nil {
			return notFound(err, "staff %d", staffID)
		}
		if err := by.mayManage(&st); err != nil {
			return err
		}
		// Written, not just read: the code must not outlive a deactivation
		// committed meanwhile, on this server or another Galera node.
		if ok, err := writeActiveStaff(tx, staffID); err != nil {
			return err
		} else if !ok {
			return Errorf(EINVALID, "staff %d is not active", staffID)
		}
		var n int64
		if err := tx.Model(&BindingCode{}).Where("staff_id = ? AND created_at > ?", staffID, now.Add(-time.Hour)).Count(&n).Error; err != nil {
			return err
		}
		if n >= BindingCodesPerHour {
			return Errorf(ECONFLICT, "staff %d was issued %d binding codes in the last hour; try again later", staffID, n)
		}
		if err := tx.Model(&BindingCode{}).Where("staff_id = ? AND used_at IS NULL", staffID).Update("used_at", now).Error; err != nil {
			return err
		}
		return tx.Create(&BindingCode{StaffID: staffID, Hash: hashToken(code), ExpiresAt: expiresAt, CreatedAt: now}).Error
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("binding code: %w", err)
	}
	return code, expiresAt, nil
}

func newBindingCode() string {
	var b [bindingCodeLen]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = bindingAlphabet[int(b[i])%len(bindingAlphabet)] // 256 % 32 == 0: unbiased
	}
	return string(b[:])
}

// StaffChannel reports whether staff can bind a chat account on channel:
// Telegram and WeChat, the channels staff work in. Web chat is for
// customers; a /bind typed there is an ordinary customer message.
func StaffChannel(channel string) bool {
	return channel == ChannelTelegram || channel == ChannelWeChat
}

// BindRequest is a /bind CODE from a chat account.
type BindRequest struct {
	Channel    string
	ExternalID string // the sender's platform user id
	ChatID     string // where to reach them; defaults to ExternalID
	Code       string
}

// RedeemBindingCode binds the chat account to the code's staff member. A
// wrong, used or expired code is ErrBindBadCode and counts against the
// account; too many of those in an hour is ErrBindThrottled.
func (s *Store) RedeemBindingCode(ctx context.Context, r BindRequest) (*Staff, error) {
	if !ValidChannel(r.Channel) || r.ExternalID == "" || len(r.ExternalID) > 128 {
		return nil, Errorf(EINVALID, "bad chat account %s:%s", r.Channel, r.ExternalID)
	}
	if !StaffChannel(r.Channel) {
		return nil, Invalid("channel", "staff bind their Telegram or WeChat account, not %s", r.Channel)
	}
	r.ChatID = cmp.Or(r.ChatID, r.ExternalID)
	code := strings.ToUpper(strings.TrimSpace(r.Code))
	account := r.Channel + ":" + r.ExternalID
	now := s.Now().Truncate(time.Millisecond)
	var st *Staff
	var verdict error
	// txCreating: the account's binding is read, then created when missing,
	// and two codes redeemed from one account at once both find none.
	err := s.txCreating(ctx, func(tx *gorm.DB) error {
		st, verdict = nil, nil
		var fails int64
		if err := tx.Model(&bindAttempt{}).Where("account = ? AND created_at > ? AND ok = ?", account, now.Add(-time.Hour), false).
			Count(&fails).Error; err != nil {
			return err
		}
		if fails >= BindFailuresPerHour {
			verdict = ErrBindThrottled
			return nil
		}
		var bc BindingCode
		err := tx.Where("hash = ? AND used_at IS NULL AND expires_at > ?", hashToken(code), now).Take(&bc).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || code == "" || len(code) > 64 {
			verdict = ErrBindBadCode
			// Committed with the transaction: the failure must count.
			return tx.Create(&bindAttempt{Account: account, OK: false, CreatedAt: now}).Error
		} else if err != nil {
			return err
		}
		// Single use even when two accounts race with the same code.
		res := tx.Model(&BindingCode{}).Where("id = ? AND used_at IS NULL", bc.ID).Update("used_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			verdict = ErrBindBadCode
			return tx.Create(&bindAttempt{Account: account, OK: false, CreatedAt: now}).Error
		}
		// The binding needs the staff member active when it commits, also
		// against a deactivation on another Galera node: write their row.
		if ok, err := writeActiveStaff(tx, bc.StaffID); err != nil {
			return err
		} else if !ok {
			verdict = ErrBindBadCode
			return nil
		}
		var staff Staff
		if err := tx.Take(&staff, bc.StaffID).Error; err != nil {
			return err
		}
		var si StaffIdentity
		err = tx.Where("channel = ? AND external_id = ?", r.Channel, r.ExternalID).Take(&si).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			err = tx.Create(&StaffIdentity{StaffID: staff.ID, Channel: r.Channel, ExternalID: r.ExternalID, ChatID: r.ChatID, CreatedAt: now}).Error
		case err == nil:
			err = tx.Model(&StaffIdentity{}).Where("id = ?", si.ID).Updates(map[string]any{"staff_id": staff.ID, "chat_id": r.ChatID}).Error
		}
		if err != nil {
			return err
		}
		if err := tx.Create(&bindAttempt{Account: account, OK: true, CreatedAt: now}).Error; err != nil {
			return err
		}
		st = &staff
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	if verdict != nil {
		return nil, verdict
	}
	s.forgetStaffIdentities()
	return st, nil
}
