package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Task kinds.
const (
	TaskRevisit        = "revisit"
	TaskSurveyRecovery = "survey_recovery"
	TaskComplaint      = "complaint"
	TaskWinback        = "winback"
	TaskManual         = "manual"
	TaskReachOut       = "reach_out"
	// TaskCall asks the owner to phone a customer care cannot reach in
	// chat, with the text the message would have said.
	TaskCall = "call"
	// TaskVerifyPhone asks staff to call a number someone claimed in chat
	// (see ClaimPhone); approving the claim closes it.
	TaskVerifyPhone = "verify_phone"
)

// Task priorities.
const (
	PriorityLow    = "low"
	PriorityNormal = "normal"
	PriorityHigh   = "high"
	PriorityUrgent = "urgent"
)

// Task statuses.
const (
	TaskOpen      = "open"
	TaskDone      = "done"
	TaskCancelled = "cancelled"
)

// Interfaces a task change can come from (task_events.via).
const (
	ViaSystem = "system"
	ViaAPI    = "api"
)

// ValidTaskKind reports whether k is a task kind.
func ValidTaskKind(k string) bool {
	return slices.Contains([]string{TaskRevisit, TaskSurveyRecovery, TaskComplaint, TaskWinback, TaskManual, TaskReachOut, TaskVerifyPhone, TaskCall}, k)
}

// ValidPriority reports whether p is a task priority.
func ValidPriority(p string) bool {
	return slices.Contains([]string{PriorityLow, PriorityNormal, PriorityHigh, PriorityUrgent}, p)
}

// ValidTaskStatus reports whether st is a task status.
func ValidTaskStatus(st string) bool {
	return slices.Contains([]string{TaskOpen, TaskDone, TaskCancelled}, st)
}

// IsComplaintKind reports whether tasks of kind k take part in complaint
// handling: one open per customer, relays between customer and assignee.
func IsComplaintKind(k string) bool { return k == TaskComplaint || k == TaskSurveyRecovery }

// Task is a follow-up for a staff member about one customer.
type Task struct {
	ID         int64      `gorm:"primaryKey" json:"id"`
	CustomerID int64      `gorm:"not null;index" json:"customer_id"`
	Kind       string     `gorm:"size:24;not null" json:"kind"`
	Priority   string     `gorm:"size:8;not null" json:"priority"`
	Title      string     `gorm:"size:200;not null" json:"title"`
	Detail     string     `gorm:"type:text" json:"detail"`
	AssigneeID *int64     `gorm:"index:ix_tasks_assignee_status,priority:1" json:"assignee_id"`
	Status     string     `gorm:"size:16;not null;index:ix_tasks_assignee_status,priority:2;index:ix_tasks_status_due,priority:1" json:"status"`
	DueAt      *time.Time `gorm:"index:ix_tasks_status_due,priority:2" json:"due_at"`
	Outcome    string     `gorm:"type:text" json:"outcome"`
	// Source is the rule ("care:survey", "complaint") or person
	// ("staff:7", "api") that opened the task.
	Source string `gorm:"size:64;not null;default:''" json:"source"`
	// DedupKey makes rule-made tasks once-only.
	DedupKey *string `gorm:"size:191;uniqueIndex" json:"dedup_key,omitempty"`
	// OpenSlot is "complaint:CUSTOMER" while a complaint-kind task is open
	// and NULL otherwise: the unique key allows one open complaint per
	// customer, whichever replica races to open it.
	OpenSlot *string `gorm:"size:64;uniqueIndex" json:"-"`
	// NotifiedAssignee is the assignee the last new-task notice went to.
	NotifiedAssignee *int64 `json:"-"`
	// AssignSeq counts the task's assignments (creation with an assignee,
	// every change of assignee); NotifiedSeq is the assignment whose
	// new-task notice was claimed. Each assignment is noticed once, also
	// when the task comes back to an earlier assignee (A → B → A).
	AssignSeq   int64 `gorm:"not null;default:0" json:"-"`
	NotifiedSeq int64 `gorm:"not null;default:0" json:"-"`
	// OverdueAt / EscalatedAt record the reminders for the current due
	// time; moving the due time clears them.
	OverdueAt   *time.Time `json:"overdue_at,omitempty"`
	EscalatedAt *time.Time `json:"escalated_at,omitempty"`
	ClosedAt    *time.Time `gorm:"index" json:"closed_at,omitempty"`
	ClosedBy    *int64     `json:"closed_by,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`

	Events []TaskEvent `gorm:"-" json:"events,omitempty"`
	// AssigneeChatBound tells the API whether the task reaches its assignee
	// in chat (an active assignee with a bound chat account); false for an
	// unassigned task. Set by NoteChatBound.
	AssigneeChatBound bool `gorm:"-" json:"assignee_chat_bound"`
	// CustomerName is the customer's name ("" when they have none), so a
	// list of tasks reads without a lookup per task. Set by
	// NoteCustomerNames.
	CustomerName string `gorm:"-" json:"customer_name"`
}

// TaskEvent is one change in a task's history.
type TaskEvent struct {
	ID      int64  `gorm:"primaryKey" json:"id"`
	TaskID  int64  `gorm:"not null;index" json:"task_id"`
	StaffID *int64 `json:"staff_id"` // nil: the system
	Via     string `gorm:"size:16;not null" json:"via"`
	// Action: created, assigned, reassigned (handed on by a rule, e.g.
	// because the assignee was deactivated; Note says why), status, due,
	// note, notified, overdue, escalated, relayed_in, relayed_out.
	Action    string    `gorm:"size:24;not null" json:"action"`
	From      string    `gorm:"column:from_value;size:64;not null;default:''" json:"from,omitempty"`
	To        string    `gorm:"column:to_value;size:64;not null;default:''" json:"to,omitempty"`
	Note      string    `gorm:"type:text" json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// taskAssignSeq adds the assignment counters. A task assigned before them
// counts as on its first assignment, noticed if its notice went to its
// current assignee; so upgrading sends no notice twice and loses none.
func taskAssignSeq(tx *gorm.DB) error {
	if err := tx.AutoMigrate(&Task{}); err != nil {
		return err
	}
	if err := tx.Exec("UPDATE tasks SET assign_seq = 1 WHERE assign_seq = 0 AND assignee_id IS NOT NULL").Error; err != nil {
		return err
	}
	return tx.Exec("UPDATE tasks SET notified_seq = assign_seq WHERE notified_seq = 0 AND assign_seq > 0 AND notified_assignee = assignee_id").Error
}

// TaskInput opens a task.
type TaskInput struct {
	CustomerID int64
	Kind       string
	Priority   string // default normal (high for complaint kinds)
	Title      string
	Detail     string
	DueAt      *time.Time
	Source     string
	// DedupKey, when set, makes the call once-only: the same key again
	// returns the existing task with created=false.
	DedupKey string
	// AssigneeID picks the assignee. A rule's choice that is no longer an
	// active staff member falls back to automatic assignment; a person's
	// choice (By set) must be an active staff member.
	AssigneeID *int64
	// By is the person opening the task; nil for a rule.
	By *Actor
}

func (in *TaskInput) normalize() error {
	in.Title = strings.TrimSpace(in.Title)
	in.Detail = strings.TrimSpace(in.Detail)
	in.Source = CutRunes(strings.TrimSpace(in.Source), 64)
	in.DedupKey = strings.TrimSpace(in.DedupKey)
	if in.CustomerID <= 0 {
		return Invalid("customer_id", "required")
	}
	if !ValidTaskKind(in.Kind) {
		return Invalid("kind", "%q is not revisit, survey_recovery, complaint, winback, manual, reach_out, verify_phone or call", in.Kind)
	}
	if in.Priority == "" {
		in.Priority = PriorityNormal
		if IsComplaintKind(in.Kind) {
			in.Priority = PriorityHigh
		}
	}
	if !ValidPriority(in.Priority) {
		return Invalid("priority", "%q is not low, normal, high or urgent", in.Priority)
	}
	if in.Title == "" {
		return Invalid("title", "required")
	}
	if utf8.RuneCountInString(in.Title) > 200 {
		in.Title = CutRunes(in.Title, 200)
	}
	if len(in.Detail) > 16<<10 {
		return Invalid("detail", "longer than 16 KiB")
	}
	if len(in.DedupKey) > 191 {
		return Invalid("dedup_key", "longer than 191 bytes")
	}
	if in.AssigneeID != nil && *in.AssigneeID <= 0 {
		return Invalid("assignee_id", "must be a staff id")
	}
	if in.DueAt != nil {
		if err := checkTime("due_at", *in.DueAt); err != nil {
			return err
		}
		d := in.DueAt.UTC().Truncate(time.Millisecond)
		in.DueAt = &d
	}
	if in.By != nil && in.By.agent() {
		// Agents open tasks for themselves only.
		if in.By.StaffID == nil {
			return Errorf(EFORBIDDEN, "this agent token is not tied to a staff member")
		}
		if in.AssigneeID == nil {
			id := *in.By.StaffID
			in.AssigneeID = &id
		} else if *in.AssigneeID != *in.By.StaffID {
			return Errorf(EFORBIDDEN, "agents may only assign tasks to themselves")
		}
	}
	return nil
}

func complaintSlot(customerID int64) string { return "complaint:" + strconv.FormatInt(customerID, 10) }

// errTaskRace ends a CreateTask attempt that lost a unique-key race; the
// next attempt finds the winner's row.
var errTaskRace = errors.New("task: lost a race")

// CreateTask opens a task and assigns it in the same transaction: the given
// assignee, else the customer's owner if active, else the active agent with
// the fewest open tasks (ties: lowest id); with no active agent, any active
// staff member the same way; with no active staff at all, nobody (managers
// see unassigned tasks). A repeated DedupKey, or a complaint-kind task
// while the customer already has an open one, returns the existing task
// with created=false.
func (s *Store) CreateTask(ctx context.Context, in TaskInput) (*Task, bool, error) {
	if err := in.normalize(); err != nil {
		return nil, false, err
	}
	var t *Task
	var created bool
	var err error
	var compute FigureCompute
	if IsComplaintKind(in.Kind) {
		compute = s.figureCompute(ctx)
	}
	for attempt := 0; attempt < 3; attempt++ {
		err = s.tx(ctx, func(tx *gorm.DB) error {
			var err error
			t, created, err = s.createTask(tx, in)
			if err == nil && created && IsComplaintKind(t.Kind) {
				// An open complaint is in the customer's figures (churn
				// risk); one at most is open (OpenSlot).
				one := 1
				err = s.refreshOrTouch(tx, compute, t.CreatedAt, t.CustomerID, &one)
			}
			return err
		})
		if !errors.Is(err, errTaskRace) {
			break
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("create task: %w", err)
	}
	return t, created, nil
}

func (s *Store) createTask(tx *gorm.DB, in TaskInput) (*Task, bool, error) {
	// Lock the active staff rows first, before any other read: concurrent
	// creates then assign one after another, and each one's counts (read
	// after the lock) include the tasks the previous one assigned.
	staff, err := lockActiveStaff(s.forUpdate(tx))
	if err != nil {
		return nil, false, err
	}
	if in.DedupKey != "" {
		var old Task
		err := tx.Where("dedup_key = ?", in.DedupKey).Take(&old).Error
		if err == nil {
			return &old, false, nil
		} else if !errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, false, err
		}
	}
	var cust Customer
	if err := tx.Select("id", "owner_staff_id").Take(&cust, in.CustomerID).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, false, Invalid("customer_id", "customer %d does not exist", in.CustomerID)
		}
		return nil, false, err
	}
	if in.By != nil && !s.seesAll(*in.By) {
		// An agent opening a task (theirs) on a customer they may not see
		// would gain sight of them: answered as for a missing customer.
		if err := s.seeCustomer(tx, *in.By, in.CustomerID); IsCode(err, ENOTFOUND) {
			return nil, false, Invalid("customer_id", "customer %d does not exist", in.CustomerID)
		} else if err != nil {
			return nil, false, err
		}
	}
	var slot *string
	if IsComplaintKind(in.Kind) {
		var old Task
		err := tx.Where("customer_id = ? AND status = ? AND kind IN ?", in.CustomerID, TaskOpen, []string{TaskComplaint, TaskSurveyRecovery}).
			Order("id").Take(&old).Error
		if err == nil {
			return &old, false, nil
		} else if !errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, false, err
		}
		k := complaintSlot(in.CustomerID)
		slot = &k
	}
	assignee, err := s.pickAssignee(tx, in, cust.OwnerStaffID, staff)
	if err != nil {
		return nil, false, err
	}
	if assignee != nil {
		if ok, err := writeActiveStaff(tx, *assignee); err != nil {
			return nil, false, err
		} else if !ok {
			return nil, false, errTaskRace // deactivated meanwhile: pick again
		}
	}
	now := s.Now().Truncate(time.Millisecond)
	t := &Task{
		CustomerID: in.CustomerID, Kind: in.Kind, Priority: in.Priority, Title: in.Title, Detail: in.Detail,
		AssigneeID: assignee, Status: TaskOpen, DueAt: in.DueAt, Source: in.Source, OpenSlot: slot,
		CreatedAt: now, UpdatedAt: now,
	}
	if assignee != nil {
		t.AssignSeq = 1
	}
	if in.DedupKey != "" {
		k := in.DedupKey
		t.DedupKey = &k
	}
	if err := tx.Create(t).Error; err != nil {
		if isDuplicate(err) {
			return nil, false, errTaskRace
		}
		return nil, false, err
	}
	by := SystemActor()
	if in.By != nil {
		by = *in.By
	}
	evs := []TaskEvent{{TaskID: t.ID, StaffID: by.StaffID, Via: by.via(), Action: "created", To: t.Kind, Note: t.Source, CreatedAt: now}}
	if assignee != nil {
		evs = append(evs, TaskEvent{TaskID: t.ID, StaffID: by.StaffID, Via: by.via(), Action: "assigned", To: strconv.FormatInt(*assignee, 10), CreatedAt: now})
	}
	if err := tx.Create(&evs).Error; err != nil {
		return nil, false, err
	}
	return t, true, nil
}

// TaskByID loads a task with its history, oldest change first.
func (s *Store) TaskByID(ctx context.Context, id int64) (*Task, error) {
	t, err := byID[Task](ctx, s, "task", id)
	if err != nil {
		return nil, err
	}
	if err := s.db.WithContext(ctx).Where("task_id = ?", id).Order("id").Find(&t.Events).Error; err != nil {
		return nil, fmt.Errorf("task: %w", err)
	}
	return t, nil
}

// TaskFor loads a task with its history for an actor: agents see only
// their own tasks.
func (s *Store) TaskFor(ctx context.Context, by Actor, id int64) (*Task, error) {
	t, err := s.TaskByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !CanActOnTask(by, t) {
		return nil, Errorf(EFORBIDDEN, "task %d is not assigned to you", id)
	}
	return t, nil
}

// ListTasksFor lists tasks for an actor: an agent's list is limited to
// their own tasks, and asking for someone else's is forbidden.
func (s *Store) ListTasksFor(ctx context.Context, by Actor, f TaskFilter, p Page) ([]*Task, string, error) {
	if by.agent() {
		if by.StaffID == nil {
			return nil, "", Errorf(EFORBIDDEN, "this agent token is not tied to a staff member")
		}
		if f.AssigneeID != nil && *f.AssigneeID != *by.StaffID {
			return nil, "", Errorf(EFORBIDDEN, "agents may only list their own tasks")
		}
		id := *by.StaffID
		f.AssigneeID = &id
	}
	return s.ListTasks(ctx, f, p)
}

// TaskFilter selects tasks. Zero fields match everything.
type TaskFilter struct {
	Status     string
	AssigneeID *int64 // 0 = unassigned
	CustomerID *int64
}

// ListTasks returns tasks, newest first, a page at a time.
func (s *Store) ListTasks(ctx context.Context, f TaskFilter, p Page) ([]*Task, string, error) {
	limit, after, err := p.parse()
	if err != nil {
		return nil, "", err
	}
	if f.Status != "" && !ValidTaskStatus(f.Status) {
		return nil, "", Invalid("status", "%q is not open, done or cancelled", f.Status)
	}
	q := s.db.WithContext(ctx).Model(&Task{})
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.AssigneeID != nil {
		if *f.AssigneeID == 0 {
			q = q.Where("assignee_id IS NULL")
		} else {
			q = q.Where("assignee_id = ?", *f.AssigneeID)
		}
	}
	if f.CustomerID != nil {
		q = q.Where("customer_id = ?", *f.CustomerID)
	}
	if after > 0 {
		q = q.Where("id < ?", after)
	}
	ts, next, err := pageOf(q.Order("id DESC"), limit, func(r *Task) int64 { return r.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list tasks: %w", err)
	}
	return ts, next, nil
}

// TaskUpdate changes a task; nil fields stay. Note is the outcome note when
// the task is closed, and a history note otherwise.
type TaskUpdate struct {
	Status     *string    `json:"status"`
	AssigneeID *int64     `json:"assignee_id"` // 0 unassigns
	DueAt      *time.Time `json:"due_at"`
	Note       *string    `json:"note"`
}

// UpdateTask applies a change for an actor. Agents may change only their
// own tasks and may not hand them to someone else.
func (s *Store) UpdateTask(ctx context.Context, id int64, up TaskUpdate, by Actor) (*Task, error) {
	if up.Status != nil && !ValidTaskStatus(*up.Status) {
		return nil, Invalid("status", "%q is not open, done or cancelled", *up.Status)
	}
	if up.AssigneeID != nil && *up.AssigneeID < 0 {
		return nil, Invalid("assignee_id", "must be a staff id, or 0 to unassign")
	}
	if up.DueAt != nil {
		if err := checkTime("due_at", *up.DueAt); err != nil {
			return nil, err
		}
	}
	if up.Note != nil {
		n := strings.TrimSpace(*up.Note)
		if len(n) > 16<<10 {
			return nil, Invalid("note", "longer than 16 KiB")
		}
		up.Note = &n
	}
	if up.Status == nil && up.AssigneeID == nil && up.DueAt == nil && up.Note == nil {
		return nil, Invalid("status", "nothing to change: give status, assignee_id, due_at or note")
	}
	var compute FigureCompute
	if up.Status != nil {
		compute = s.figureCompute(ctx)
	}
	var t Task
	err := s.tx(ctx, func(tx *gorm.DB) error {
		t = Task{}
		if up.AssigneeID != nil && *up.AssigneeID > 0 {
			// Write the new assignee's row (if active) before the task's,
			// the order deactivation takes them in: a deactivation either
			// waits for this change (and then reassigns the task) or wins
			// and the check below sees the staff member inactive; across
			// Galera nodes the two conflict at certification instead.
			if _, err := writeActiveStaff(tx, *up.AssigneeID); err != nil {
				return err
			}
		}
		if err := s.forUpdate(tx).Take(&t, id).Error; err != nil {
			return notFound(err, "task %d", id)
		}
		was := t.Status
		if err := s.applyTaskUpdate(tx, &t, up, by); err != nil {
			return err
		}
		if IsComplaintKind(t.Kind) && t.Status != was {
			// An open complaint is in the customer's figures (churn
			// risk); one at most is open (OpenSlot).
			open := 0
			if t.Status == TaskOpen {
				open = 1
			}
			return s.refreshOrTouch(tx, compute, t.UpdatedAt, t.CustomerID, &open)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update task: %w", err)
	}
	return &t, nil
}

// CanActOnTask reports whether the actor may see and change the task.
func CanActOnTask(by Actor, t *Task) bool {
	if !by.agent() {
		return true
	}
	return by.StaffID != nil && t.AssigneeID != nil && *t.AssigneeID == *by.StaffID
}

func (s *Store) applyTaskUpdate(tx *gorm.DB, t *Task, up TaskUpdate, by Actor) error {
	if !CanActOnTask(by, t) {
		return Errorf(EFORBIDDEN, "task %d is not assigned to you", t.ID)
	}
	now := s.Now().Truncate(time.Millisecond)
	ev := func(action, from, to, note string) TaskEvent {
		return TaskEvent{TaskID: t.ID, StaffID: by.StaffID, Via: by.via(), Action: action, From: from, To: to, Note: note, CreatedAt: now}
	}
	var evs []TaskEvent
	set := map[string]any{}
	if up.AssigneeID != nil {
		var next *int64
		if *up.AssigneeID != 0 {
			a := *up.AssigneeID
			next = &a
		}
		if !sameID(next, t.AssigneeID) {
			if by.agent() {
				return Errorf(EFORBIDDEN, "agents may not reassign tasks")
			}
			if next != nil {
				var n int64
				if err := tx.Model(&Staff{}).Where("id = ? AND active = ?", *next, true).Count(&n).Error; err != nil {
					return err
				} else if n == 0 {
					return Invalid("assignee_id", "staff %d is not an active staff member", *next)
				}
			}
			evs = append(evs, ev("assigned", idString(t.AssigneeID), idString(next), ""))
			set["assignee_id"], set["assign_seq"] = next, gorm.Expr("assign_seq + 1")
			t.AssigneeID = next
			t.AssignSeq++
		}
	}
	if up.DueAt != nil {
		d := up.DueAt.UTC().Truncate(time.Millisecond)
		if t.DueAt == nil || !t.DueAt.Equal(d) {
			evs = append(evs, ev("due", timeString(t.DueAt), timeString(&d), ""))
			set["due_at"], set["overdue_at"], set["escalated_at"] = d, nil, nil
			t.DueAt, t.OverdueAt, t.EscalatedAt = &d, nil, nil
		}
	}
	note := ""
	if up.Note != nil {
		note = *up.Note
	}
	if up.Status != nil && *up.Status != t.Status {
		from := t.Status
		t.Status = *up.Status
		set["status"] = t.Status
		if t.Status == TaskOpen {
			set["closed_at"], set["closed_by"] = nil, nil
			t.ClosedAt, t.ClosedBy = nil, nil
			if IsComplaintKind(t.Kind) {
				k := complaintSlot(t.CustomerID)
				set["open_slot"] = k
				t.OpenSlot = &k
			}
		} else {
			set["closed_at"], set["closed_by"], set["open_slot"] = now, by.StaffID, nil
			t.ClosedAt, t.ClosedBy, t.OpenSlot = &now, by.StaffID, nil
			if up.Note != nil {
				set["outcome"] = note
				t.Outcome = note
			}
		}
		evs = append(evs, ev("status", from, t.Status, note))
	} else if up.Note != nil && note != "" {
		if t.Status != TaskOpen {
			set["outcome"] = note
			t.Outcome = note
		}
		evs = append(evs, ev("note", "", "", note))
	}
	if len(set) == 0 && len(evs) == 0 {
		return nil
	}
	if len(set) > 0 {
		set["updated_at"] = now
		t.UpdatedAt = now
		err := tx.Model(&Task{}).Where("id = ?", t.ID).Updates(set).Error
		if isDuplicate(err) {
			return Errorf(ECONFLICT, "customer %d already has an open complaint task", t.CustomerID)
		} else if err != nil {
			return err
		}
	}
	if len(evs) > 0 {
		return tx.Create(&evs).Error
	}
	return nil
}

func sameID(a, b *int64) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

func idString(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}

func timeString(p *time.Time) string {
	if p == nil {
		return ""
	}
	return p.UTC().Format(time.RFC3339)
}

// OpenComplaintTask returns the customer's open complaint-kind task, or
// nil when there is none.
func (s *Store) OpenComplaintTask(ctx context.Context, customerID int64) (*Task, error) {
	var t Task
	err := s.db.WithContext(ctx).Where("customer_id = ? AND status = ? AND kind IN ?", customerID, TaskOpen, []string{TaskComplaint, TaskSurveyRecovery}).
		Order("id DESC").Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("open complaint: %w", err)
	}
	return &t, nil
}

// AddTaskEvent records a history entry (a relayed message, a note).
func (s *Store) AddTaskEvent(ctx context.Context, taskID int64, by Actor, action, note string) error {
	ev := TaskEvent{TaskID: taskID, StaffID: by.StaffID, Via: by.via(), Action: CutRunes(action, 24), Note: note, CreatedAt: s.Now().Truncate(time.Millisecond)}
	if err := s.db.WithContext(ctx).Create(&ev).Error; err != nil {
		return fmt.Errorf("task event: %w", err)
	}
	return nil
}
