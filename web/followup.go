package web

import (
	"cmp"
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// followupRoutes mounts the staff and task endpoints. Staff items carry
// chat_bound and open_tasks, tasks assignee_chat_bound: tasks given to
// someone chat does not reach show as such.
func (s *Server) followupRoutes() {
	s.api("GET /staff", s.listStaff, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Staff, by id",
		Description: "`chat_bound: false` with `open_tasks` above 0: tasks wait for someone chat does not reach; " +
			"they arrive as one list when the person binds.",
		Paged: true,
		Out:   list[*store.StaffView]{},
	})
	s.api("PATCH /staff/{id}", s.updateStaff, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "Rename, change the role of, or (de)activate a staff member",
		Description: "Only admins change roles, and only admins act on admins (403). `active: false` hands the " +
			"person's open tasks to other staff at once and makes their tokens answer 401.",
		In:  store.StaffUpdate{},
		Out: store.Staff{},
	})
	s.api("POST /staff/{id}/binding-codes", s.createBindingCode, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "A one-time code to bind a chat account",
		Description: "8 characters, valid 15 minutes; a new one replaces the previous. The staff member sends " +
			"`/bind CODE` to the bot. At most 5 an hour (409); an inactive staff member is 422.",
		Out:    bindingCode{},
		Status: http.StatusCreated,
		Errors: []int{http.StatusConflict, http.StatusUnprocessableEntity},
	})
	s.api("POST /tasks", s.createTask).doc(op{
		Summary: "Open a follow-up task",
		Description: "Without `assignee_id` the task goes to the customer's owner if active, else the active agent " +
			"with the fewest open tasks. An agent opens tasks for themselves only, on customers they see. A customer " +
			"has at most one open complaint: opening another answers the open one.",
		In:     taskInput{},
		Out:    store.Task{},
		Status: http.StatusCreated,
		Errors: []int{http.StatusForbidden},
	})
	s.api("GET /tasks", s.listTasks).doc(op{
		Summary:     "Follow-up tasks, newest first",
		Description: "An agent sees their own; asking for someone else's is 403.",
		Query: []param{
			query("status", "", ref("TaskStatus")),
			query("assignee_id", "0: unassigned.", schema{"type": "integer", "format": "int64", "minimum": 0}),
			query("customer_id", "", schema{"type": "integer", "format": "int64", "minimum": 0}),
		},
		Paged:  true,
		Out:    list[*store.Task]{},
		Errors: []int{http.StatusForbidden},
	})
	s.api("GET /tasks/queue", s.taskQueue).doc(op{
		Summary: "A work queue: open tasks in the order to work them",
		Description: "Complaints first, then overdue tasks, then by due time (none last), oldest first on ties. The " +
			"caller's own queue, or `assignee_id`'s (0: the unassigned tasks); an agent has only their own (403). The " +
			"cursor is a position in the queue, which moves as tasks fall due.",
		Query: []param{
			query("assignee_id", "Whose queue (managers and admins); 0: the unassigned tasks.", schema{"type": "integer", "format": "int64", "minimum": 0}),
		},
		Paged:  true,
		Out:    list[*store.Task]{},
		Errors: []int{http.StatusForbidden},
	})
	s.api("GET /tasks/{id}", s.getTask).doc(op{
		Summary:     "One task with its history",
		Description: "Another agent's task is 403.",
		Out:         store.Task{},
		Errors:      []int{http.StatusForbidden},
	})
	s.api("PATCH /tasks/{id}", s.updateTask).doc(op{
		Summary: "Change a task's status, assignee, due time or note",
		Description: "At least one field. Closing with a `note` records it as the outcome; `assignee_id: 0` " +
			"unassigns. An agent may change their own tasks but not reassign (403). Reopening a complaint while " +
			"the customer has another open one is 409.",
		In:     store.TaskUpdate{},
		Out:    store.Task{},
		Errors: []int{http.StatusForbidden, http.StatusConflict},
	})
}

func (s *Server) listStaff(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	items, next, err := s.Store.ListStaff(r.Context(), p)
	return respondList(w, items, next, err)
}

func (s *Server) updateStaff(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in store.StaffUpdate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	// The actor, not just the role: reassigned tasks record who deactivated
	// their assignee.
	st, err := s.Store.UpdateStaff(r.Context(), id, in, store.ActorOf(p))
	if err != nil {
		return err
	}
	action := "staff.update"
	if in.Active != nil {
		action = map[bool]string{true: "staff.activate", false: "staff.deactivate"}[*in.Active]
	}
	s.audit(r, p, action, "staff", id, map[string]any{"name": in.Name, "role": in.Role, "active": in.Active})
	return respond(w, http.StatusOK, st, nil)
}

func (s *Server) createBindingCode(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	code, exp, err := s.Store.CreateBindingCode(r.Context(), id, store.ActorOf(p))
	if err != nil {
		return err
	}
	s.audit(r, p, "staff.binding_code", "staff", id, map[string]any{"expires_at": exp})
	return respond(w, http.StatusCreated, bindingCode{Code: code, ExpiresAt: exp}, nil)
}

// bindingCode is the answer of POST /staff/{id}/binding-codes.
type bindingCode struct {
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
}

// taskInput is POST /tasks.
type taskInput struct {
	CustomerID int64      `json:"customer_id"`
	Kind       string     `json:"kind"`
	Priority   string     `json:"priority"`
	Title      string     `json:"title"`
	Detail     string     `json:"detail"`
	DueAt      *time.Time `json:"due_at"`
	AssigneeID *int64     `json:"assignee_id"`
}

func (s *Server) createTask(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	var in taskInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	in.Kind = cmp.Or(in.Kind, store.TaskManual)
	by := store.ActorOf(p)
	source := "api"
	if p.StaffID != nil {
		source = "staff:" + strconv.FormatInt(*p.StaffID, 10)
	}
	t, _, err := s.Store.CreateTask(r.Context(), store.TaskInput{
		CustomerID: in.CustomerID, Kind: in.Kind, Priority: in.Priority, Title: in.Title, Detail: in.Detail,
		DueAt: in.DueAt, AssigneeID: in.AssigneeID, Source: source, By: &by,
	})
	if err != nil {
		return err
	}
	if err := s.noteTasks(r.Context(), t); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.TaskFilter{Status: q.Get("status")}
	for name, dst := range map[string]**int64{"assignee_id": &f.AssigneeID, "customer_id": &f.CustomerID} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return store.Invalid(name, "%q is not an id", v)
			}
			*dst = &n
		}
	}
	items, next, err := s.Store.ListTasksFor(r.Context(), store.ActorOf(p), f, pg)
	if err != nil {
		return err
	}
	if err := s.noteTasks(r.Context(), items...); err != nil {
		return err
	}
	return respondList(w, items, next, nil)
}

func (s *Server) taskQueue(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	f := store.QueueFilter{Page: pg}
	if v := r.URL.Query().Get("assignee_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return store.Invalid("assignee_id", "%q is not an id", v)
		}
		f.AssigneeID = &n
	}
	items, next, err := s.Store.TaskQueue(r.Context(), store.ActorOf(p), f)
	if err != nil {
		return err
	}
	if err := s.noteTasks(r.Context(), items...); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*store.Task]{Items: items, NextCursor: next})
	return nil
}

// noteTasks adds what a task's JSON tells beside its row: whether chat
// reaches its assignee, and its customer's name (a query each per page).
func (s *Server) noteTasks(ctx context.Context, ts ...*store.Task) error {
	if err := s.Store.NoteChatBound(ctx, ts...); err != nil {
		return err
	}
	return s.Store.NoteCustomerNames(ctx, ts...)
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := s.Store.TaskFor(r.Context(), store.ActorOf(p), id)
	if err != nil {
		return err
	}
	if err := s.noteTasks(r.Context(), t); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) updateTask(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in store.TaskUpdate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	t, err := s.Store.UpdateTask(r.Context(), id, in, store.ActorOf(p))
	if err != nil {
		return err
	}
	if err := s.noteTasks(r.Context(), t); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}
