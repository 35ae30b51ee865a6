package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Role of a staff member or API token.
type Role string

const (
	RoleAdmin   Role = "admin"
	RoleManager Role = "manager"
	RoleAgent   Role = "agent"
)

// ValidRole reports whether r is a role.
func ValidRole(r Role) bool { return slices.Contains([]Role{RoleAdmin, RoleManager, RoleAgent}, r) }

// Staff is a member of the business's team.
type Staff struct {
	ID        int64     `gorm:"primaryKey" json:"id"`
	Name      string    `gorm:"size:128;not null" json:"name"`
	Role      Role      `gorm:"size:16;not null" json:"role"`
	Active    bool      `gorm:"not null;default:true" json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (Staff) TableName() string { return "staff" }

// StaffInput creates a staff member.
type StaffInput struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// CreateStaff adds a staff member.
func (s *Store) CreateStaff(ctx context.Context, in StaffInput) (*Staff, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > 128 {
		return nil, Invalid("name", "must be 1-128 characters")
	}
	if in.Role == "" {
		in.Role = RoleAgent
	}
	if !ValidRole(in.Role) {
		return nil, Invalid("role", "%q is not admin, manager or agent", in.Role)
	}
	st := &Staff{Name: name, Role: in.Role, Active: true}
	if err := s.db.WithContext(ctx).Create(st).Error; err != nil {
		return nil, fmt.Errorf("create staff: %w", err)
	}
	return st, nil
}

// mayManage is the rule "only admins act on admins": a manager runs the
// team but may not rename, deactivate or bind the chat account of an admin
// (that would let them take the admin's chat identity or lock them out).
// The system (no role) may.
func (a Actor) mayManage(st *Staff) error {
	if st.Role == RoleAdmin && a.Role != "" && a.Role != RoleAdmin {
		return Errorf(EFORBIDDEN, "only admins act on admins")
	}
	return nil
}

// StaffByID loads one staff member.
func (s *Store) StaffByID(ctx context.Context, id int64) (*Staff, error) {
	var st Staff
	if err := s.db.WithContext(ctx).First(&st, id).Error; err != nil {
		return nil, fmt.Errorf("staff: %w", notFound(err, "staff %d", id))
	}
	return &st, nil
}

// StaffIdentity binds a chat account to a staff member. A bound account is
// staff, never a customer.
type StaffIdentity struct {
	ID         int64     `gorm:"primaryKey" json:"-"`
	StaffID    int64     `gorm:"not null;index" json:"staff_id"`
	Channel    string    `gorm:"size:16;not null;uniqueIndex:ux_staff_identities_channel_ext,priority:1" json:"channel"`
	ExternalID string    `gorm:"size:128;not null;uniqueIndex:ux_staff_identities_channel_ext,priority:2" json:"external_id"`
	ChatID     string    `gorm:"size:128;not null;default:''" json:"-"`
	CreatedAt  time.Time `json:"created_at"`
}

// StaffByIdentity returns the active staff member bound to a chat account,
// or nil (no error) when the account is not staff.
func (s *Store) StaffByIdentity(ctx context.Context, channel, externalID string) (*Staff, error) {
	id, active, ok, err := s.staff.lookup(ctx, s, channel, externalID)
	if err != nil || !ok || !active {
		return nil, err
	}
	var st Staff
	if err := s.db.WithContext(ctx).Where("id = ? AND active = ?", id, true).Take(&st).Error; err != nil {
		if IsCode(notFound(err, "staff"), ENOTFOUND) {
			return nil, nil
		}
		return nil, fmt.Errorf("staff by identity: %w", err)
	}
	return &st, nil
}

// staffCacheTTL bounds how long another replica's /bind takes to be seen.
const staffCacheTTL = 2 * time.Second

// staffCache holds every staff chat binding (a few hundred at most) and
// whether its staff member is active.
type staffCache struct {
	mu     sync.Mutex
	loaded time.Time
	ids    map[string]staffBinding // channel + "\x00" + external id
}

type staffBinding struct {
	id     int64
	active bool
}

// lookup reports the staff id bound to the chat account, if any (ok), and
// whether that staff member is active.
func (c *staffCache) lookup(ctx context.Context, s *Store, channel, externalID string) (id int64, active, ok bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil || time.Since(c.loaded) > staffCacheTTL {
		var rows []struct {
			Channel, ExternalID string
			StaffID             int64
			Active              bool
		}
		err := s.db.WithContext(ctx).Model(&StaffIdentity{}).
			Select("staff_identities.channel, staff_identities.external_id, staff_identities.staff_id, staff.active").
			Joins("JOIN staff ON staff.id = staff_identities.staff_id").Scan(&rows).Error
		if err != nil {
			return 0, false, false, fmt.Errorf("staff by identity: %w", err)
		}
		c.ids = make(map[string]staffBinding, len(rows))
		for _, r := range rows {
			c.ids[r.Channel+"\x00"+r.ExternalID] = staffBinding{r.StaffID, r.Active}
		}
		c.loaded = time.Now()
	}
	b, ok := c.ids[channel+"\x00"+externalID]
	return b.id, b.active, ok, nil
}

// FormerStaff reports whether the chat account belongs to a deactivated
// staff member (and who): their messages are neither staff work nor a
// customer's.
func (s *Store) FormerStaff(ctx context.Context, channel, externalID string) (staffID int64, former bool, err error) {
	id, active, ok, err := s.staff.lookup(ctx, s, channel, externalID)
	if err != nil || !ok || active {
		return 0, false, err
	}
	return id, true, nil
}

// forgetStaffIdentities drops the cache after this process changes a
// binding or a staff member's active flag.
func (s *Store) forgetStaffIdentities() {
	s.staff.mu.Lock()
	s.staff.ids = nil
	s.staff.mu.Unlock()
}
