package store

import (
	"slices"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// Who gets a task: CreateTask picks the assignee when it opens one, and
// deactivating a staff member hands their open tasks on by the same rule.
// Both lock the active staff rows first, so that on one server assignments
// take turns and each one counts the tasks the previous one assigned (at
// READ COMMITTED, reads after the lock see what the one before committed).
//
// That no task stays with a deactivated staff member does not rest on the
// lock: every assignment also writes its assignee's row on condition that
// they are active (writeActiveStaff), and a deactivation writes the row
// too. Two such transactions on different Galera nodes, whose locks the
// other node never sees, then fail certification (1213) and the loser is
// retried against the winner's result.

// activeStaff is a staff row as assignment sees it.
type activeStaff struct {
	ID   int64
	Role Role
}

// lockActiveStaff reads the active staff and, on MySQL, locks their rows
// for the rest of the transaction (SQLite's BEGIN IMMEDIATE already
// serialises writers).
func lockActiveStaff(tx *gorm.DB) ([]activeStaff, error) {
	var out []activeStaff
	return out, tx.Model(&Staff{}).Select("id", "role").Where("active = ?", true).Order("id").Find(&out).Error
}

// writeActiveStaff bumps the epoch of the staff members ids (duplicates
// allowed) if they are active, and reports whether all of them were. The
// transaction then depends on their rows as it writes them: see Staff.Epoch.
func writeActiveStaff(tx *gorm.DB, ids ...int64) (bool, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return true, nil
	}
	res := tx.Model(&Staff{}).Where("id IN ? AND active = ?", ids, true).UpdateColumn("epoch", gorm.Expr("epoch + 1"))
	return res.RowsAffected == int64(len(ids)), res.Error
}

// errStaffChanged ends a transaction that found a staff member it had
// read as active inactive when writing: another transaction deactivated
// them in between, which the locks rule out on one server.
var errStaffChanged = Errorf(ECONFLICT, "a staff member was deactivated meanwhile; try again")

func (s *Store) pickAssignee(tx *gorm.DB, in TaskInput, owner *int64, staff []activeStaff) (*int64, error) {
	isActive := func(id int64) bool {
		return slices.ContainsFunc(staff, func(a activeStaff) bool { return a.ID == id })
	}
	if in.AssigneeID != nil {
		if isActive(*in.AssigneeID) {
			id := *in.AssigneeID
			return &id, nil
		}
		if in.By != nil {
			return nil, Invalid("assignee_id", "staff %d is not an active staff member", *in.AssigneeID)
		}
	}
	if owner != nil && isActive(*owner) {
		id := *owner
		return &id, nil
	}
	var pool []int64
	for _, a := range staff {
		if a.Role == RoleAgent {
			pool = append(pool, a.ID)
		}
	}
	if len(pool) == 0 {
		for _, a := range staff {
			pool = append(pool, a.ID)
		}
	}
	if len(pool) == 0 {
		return nil, nil
	}
	var counts []struct {
		AssigneeID int64
		N          int64
	}
	if err := tx.Model(&Task{}).Select("assignee_id, COUNT(*) AS n").
		Where("status = ? AND assignee_id IN ?", TaskOpen, pool).Group("assignee_id").Scan(&counts).Error; err != nil {
		return nil, err
	}
	load := make(map[int64]int64, len(counts))
	for _, c := range counts {
		load[c.AssigneeID] = c.N
	}
	best := pool[0] // pool is in id order: ties go to the lowest id
	for _, id := range pool[1:] {
		if load[id] < load[best] {
			best = id
		}
	}
	return &best, nil
}

// ReasonAssigneeDeactivated is the history note of tasks handed on because
// their assignee was deactivated.
const ReasonAssigneeDeactivated = "assignee deactivated"

// reassignOpenTasks hands every open task of staff member from to the next
// assignee by CreateTask's rule (customer's owner if active, else the
// least-loaded active agent, else any active staff member, else nobody),
// recording a "reassigned" event per task. staff is the active staff
// without from, read and locked by the caller before anything else.
func (s *Store) reassignOpenTasks(tx *gorm.DB, from int64, staff []activeStaff, by Actor, reason string) error {
	var ts []Task
	if err := s.forUpdate(tx).Select("id", "customer_id").Where("assignee_id = ? AND status = ?", from, TaskOpen).
		Order("id").Find(&ts).Error; err != nil {
		return err
	}
	if len(ts) == 0 {
		return nil
	}
	custIDs := make([]int64, 0, len(ts))
	for _, t := range ts {
		custIDs = append(custIDs, t.CustomerID)
	}
	var custs []Customer
	if err := tx.Select("id", "owner_staff_id").Where("id IN ?", custIDs).Find(&custs).Error; err != nil {
		return err
	}
	owner := make(map[int64]*int64, len(custs))
	for _, c := range custs {
		owner[c.ID] = c.OwnerStaffID
	}
	now := s.Now().Truncate(time.Millisecond)
	evs := make([]TaskEvent, 0, len(ts))
	var assignees []int64
	for _, t := range ts {
		// One at a time: each pick counts the tasks handed on before it.
		next, err := s.pickAssignee(tx, TaskInput{}, owner[t.CustomerID], staff)
		if err != nil {
			return err
		}
		if err := tx.Model(&Task{}).Where("id = ?", t.ID).Updates(map[string]any{
			"assignee_id": next, "assign_seq": gorm.Expr("assign_seq + 1"), "updated_at": now,
		}).Error; err != nil {
			return err
		}
		evs = append(evs, TaskEvent{TaskID: t.ID, StaffID: by.StaffID, Via: by.via(), Action: "reassigned",
			From: strconv.FormatInt(from, 10), To: idString(next), Note: reason, CreatedAt: now})
		if next != nil {
			assignees = append(assignees, *next)
		}
	}
	if ok, err := writeActiveStaff(tx, assignees...); err != nil {
		return err
	} else if !ok {
		return errStaffChanged
	}
	return tx.Create(&evs).Error
}
