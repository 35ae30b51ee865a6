package store

import (
	"context"
	"fmt"

	"gorm.io/gorm/clause"
)

// A work queue is one person's open tasks in the order to work them:
// complaints first (an unhappy customer waits for nobody), then overdue
// tasks, then by due time (tasks without one last), oldest first on ties.

// QueueFilter picks a work queue.
type QueueFilter struct {
	// AssigneeID is whose queue: nil for the caller's own, 0 for the
	// unassigned tasks.
	AssigneeID *int64
	Page
}

// TaskQueue returns a page of a work queue for an actor. Agents see only
// their own. The cursor is a position in the queue: the order moves as
// tasks fall due, so a page may repeat or skip a task that moved.
func (s *Store) TaskQueue(ctx context.Context, by Actor, f QueueFilter) ([]*Task, string, error) {
	limit, offset, err := f.Page.parse()
	if err != nil {
		return nil, "", err
	}
	whose := f.AssigneeID
	if whose == nil {
		if by.StaffID == nil {
			return nil, "", Invalid("assignee_id", "this token belongs to no staff member: give assignee_id")
		}
		whose = by.StaffID
	}
	if by.agent() && (by.StaffID == nil || *whose != *by.StaffID) {
		return nil, "", Errorf(EFORBIDDEN, "agents work their own queue only")
	}
	q := s.db.WithContext(ctx).Model(&Task{}).Where("status = ?", TaskOpen)
	if *whose == 0 {
		q = q.Where("assignee_id IS NULL")
	} else {
		q = q.Where("assignee_id = ?", *whose)
	}
	order := clause.OrderBy{Expression: clause.Expr{
		SQL:  "CASE WHEN kind IN ? THEN 0 WHEN due_at < ? THEN 1 ELSE 2 END, CASE WHEN due_at IS NULL THEN 1 ELSE 0 END, due_at, id",
		Vars: []any{complaintKinds, s.Now()},
	}}
	var ts []*Task
	if err := q.Clauses(order).Offset(int(offset)).Limit(limit + 1).Find(&ts).Error; err != nil {
		return nil, "", fmt.Errorf("task queue: %w", err)
	}
	next := ""
	if len(ts) > limit {
		ts = ts[:limit]
		next = encodeCursor(offset + int64(limit))
	}
	if ts == nil {
		ts = []*Task{}
	}
	return ts, next, nil
}

// NoteCustomerNames sets CustomerName on the tasks (one query).
func (s *Store) NoteCustomerNames(ctx context.Context, ts ...*Task) error {
	ids := make([]int64, 0, len(ts))
	for _, t := range ts {
		ids = append(ids, t.CustomerID)
	}
	if len(ids) == 0 {
		return nil
	}
	var rows []struct {
		ID   int64
		Name string
	}
	if err := s.db.WithContext(ctx).Model(&Customer{}).Select("id, name").Where("id IN ?", ids).Scan(&rows).Error; err != nil {
		return fmt.Errorf("task customer names: %w", err)
	}
	names := make(map[int64]string, len(rows))
	for _, r := range rows {
		names[r.ID] = r.Name
	}
	for _, t := range ts {
		t.CustomerName = names[t.CustomerID]
	}
	return nil
}
