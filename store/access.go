package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// Which customers a person may see — the one rule, for every read and
// every message on someone's behalf:
//
//   - admins, managers and the system see every customer;
//   - an agent sees the customers they own (owner_staff_id) and the
//     customers of the open tasks assigned to them; with the setting
//     admin.agents_see_all (WithAgentsSeeAll) they see everyone;
//   - an agent token tied to no staff member sees no one.
//
// Only open tasks count: access follows the work. When a task is done,
// cancelled or handed to someone else, its customer leaves the agent's
// view with it (chat relays stop the same way); the lasting relationship
// is ownership. A customer someone may not see is "not found" to them, so
// ids do not tell who exists.

// WithAgentsSeeAll lets agents see every customer (config admin.agents_see_all).
func WithAgentsSeeAll(on bool) Option { return func(s *Store) { s.agentsSeeAll = on } }

// seesAll reports whether the actor sees every customer.
func (s *Store) seesAll(by Actor) bool {
	switch by.Role {
	case "", RoleAdmin, RoleManager:
		return true
	case RoleAgent:
		return s.agentsSeeAll
	}
	return false
}

// scopeCustomers narrows q to the customers the actor may see; column is
// q's customer id column (customers.id, customer_id).
func (s *Store) scopeCustomers(q *gorm.DB, by Actor, column string) *gorm.DB {
	if s.seesAll(by) {
		return q
	}
	if by.Role != RoleAgent || by.StaffID == nil {
		return q.Where("1 = 0")
	}
	// The agent's customers as a set: a union of two index lookups
	// (customers by owner, tasks by assignee and status), wrapped in a
	// derived table so that MySQL materialises it once and joins, instead
	// of probing the union for every row of the table (it does not
	// semi-join a bare UNION). The cost then follows the agent's own
	// customers, not the size of the table (300k customers on MariaDB: a
	// page in 10 ms for an agent with 16 customers, 90 ms with 100k; the
	// OR / bare-UNION forms took 130 ms / 970 ms). One customer's check
	// gets its id pushed into the union.
	return q.Where(column+" IN (SELECT v.id FROM (SELECT id FROM customers WHERE owner_staff_id = ?"+
		" UNION SELECT customer_id FROM tasks WHERE assignee_id = ? AND status = ?) v)",
		*by.StaffID, *by.StaffID, TaskOpen)
}

// SeeCustomer answers nil when the customer exists and the actor may see
// it, and a not-found error otherwise.
func (s *Store) SeeCustomer(ctx context.Context, by Actor, customerID int64) error {
	return s.seeCustomer(s.db.WithContext(ctx), by, customerID)
}

func (s *Store) seeCustomer(db *gorm.DB, by Actor, customerID int64) error {
	var n int64
	q := s.scopeCustomers(db.Model(&Customer{}).Where("customers.id = ?", customerID), by, "customers.id")
	if err := q.Count(&n).Error; err != nil {
		return fmt.Errorf("customer: %w", err)
	}
	if n == 0 {
		return Errorf(ENOTFOUND, "customer %d not found", customerID)
	}
	return nil
}

// CustomerFor loads one customer the actor may see.
func (s *Store) CustomerFor(ctx context.Context, by Actor, id int64) (*Customer, error) {
	if err := s.SeeCustomer(ctx, by, id); err != nil {
		return nil, err
	}
	return s.CustomerByID(ctx, id)
}

// ListMessagesFor is a conversation the actor may see.
func (s *Store) ListMessagesFor(ctx context.Context, by Actor, customerID int64, p Page) ([]*Message, string, error) {
	if err := s.SeeCustomer(ctx, by, customerID); err != nil {
		return nil, "", err
	}
	return s.ListMessages(ctx, customerID, p)
}

// SendToCustomerBy sends a message to a customer the actor may see.
func (s *Store) SendToCustomerBy(ctx context.Context, by Actor, customerID int64, text string) (*Message, error) {
	if err := s.SeeCustomer(ctx, by, customerID); err != nil {
		return nil, err
	}
	return s.sendToCustomer(ctx, &by, customerID, text)
}

// ListAssetsFor lists the assets of a customer the actor may see.
func (s *Store) ListAssetsFor(ctx context.Context, by Actor, customerID int64) ([]*Asset, error) {
	if err := s.SeeCustomer(ctx, by, customerID); err != nil {
		return nil, err
	}
	return s.ListAssets(ctx, customerID)
}

// Actor is who changes a task and through which interface. A nil StaffID
// is the system (a rule, or an API token not tied to a staff member).
type Actor struct {
	StaffID *int64
	Role    Role   // empty for the system
	Via     string // api, telegram, wechat, webchat, system
}

// SystemActor is the rules engine.
func SystemActor() Actor { return Actor{Via: ViaSystem} }

// ActorOf is the actor for an API caller.
func ActorOf(p *Principal) Actor {
	return Actor{StaffID: p.StaffID, Role: p.Role, Via: ViaAPI}
}

// ActorStaff is a staff member acting in chat (via = channel).
func ActorStaff(st *Staff, via string) Actor {
	id := st.ID
	return Actor{StaffID: &id, Role: st.Role, Via: via}
}

// agent reports whether the actor is limited to their own tasks.
func (a Actor) agent() bool { return a.Role == RoleAgent }

func (a Actor) via() string {
	if a.Via == "" {
		return ViaSystem
	}
	return a.Via
}
