package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// What staff are told about tasks in chat: the new-task notice (once per
// assignment), the overdue reminder and the escalation to managers (once
// per due time), the open-task summary at /bind and /tasks, and the
// managers' daily digest. Each notice is claimed by a conditional UPDATE in
// the transaction that enqueues it, so it is neither lost nor sent twice.

// TasksNeedingNotice returns open tasks whose assignee has a chat binding
// but has not been sent the new-task notice for the current assignment
// yet, oldest first.
func (s *Store) TasksNeedingNotice(ctx context.Context, limit int) ([]*Task, error) {
	var ts []*Task
	err := s.db.WithContext(ctx).Where("status = ? AND assignee_id IS NOT NULL AND notified_seq < assign_seq", TaskOpen).
		Where("EXISTS (SELECT 1 FROM staff_identities si JOIN staff st ON st.id = si.staff_id WHERE si.staff_id = tasks.assignee_id AND st.active = ?)", true).
		Order("id").Limit(limit).Find(&ts).Error
	if err != nil {
		return nil, fmt.Errorf("tasks needing notice: %w", err)
	}
	return ts, nil
}

// MarkTaskNotified claims the new-task notice of t for its current
// assignment (t.AssigneeID, t.AssignSeq) and enqueues out in the same
// transaction. It returns false when another process claimed it first or
// the task was reassigned meanwhile.
func (s *Store) MarkTaskNotified(ctx context.Context, t *Task, out []Outbound) (bool, error) {
	if t.AssigneeID == nil || t.AssignSeq == 0 {
		return false, nil
	}
	a := *t.AssigneeID
	return s.claimTask(ctx, t.ID, "notified", idString(t.AssigneeID), out,
		map[string]any{"notified_assignee": a, "notified_seq": t.AssignSeq},
		"status = ? AND assignee_id = ? AND assign_seq = ? AND notified_seq < ?", TaskOpen, a, t.AssignSeq, t.AssignSeq)
}

// MarkTaskOverdue claims the overdue reminder of t for its current due
// time and enqueues out with it.
func (s *Store) MarkTaskOverdue(ctx context.Context, t *Task, out []Outbound) (bool, error) {
	return s.markDue(ctx, t, "overdue", "overdue_at", out)
}

// MarkTaskEscalated claims the escalation of t for its current due time and
// enqueues out (one message per manager) with it.
func (s *Store) MarkTaskEscalated(ctx context.Context, t *Task, out []Outbound) (bool, error) {
	return s.markDue(ctx, t, "escalated", "escalated_at", out)
}

// markDue claims a reminder about t's current due time: col records it.
func (s *Store) markDue(ctx context.Context, t *Task, action, col string, out []Outbound) (bool, error) {
	if t.DueAt == nil {
		return false, nil
	}
	return s.claimTask(ctx, t.ID, action, timeString(t.DueAt), out, map[string]any{col: s.Now().Truncate(time.Millisecond)},
		"status = ? AND due_at = ? AND "+col+" IS NULL", TaskOpen, *t.DueAt)
}

// claimTask is a conditional UPDATE of one task: when it changes the row,
// the messages are enqueued and the event recorded in the same
// transaction, so a notice is neither lost nor sent twice.
func (s *Store) claimTask(ctx context.Context, id int64, action, to string, out []Outbound, set map[string]any, where string, args ...any) (bool, error) {
	var won bool
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := s.Now().Truncate(time.Millisecond)
		set["updated_at"] = now
		res := tx.Model(&Task{}).Where("id = ?", id).Where(where, args...).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		won = res.RowsAffected == 1
		if !won {
			return nil
		}
		if _, err := s.enqueue(tx, out); err != nil {
			return err
		}
		return tx.Create(&TaskEvent{TaskID: id, Via: ViaSystem, Action: action, To: to, CreatedAt: now}).Error
	})
	if err != nil {
		return false, fmt.Errorf("task %s: %w", action, err)
	}
	return won, nil
}

// TasksOverdue returns open tasks due before now that have had no overdue
// reminder for their current due time.
func (s *Store) TasksOverdue(ctx context.Context, now time.Time, limit int) ([]*Task, error) {
	return s.tasksDue(ctx, "overdue_at", now, limit)
}

// TasksToEscalate returns open tasks due before `before` (now minus the
// grace period) not yet escalated for their current due time.
func (s *Store) TasksToEscalate(ctx context.Context, before time.Time, limit int) ([]*Task, error) {
	return s.tasksDue(ctx, "escalated_at", before, limit)
}

// tasksDue returns open tasks due before t without the reminder col
// records, soonest first.
func (s *Store) tasksDue(ctx context.Context, col string, t time.Time, limit int) ([]*Task, error) {
	var ts []*Task
	err := s.db.WithContext(ctx).Where("status = ? AND due_at < ? AND "+col+" IS NULL", TaskOpen, t.UTC()).
		Order("due_at, id").Limit(limit).Find(&ts).Error
	if err != nil {
		return nil, fmt.Errorf("tasks without %s: %w", col, err)
	}
	return ts, nil
}

// TaskSummary is a staff member's open tasks as chat lists them.
type TaskSummary struct {
	// Top is the most urgent open tasks, up to the limit asked for: due
	// soonest first (overdue ones lead), tasks without a due time after
	// them, then by priority, newest first.
	Top []*Task
	// Open counts all their open tasks.
	Open int64
	// Pending are the open tasks whose new-task notice has not been sent
	// for their current assignment (all of them, not only those in Top).
	Pending []int64
}

// OpenTasksOf summarises a staff member's open tasks for /tasks and the
// summary at /bind.
func (s *Store) OpenTasksOf(ctx context.Context, staffID int64, limit int) (*TaskSummary, error) {
	db := s.db.WithContext(ctx)
	open := db.Model(&Task{}).Where("assignee_id = ? AND status = ?", staffID, TaskOpen)
	sum := &TaskSummary{}
	err := open.Session(&gorm.Session{}).
		Order("CASE WHEN due_at IS NULL THEN 1 ELSE 0 END, due_at").
		Order(clause.Expr{SQL: "CASE priority WHEN ? THEN 0 WHEN ? THEN 1 WHEN ? THEN 2 ELSE 3 END", Vars: []any{PriorityUrgent, PriorityHigh, PriorityNormal}}).
		Order("id DESC").Limit(limit).Find(&sum.Top).Error
	if err == nil {
		err = open.Session(&gorm.Session{}).Count(&sum.Open).Error
	}
	if err == nil {
		err = open.Session(&gorm.Session{}).Where("notified_seq < assign_seq").Order("id").Pluck("id", &sum.Pending).Error
	}
	if err != nil {
		return nil, fmt.Errorf("open tasks: %w", err)
	}
	return sum, nil
}

// ClaimNotices marks the pending new-task notices of the given tasks
// (still open, assigned to staffID, not yet noticed for this assignment)
// as sent and enqueues out in the same transaction: out is a summary that
// stands for them (the one sent at /bind), so the tasks are not announced
// again one by one. A task noticed meanwhile by NotifyNew is left alone.
// It returns how many tasks it claimed; out is enqueued either way.
func (s *Store) ClaimNotices(ctx context.Context, staffID int64, taskIDs []int64, out []Outbound) (int, error) {
	claimed := 0
	err := s.tx(ctx, func(tx *gorm.DB) error {
		claimed = 0
		now := s.Now().Truncate(time.Millisecond)
		to := strconv.FormatInt(staffID, 10)
		for start := 0; start < len(taskIDs); start += enqueueBatch {
			part := taskIDs[start:min(start+enqueueBatch, len(taskIDs))]
			var ids []int64
			err := s.forUpdate(tx.Model(&Task{})).Where("id IN ? AND assignee_id = ? AND status = ? AND notified_seq < assign_seq", part, staffID, TaskOpen).
				Pluck("id", &ids).Error
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				continue
			}
			err = tx.Model(&Task{}).Where("id IN ?", ids).
				Updates(map[string]any{"notified_seq": gorm.Expr("assign_seq"), "notified_assignee": staffID, "updated_at": now}).Error
			if err != nil {
				return err
			}
			evs := make([]TaskEvent, len(ids))
			for i, id := range ids {
				evs[i] = TaskEvent{TaskID: id, Via: ViaSystem, Action: "notified", To: to, Note: "in the open-task summary", CreatedAt: now}
			}
			if err := tx.Create(&evs).Error; err != nil {
				return err
			}
			claimed += len(ids)
		}
		_, err := s.enqueue(tx, out)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("claim notices: %w", err)
	}
	return claimed, nil
}

// NoteChatBound sets AssigneeChatBound on the tasks (one query).
func (s *Store) NoteChatBound(ctx context.Context, ts ...*Task) error {
	var ids []int64
	for _, t := range ts {
		t.AssigneeChatBound = false
		if t.AssigneeID != nil {
			ids = append(ids, *t.AssigneeID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	bound, err := s.chatBound(ctx, ids)
	if err != nil {
		return err
	}
	for _, t := range ts {
		t.AssigneeChatBound = t.AssigneeID != nil && bound[*t.AssigneeID]
	}
	return nil
}

// chatBound reports which of the staff are active and have a chat account
// bound: the ones chat notices reach (as TasksNeedingNotice sees them).
func (s *Store) chatBound(ctx context.Context, staffIDs []int64) (map[int64]bool, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Model(&StaffIdentity{}).Distinct("staff_identities.staff_id").
		Joins("JOIN staff ON staff.id = staff_identities.staff_id").
		Where("staff_identities.staff_id IN ? AND staff.active = ?", staffIDs, true).
		Pluck("staff_identities.staff_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("chat bound: %w", err)
	}
	out := make(map[int64]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// AgentLoad is one assignee's line in the daily digest.
type AgentLoad struct {
	StaffID   int64 // 0: unassigned
	Name      string
	Open      int64
	Overdue   int64
	DoneToday int64
}

// TaskDigest counts open, overdue (at now) and done-in-[from, to) tasks by
// assignee, for the managers' daily digest.
func (s *Store) TaskDigest(ctx context.Context, now, from, to time.Time) ([]AgentLoad, error) {
	db := s.db.WithContext(ctx)
	type row struct {
		AssigneeID *int64
		Open       int64
		Overdue    int64
	}
	var open []row
	err := db.Model(&Task{}).Select("assignee_id, COUNT(*) AS open, SUM(CASE WHEN due_at < ? THEN 1 ELSE 0 END) AS overdue", now.UTC()).
		Where("status = ?", TaskOpen).Group("assignee_id").Scan(&open).Error
	if err != nil {
		return nil, fmt.Errorf("task digest: %w", err)
	}
	var done []struct {
		AssigneeID *int64
		N          int64
	}
	err = db.Model(&Task{}).Select("assignee_id, COUNT(*) AS n").
		Where("status = ? AND closed_at >= ? AND closed_at < ?", TaskDone, from.UTC(), to.UTC()).Group("assignee_id").Scan(&done).Error
	if err != nil {
		return nil, fmt.Errorf("task digest: %w", err)
	}
	byID := map[int64]*AgentLoad{}
	get := func(id *int64) *AgentLoad {
		k := int64(0)
		if id != nil {
			k = *id
		}
		if a, ok := byID[k]; ok {
			return a
		}
		a := &AgentLoad{StaffID: k}
		byID[k] = a
		return a
	}
	for _, r := range open {
		a := get(r.AssigneeID)
		a.Open, a.Overdue = r.Open, r.Overdue
	}
	for _, d := range done {
		get(d.AssigneeID).DoneToday = d.N
	}
	var ids []int64
	for id := range byID {
		if id != 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		var sts []Staff
		if err := db.Select("id", "name").Where("id IN ?", ids).Find(&sts).Error; err != nil {
			return nil, fmt.Errorf("task digest: %w", err)
		}
		for _, st := range sts {
			byID[st.ID].Name = st.Name
		}
	}
	out := make([]AgentLoad, 0, len(byID))
	for _, a := range byID {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b AgentLoad) int {
		switch {
		case a.StaffID == b.StaffID:
			return 0
		case a.StaffID == 0: // unassigned last
			return 1
		case b.StaffID == 0:
			return -1
		case a.StaffID < b.StaffID:
			return -1
		}
		return 1
	})
	return out, nil
}
