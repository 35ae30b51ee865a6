package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
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
	// Epoch grows with every write that needs the staff member active
	// while it commits (a task assigned to them, a chat account bound)
	// and with every change of Active (writeActiveStaff). Those writes
	// then all write this row: row locks order them on one server, and on
	// a Galera cluster, where locks hold on one node only, two of them on
	// different nodes fail certification and one is retried.
	Epoch int64 `gorm:"not null;default:0" json:"-"`
}

func (Staff) TableName() string { return "staff" }

// StaffInput creates a staff member.
type StaffInput struct {
	Name string `json:"name"`
	Role Role   `json:"role"` // default agent
	// By is the person creating them; nil for the system. Only admins
	// create admins and managers (the contract: managers may do
	// everything but tokens and staff roles).
	By *Actor `json:"-"`
}

// CreateStaff adds a staff member.
func (s *Store) CreateStaff(ctx context.Context, in StaffInput) (*Staff, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > 128 {
		return nil, Invalid("name", "must be 1-128 characters")
	}
	in.Role = cmp.Or(in.Role, RoleAgent)
	if !ValidRole(in.Role) {
		return nil, Invalid("role", "%q is not admin, manager or agent", in.Role)
	}
	if in.By != nil && in.Role != RoleAgent && in.By.Role != "" && in.By.Role != RoleAdmin {
		return nil, Errorf(EFORBIDDEN, "only admins create admins and managers")
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
	return byID[Staff](ctx, s, "staff", id)
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

// StaffContact is an active staff member and where to reach them in chat.
type StaffContact struct {
	Staff *Staff
	Chat  *StaffIdentity
}

// StaffContacts returns the active staff members of the roles who have a
// chat binding (their most recent one), by id.
func (s *Store) StaffContacts(ctx context.Context, roles ...Role) ([]StaffContact, error) {
	db := s.db.WithContext(ctx)
	var sts []Staff
	if err := db.Where("active = ? AND role IN ?", true, roles).Order("id").Find(&sts).Error; err != nil {
		return nil, fmt.Errorf("staff contacts: %w", err)
	}
	var out []StaffContact
	for i := range sts {
		si, err := s.StaffChat(ctx, sts[i].ID)
		if err != nil {
			return nil, err
		}
		if si != nil {
			out = append(out, StaffContact{Staff: &sts[i], Chat: si})
		}
	}
	return out, nil
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
	si.ChatID = cmp.Or(si.ChatID, si.ExternalID)
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

// UpdateStaff applies a change by an actor. Only admins change roles (the
// contract: managers may do everything but tokens and staff roles) and
// only admins change an admin (mayManage). Deactivating
// hands the staff member's open tasks on in the same transaction (see
// reassignOpenTasks); {"active": false} on someone already inactive does
// so too, for tasks left from before that rule.
func (s *Store) UpdateStaff(ctx context.Context, id int64, up StaffUpdate, by Actor) (*Staff, error) {
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
			set["epoch"] = gorm.Expr("epoch + 1")
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
