package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
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
// replaces any earlier unused code.
func (s *Store) CreateBindingCode(ctx context.Context, staffID int64) (code string, expiresAt time.Time, err error) {
	return s.CreateBindingCodeBy(ctx, staffID, SystemActor())
}

// CreateBindingCodeBy is CreateBindingCode for a person: only admins issue
// codes for an admin (a code binds a chat account to the admin).
func (s *Store) CreateBindingCodeBy(ctx context.Context, staffID int64, by Actor) (code string, expiresAt time.Time, err error) {
	code = newBindingCode()
	now := s.Now().Truncate(time.Millisecond)
	expiresAt = now.Add(BindingCodeTTL)
	err = s.tx(ctx, func(tx *gorm.DB) error {
		var st Staff
		if err := s.forUpdate(tx).Take(&st, staffID).Error; err != nil {
			return notFound(err, "staff %d", staffID)
		}
		if err := by.mayManage(&st); err != nil {
			return err
		}
		if !st.Active {
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
	if r.ChatID == "" {
		r.ChatID = r.ExternalID
	}
	code := strings.ToUpper(strings.TrimSpace(r.Code))
	account := r.Channel + ":" + r.ExternalID
	now := s.Now().Truncate(time.Millisecond)
	var st *Staff
	var verdict error
	err := s.tx(ctx, func(tx *gorm.DB) error {
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
		var staff Staff
		if err := tx.Where("id = ? AND active = ?", bc.StaffID, true).Take(&staff).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				verdict = ErrBindBadCode
				return nil
			}
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

// StaffChat returns where to reach a staff member in chat: their most
// recently bound account, or nil when they have none.
func (s *Store) StaffChat(ctx context.Context, staffID int64) (*StaffIdentity, error) {
	var si StaffIdentity
	err := s.db.WithContext(ctx).Where("staff_id = ?", staffID).Order("id DESC").Take(&si).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("staff chat: %w", err)
	}
	if si.ChatID == "" {
		si.ChatID = si.ExternalID
	}
	return &si, nil
}

// StaffView is a staff member with their chat bindings, for the API.
// ChatBound is false while nothing reaches them in chat (no account bound,
// or inactive); OpenTasks counts their open tasks, so the console can warn
// about tasks waiting for someone chat does not reach.
type StaffView struct {
	Staff
	Identities []StaffIdentity `json:"identities"`
	ChatBound  bool            `json:"chat_bound"`
	OpenTasks  int64           `json:"open_tasks"`
}

// ListStaff returns staff members by id, a page at a time.
func (s *Store) ListStaff(ctx context.Context, p Page) ([]*StaffView, string, error) {
	limit, after, err := p.parse()
	if err != nil {
		return nil, "", err
	}
	db := s.db.WithContext(ctx)
	sts, next, err := pageOf(db.Where("id > ?", after).Order("id"), limit, func(r Staff) int64 { return r.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list staff: %w", err)
	}
	out := make([]*StaffView, len(sts))
	byID := map[int64]*StaffView{}
	ids := make([]int64, len(sts))
	for i := range sts {
		out[i] = &StaffView{Staff: sts[i], Identities: []StaffIdentity{}}
		byID[sts[i].ID] = out[i]
		ids[i] = sts[i].ID
	}
	if len(ids) > 0 {
		var sis []StaffIdentity
		if err := db.Where("staff_id IN ?", ids).Order("id").Find(&sis).Error; err != nil {
			return nil, "", fmt.Errorf("list staff: %w", err)
		}
		for _, si := range sis {
			v := byID[si.StaffID]
			v.Identities = append(v.Identities, si)
			v.ChatBound = v.Active
		}
		var counts []struct {
			AssigneeID int64
			N          int64
		}
		if err := db.Model(&Task{}).Select("assignee_id, COUNT(*) AS n").Where("assignee_id IN ? AND status = ?", ids, TaskOpen).
			Group("assignee_id").Scan(&counts).Error; err != nil {
			return nil, "", fmt.Errorf("list staff: %w", err)
		}
		for _, c := range counts {
			byID[c.AssigneeID].OpenTasks = c.N
		}
	}
	return out, next, nil
}

// StaffUpdate changes a staff member; nil fields stay.
type StaffUpdate struct {
	Name   *string `json:"name"`
	Role   *Role   `json:"role"`
	Active *bool   `json:"active"`
}

// UpdateStaff is UpdateStaffBy for an API caller known only by role (the
// history of reassigned tasks names no staff member).
func (s *Store) UpdateStaff(ctx context.Context, id int64, up StaffUpdate, by Role) (*Staff, error) {
	return s.UpdateStaffBy(ctx, id, up, Actor{Role: by, Via: ViaAPI})
}

// UpdateStaffBy applies a change. Only admins change roles (the contract:
// managers may do everything but tokens and staff roles) and only admins
// change an admin (mayManage). Deactivating
// hands the staff member's open tasks on in the same transaction (see
// reassignOpenTasks); {"active": false} on someone already inactive does
// so too, for tasks left from before that rule.
func (s *Store) UpdateStaffBy(ctx context.Context, id int64, up StaffUpdate, by Actor) (*Staff, error) {
	if up.Role != nil && !ValidRole(*up.Role) {
		return nil, Invalid("role", "%q is not admin, manager or agent", *up.Role)
	}
	if up.Name != nil {
		n := strings.TrimSpace(*up.Name)
		if n == "" || len([]rune(n)) > 128 {
			return nil, Invalid("name", "must be 1-128 characters")
		}
		up.Name = &n
	}
	deactivate := up.Active != nil && !*up.Active
	var st Staff
	err := s.tx(ctx, func(tx *gorm.DB) error {
		st = Staff{}
		var active []activeStaff
		if deactivate {
			// Lock the active staff first, as CreateTask does: deactivation
			// and task assignment then take turns instead of deadlocking,
			// and no task is assigned to this person meanwhile.
			var err error
			if active, err = lockActiveStaff(s.forUpdate(tx)); err != nil {
				return err
			}
		}
		if err := s.forUpdate(tx).Take(&st, id).Error; err != nil {
			return notFound(err, "staff %d", id)
		}
		if err := by.mayManage(&st); err != nil {
			return err
		}
		set := map[string]any{}
		if up.Role != nil && *up.Role != st.Role {
			if by.Role != RoleAdmin {
				return Errorf(EFORBIDDEN, "only admins change staff roles")
			}
			set["role"], st.Role = *up.Role, *up.Role
		}
		if up.Active != nil && *up.Active != st.Active {
			set["active"], st.Active = *up.Active, *up.Active
		}
		if up.Name != nil && *up.Name != st.Name {
			set["name"], st.Name = *up.Name, *up.Name
		}
		if len(set) > 0 {
			st.UpdatedAt = s.Now().Truncate(time.Millisecond)
			set["updated_at"] = st.UpdatedAt
			if err := tx.Model(&Staff{}).Where("id = ?", id).Updates(set).Error; err != nil {
				return err
			}
		}
		if !deactivate {
			return nil
		}
		others := slices.DeleteFunc(active, func(a activeStaff) bool { return a.ID == id })
		return s.reassignOpenTasks(tx, id, others, by, ReasonAssigneeDeactivated)
	})
	if err != nil {
		return nil, fmt.Errorf("update staff: %w", err)
	}
	if up.Active != nil {
		// This process sees the change at once; others within staffCacheTTL
		// (and StaffByIdentity checks the active flag anyway).
		s.forgetStaffIdentities()
	}
	return &st, nil
}
