package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/rapport-crm/rapport/store"
)

// The audit log: admin and manager actions, written by audit after each
// one succeeds. Every audited action calls it, so this file's list is the
// list of them:
//
//	token.create, token.revoke                       tokens
//	staff.create, staff.update, staff.deactivate,
//	staff.activate, staff.binding_code,
//	staff.password_set                               the team
//	session.revoke, session.revoke_all               console sessions
//	template.save, template.rollback                 texts (also in template_audits)
//	phone_claim.approve, phone_claim.reject          phone proof
//	care_run.start                                   a care run started by hand
//	outbox.requeue                                   failed messages sent again
//	quick_reply.create, .update, .delete             quick replies
//	customer.update                                  a customer's fields (tier and stage pins among them)
//	import.start                                     a CSV import from the console
//	reports.refresh                                  today's report figures recomputed now

func (s *Server) auditRoutes() {
	s.api("GET /audit", s.listAudit, store.RoleAdmin, store.RoleManager).doc(op{
		Summary: "The audit log of admin and manager actions, newest first",
		Description: "Each event names its actor (`staff_id` and/or `token_id`; `actor_name` is the staff member's name, else " +
			"the token's, empty for the system), `via` (console or api), " +
			"`action` (noun.verb: token.create, staff.update, template.save, ...; docs/api.md lists them), its subject and a " +
			"small `summary` of the change.",
		Query: []param{
			query("actor", "A staff id, `staff:ID` or `token:ID`.", schema{"type": "string"}),
			query("action", "An action (`token.create`), or a noun (`token`) for all of its actions.", schema{"type": "string"}),
			query("from", "From this business date (YYYY-MM-DD) or RFC 3339 time.", schema{"type": "string"}),
			query("to", "To this business date, inclusive, or RFC 3339 time, exclusive.", schema{"type": "string"}),
		},
		Paged: true,
		Out:   list[*store.AuditEvent]{},
	})
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{Action: q.Get("action"), Page: pg}
	if f.StaffID, f.TokenID, err = actorParam(q.Get("actor")); err != nil {
		return err
	}
	if f.From, err = s.boundParam("from", q.Get("from"), false); err != nil {
		return err
	}
	if f.To, err = s.boundParam("to", q.Get("to"), true); err != nil {
		return err
	}
	items, next, err := s.Store.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*store.AuditEvent]{Items: items, NextCursor: next})
	return nil
}

// actorParam reads actor=: a staff id, staff:ID or token:ID.
func actorParam(v string) (staffID, tokenID *int64, err error) {
	if v == "" {
		return nil, nil, nil
	}
	kind, num, found := strings.Cut(v, ":")
	if !found {
		kind, num = "staff", v
	}
	id, perr := strconv.ParseInt(num, 10, 64)
	if perr != nil || id <= 0 || (kind != "staff" && kind != "token") {
		return nil, nil, store.Invalid("actor", "%q is not a staff id, staff:ID or token:ID", v)
	}
	if kind == "token" {
		return nil, &id, nil
	}
	return &id, nil, nil
}

// audit records a successful admin or manager action. The action has
// happened: a failure to record it is logged, not answered (the caller
// would retry an action that succeeded).
func (s *Server) audit(r *http.Request, p *store.Principal, action, subjectType string, subjectID any, summary map[string]any) {
	ev := store.AuditEvent{StaffID: p.StaffID, Via: store.AuditViaAPI, Action: action, SubjectType: subjectType, Summary: summary}
	if subjectID != nil {
		ev.SubjectID = fmt.Sprint(subjectID)
	}
	if p.SessionID != 0 {
		ev.Via = store.AuditViaConsole
	} else if p.TokenID != 0 {
		id := p.TokenID
		ev.TokenID = &id
	}
	if err := s.Store.RecordAudit(context.WithoutCancel(r.Context()), ev); err != nil {
		s.Logger.Error("audit event not recorded", "action", action, "subject", subjectType, "id", ev.SubjectID, "err", err)
	}
}
