package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// AuditEvent is one admin or manager action: who (a staff member, a
// token, or both), through what (console or api), what they did and to
// what, and a small summary of the change. The web package writes one
// after each successful action it audits (web/audit.go), so the list of
// audited actions lives in one place.
type AuditEvent struct {
	ID      int64     `gorm:"primaryKey" json:"id"`
	At      time.Time `gorm:"not null;index" json:"at"`
	StaffID *int64    `gorm:"index" json:"staff_id"`
	TokenID *int64    `gorm:"index" json:"token_id"`
	// Via is console (a signed-in session) or api (a bearer token).
	Via string `gorm:"size:16;not null" json:"via"`
	// Action is noun.verb: token.create, staff.update, template.save, ...
	Action string `gorm:"size:48;not null;index" json:"action"`
	// SubjectType and SubjectID name what was acted on (customer 7,
	// template birthday); SubjectID is a string because not every subject
	// has a number.
	SubjectType string         `gorm:"size:32;not null;default:''" json:"subject_type"`
	SubjectID   string         `gorm:"size:64;not null;default:''" json:"subject_id"`
	SummaryJSON string         `gorm:"column:summary;type:text" json:"-"`
	Summary     map[string]any `gorm:"-" json:"summary"`
	// ActorName is the staff member's name, else the token's; filled by
	// ListAudit.
	ActorName string `gorm:"-" json:"actor_name"`
}

// maxAuditSummary bounds a summary's JSON: it says what changed, it is
// not a copy of the request.
const maxAuditSummary = 4 << 10

// Audit via values.
const (
	AuditViaConsole = "console"
	AuditViaAPI     = "api"
	// AuditViaChat: a staff member's command in chat.
	AuditViaChat = "chat"
)

// RecordAudit stores an audit event; At defaults to now.
func (s *Store) RecordAudit(ctx context.Context, ev AuditEvent) error {
	ev.Action = strings.TrimSpace(ev.Action)
	if ev.Action == "" || len(ev.Action) > 48 {
		return Invalid("action", "must be 1-48 characters")
	}
	ev.ID = 0
	if ev.At.IsZero() {
		ev.At = s.Now()
	}
	ev.At = ev.At.UTC().Truncate(time.Millisecond)
	ev.Via = CutRunes(ev.Via, 16)
	ev.SubjectType = CutRunes(ev.SubjectType, 32)
	ev.SubjectID = CutRunes(ev.SubjectID, 64)
	ev.SummaryJSON = ""
	if len(ev.Summary) > 0 {
		b, err := json.Marshal(ev.Summary)
		if err != nil {
			return fmt.Errorf("audit summary: %w", err)
		}
		if len(b) > maxAuditSummary {
			b, _ = json.Marshal(map[string]any{"truncated": true, "bytes": len(b)})
		}
		ev.SummaryJSON = string(b)
	}
	if err := s.db.WithContext(ctx).Create(&ev).Error; err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	return nil
}

// AuditFilter picks audit events. Zero fields match everything.
type AuditFilter struct {
	StaffID *int64
	TokenID *int64
	// Action is an action (token.create), or a noun (token) for all of
	// its actions.
	Action string
	// From and To bound At: [From, To).
	From, To time.Time
	Page
}

// ListAudit returns audit events, newest first, with their actors' names.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEvent, string, error) {
	limit, before, err := f.Page.parse()
	if err != nil {
		return nil, "", err
	}
	for field, t := range map[string]time.Time{"from": f.From, "to": f.To} {
		if !t.IsZero() {
			if err := checkTime(field, t); err != nil {
				return nil, "", err
			}
		}
	}
	q := s.db.WithContext(ctx).Model(&AuditEvent{})
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	if f.StaffID != nil {
		q = q.Where("staff_id = ?", *f.StaffID)
	}
	if f.TokenID != nil {
		q = q.Where("token_id = ?", *f.TokenID)
	}
	if a := strings.TrimSpace(f.Action); a != "" {
		if strings.Contains(a, ".") {
			q = q.Where("action = ?", a)
		} else {
			q = q.Where("action = ? OR action LIKE ? ESCAPE '!'", a, escapeLike(a)+".%")
		}
	}
	if !f.From.IsZero() {
		q = q.Where("at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", f.To.UTC())
	}
	evs, next, err := pageOf(q.Order("id DESC"), limit, func(e *AuditEvent) int64 { return e.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	if err := s.nameActors(ctx, evs); err != nil {
		return nil, "", err
	}
	return evs, next, nil
}

// nameActors decodes the summaries and fills ActorName: one query for the
// staff of the page and one for its tokens.
func (s *Store) nameActors(ctx context.Context, evs []*AuditEvent) error {
	var staffIDs, tokenIDs []int64
	for _, e := range evs {
		e.Summary = map[string]any{}
		if e.SummaryJSON != "" {
			_ = json.Unmarshal([]byte(e.SummaryJSON), &e.Summary)
		}
		if e.StaffID != nil {
			staffIDs = append(staffIDs, *e.StaffID)
		} else if e.TokenID != nil {
			tokenIDs = append(tokenIDs, *e.TokenID)
		}
	}
	names, err := s.StaffNames(ctx, staffIDs)
	if err != nil {
		return err
	}
	tokens := map[int64]string{}
	if len(tokenIDs) > 0 {
		var rows []APIToken
		if err := s.db.WithContext(ctx).Select("id", "name").Where("id IN ?", tokenIDs).Find(&rows).Error; err != nil {
			return fmt.Errorf("audit token names: %w", err)
		}
		for _, r := range rows {
			tokens[r.ID] = r.Name
		}
	}
	for _, e := range evs {
		switch {
		case e.StaffID != nil:
			e.ActorName = names[*e.StaffID]
		case e.TokenID != nil:
			e.ActorName = tokens[*e.TokenID]
		default:
			e.ActorName = "" // the system
		}
	}
	return nil
}
