package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Template sources: where a version or change came from.
const (
	TemplateSourceDefault = "default" // the shipped text
	TemplateSourceAPI     = "api"
	TemplateSourceChat    = "chat"
)

// MaxTemplateBody bounds a template body (the rendered text is checked
// against the channels separately).
const MaxTemplateBody = 16 << 10

// TemplateVersion is one saved body of a template key in one locale.
// Versions are immutable; which one is active lives in TemplateHead.
type TemplateVersion struct {
	ID        int64     `gorm:"primaryKey" json:"-"`
	Key       string    `gorm:"column:template_key;size:64;not null;uniqueIndex:ux_template_versions,priority:1" json:"key"`
	Locale    string    `gorm:"size:16;not null;uniqueIndex:ux_template_versions,priority:2" json:"locale"`
	Version   int       `gorm:"not null;uniqueIndex:ux_template_versions,priority:3" json:"version"`
	Body      string    `gorm:"type:text;not null" json:"body"`
	Author    string    `gorm:"size:128;not null;default:''" json:"author"`
	StaffID   *int64    `json:"staff_id,omitempty"`
	Source    string    `gorm:"size:16;not null;default:''" json:"source"`
	CreatedAt time.Time `json:"created_at"`
}

// TemplateHead is the active version of a key in a locale and the last
// version number handed out. Saves lock this row, so two managers saving
// at once get consecutive versions and neither is lost.
type TemplateHead struct {
	Key       string    `gorm:"column:template_key;primaryKey;size:64" json:"key"`
	Locale    string    `gorm:"primaryKey;size:16" json:"locale"`
	Latest    int       `gorm:"not null" json:"latest"`
	Active    int       `gorm:"not null" json:"active"`
	UpdatedBy string    `gorm:"size:128;not null;default:''" json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TemplateAudit records who changed a template, when, and from which
// interface.
type TemplateAudit struct {
	ID          int64     `gorm:"primaryKey" json:"id"`
	Key         string    `gorm:"column:template_key;size:64;not null;index:ix_template_audits_key,priority:1" json:"key"`
	Locale      string    `gorm:"size:16;not null;index:ix_template_audits_key,priority:2" json:"locale"`
	Action      string    `gorm:"size:16;not null" json:"action"` // save | rollback
	Version     int       `gorm:"not null" json:"version"`        // active afterwards
	PrevVersion int       `gorm:"not null" json:"prev_version"`   // active before
	Actor       string    `gorm:"size:128;not null;default:''" json:"actor"`
	StaffID     *int64    `json:"staff_id,omitempty"`
	Source      string    `gorm:"size:16;not null" json:"source"` // api | chat
	CreatedAt   time.Time `json:"created_at"`
}

// TemplateDraft is a body a manager set in chat and has not confirmed yet;
// one per staff member, in the database so any replica can confirm it.
type TemplateDraft struct {
	StaffID int64  `gorm:"primaryKey;autoIncrement:false"`
	Key     string `gorm:"column:template_key;size:64;not null"`
	Locale  string `gorm:"size:16;not null"`
	Body    string `gorm:"type:text;not null"`
	// Nonce tells this draft from a later one of the same staff member.
	Nonce     string `gorm:"size:32;not null"`
	CreatedAt time.Time
}

// TemplateChange names a template and who changes it how.
type TemplateChange struct {
	Key, Locale string
	// DefaultBody is the shipped text; it becomes version 1 the first time
	// the key is changed, so history and rollback include it.
	DefaultBody string
	Actor       string
	StaffID     *int64
	Source      string // api | chat
}

func (c TemplateChange) validate() error {
	if c.Key == "" || len(c.Key) > 64 {
		return Invalid("key", "must be 1-64 characters")
	}
	if c.Locale == "" || len(c.Locale) > 16 {
		return Invalid("locale", "must be 1-16 characters")
	}
	if c.Source != TemplateSourceAPI && c.Source != TemplateSourceChat {
		return Invalid("source", "%q is not api or chat", c.Source)
	}
	return nil
}

func checkBody(body string) error {
	if strings.TrimSpace(body) == "" {
		return Invalid("body", "is empty")
	}
	if len(body) > MaxTemplateBody {
		return Invalid("body", "is %d bytes; at most %d", len(body), MaxTemplateBody)
	}
	if !utf8.ValidString(body) {
		return Invalid("body", "is not UTF-8")
	}
	return nil
}

// TemplateHeads returns every head: the active version of each key and
// locale that was ever changed. Keys never changed have no head (their
// shipped text is version 1).
func (s *Store) TemplateHeads(ctx context.Context) ([]TemplateHead, error) {
	var hs []TemplateHead
	if err := s.db.WithContext(ctx).Order("template_key, locale").Find(&hs).Error; err != nil {
		return nil, fmt.Errorf("template heads: %w", err)
	}
	return hs, nil
}

// TemplateVersionOf loads one version.
func (s *Store) TemplateVersionOf(ctx context.Context, key, locale string, version int) (*TemplateVersion, error) {
	var v TemplateVersion
	err := s.db.WithContext(ctx).Where("template_key = ? AND locale = ? AND version = ?", key, locale, version).Take(&v).Error
	if err != nil {
		return nil, fmt.Errorf("template version: %w", notFound(err, "template %s (%s) version %d", key, locale, version))
	}
	return &v, nil
}

// TemplateVersions lists the versions of a key in a locale, newest first.
func (s *Store) TemplateVersions(ctx context.Context, key, locale string, p Page) ([]TemplateVersion, string, error) {
	limit, after, err := p.parse()
	if err != nil {
		return nil, "", err
	}
	q := s.db.WithContext(ctx).Where("template_key = ? AND locale = ?", key, locale)
	if after > 0 {
		q = q.Where("version < ?", after)
	}
	vs, next, err := pageOf(q.Order("version DESC"), limit, func(r TemplateVersion) int64 { return int64(r.Version) })
	if err != nil {
		return nil, "", fmt.Errorf("template versions: %w", err)
	}
	return vs, next, nil
}

// SaveTemplate stores body as the next version of the key and makes it
// active. The caller has validated the body against the template engine.
func (s *Store) SaveTemplate(ctx context.Context, c TemplateChange, body string) (*TemplateVersion, error) {
	return s.saveTemplate(ctx, c, body, nil)
}

func (s *Store) saveTemplate(ctx context.Context, c TemplateChange, body string, draft func(tx *gorm.DB) error) (*TemplateVersion, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := checkBody(body); err != nil {
		return nil, err
	}
	var v *TemplateVersion
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if draft != nil {
			if err := draft(tx); err != nil {
				return err
			}
		}
		head, err := s.lockHead(tx, c)
		if err != nil {
			return err
		}
		prev := head.Active
		next := head.Latest + 1
		res := tx.Model(&TemplateHead{}).Where("template_key = ? AND locale = ? AND latest = ?", c.Key, c.Locale, head.Latest).
			Updates(map[string]any{"latest": next, "active": next, "updated_by": c.Actor, "updated_at": s.Now()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			// Cannot happen while the row is locked; fail loudly rather
			// than hand out a version twice.
			return Errorf(ECONFLICT, "template %s (%s) changed concurrently; try again", c.Key, c.Locale)
		}
		v = &TemplateVersion{Key: c.Key, Locale: c.Locale, Version: next, Body: body, Author: c.Actor, StaffID: c.StaffID, Source: c.Source}
		if err := tx.Create(v).Error; err != nil {
			return err
		}
		return tx.Create(&TemplateAudit{Key: c.Key, Locale: c.Locale, Action: "save", Version: next, PrevVersion: prev,
			Actor: c.Actor, StaffID: c.StaffID, Source: c.Source}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("save template: %w", err)
	}
	return v, nil
}

// lockHead makes sure the head row and version 1 (the shipped text) exist,
// then reads the head with a row lock (an UPDATE that changes nothing:
// portable to SQLite, whose immediate transactions lock anyway).
func (s *Store) lockHead(tx *gorm.DB, c TemplateChange) (*TemplateHead, error) {
	h := TemplateHead{Key: c.Key, Locale: c.Locale, Latest: 1, Active: 1, UpdatedAt: s.Now()}
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&h)
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected == 1 {
		if err := checkBody(c.DefaultBody); err != nil {
			return nil, Errorf(EINTERNAL, "template %s (%s) has no shipped text", c.Key, c.Locale)
		}
		v1 := TemplateVersion{Key: c.Key, Locale: c.Locale, Version: 1, Body: c.DefaultBody, Source: TemplateSourceDefault}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&v1).Error; err != nil {
			return nil, err
		}
	}
	if err := tx.Model(&TemplateHead{}).Where("template_key = ? AND locale = ?", c.Key, c.Locale).
		UpdateColumn("latest", gorm.Expr("latest")).Error; err != nil {
		return nil, err
	}
	var got TemplateHead
	if err := tx.Where("template_key = ? AND locale = ?", c.Key, c.Locale).Take(&got).Error; err != nil {
		return nil, err
	}
	return &got, nil
}

// RollbackTemplate makes an earlier (or any existing) version active again.
func (s *Store) RollbackTemplate(ctx context.Context, c TemplateChange, version int) (*TemplateHead, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if version < 1 {
		return nil, Invalid("version", "must be 1 or more")
	}
	var head *TemplateHead
	err := s.tx(ctx, func(tx *gorm.DB) error {
		h, err := s.lockHead(tx, c)
		if err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&TemplateVersion{}).Where("template_key = ? AND locale = ? AND version = ?", c.Key, c.Locale, version).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return Invalid("version", "template %s (%s) has no version %d (latest is %d)", c.Key, c.Locale, version, h.Latest)
		}
		now := s.Now()
		if err := tx.Model(&TemplateHead{}).Where("template_key = ? AND locale = ?", c.Key, c.Locale).
			Updates(map[string]any{"active": version, "updated_by": c.Actor, "updated_at": now}).Error; err != nil {
			return err
		}
		if err := tx.Create(&TemplateAudit{Key: c.Key, Locale: c.Locale, Action: "rollback", Version: version, PrevVersion: h.Active,
			Actor: c.Actor, StaffID: c.StaffID, Source: c.Source}).Error; err != nil {
			return err
		}
		h.Active, h.UpdatedBy, h.UpdatedAt = version, c.Actor, now
		head = h
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rollback template: %w", err)
	}
	return head, nil
}

// TemplateAuditLog lists the changes of a key (every locale), newest first.
func (s *Store) TemplateAuditLog(ctx context.Context, key string, p Page) ([]TemplateAudit, string, error) {
	limit, after, err := p.parse()
	if err != nil {
		return nil, "", err
	}
	q := s.db.WithContext(ctx).Where("template_key = ?", key)
	if after > 0 {
		q = q.Where("id < ?", after)
	}
	rows, next, err := pageOf(q.Order("id DESC"), limit, func(r TemplateAudit) int64 { return r.ID })
	if err != nil {
		return nil, "", fmt.Errorf("template audit: %w", err)
	}
	return rows, next, nil
}

// SetTemplateDraft stores (replacing any earlier one) a staff member's
// unconfirmed body.
func (s *Store) SetTemplateDraft(ctx context.Context, d TemplateDraft) error {
	if d.StaffID <= 0 {
		return Invalid("staff_id", "is required")
	}
	if err := checkBody(d.Body); err != nil {
		return err
	}
	var b [12]byte
	rand.Read(b[:])
	d.Nonce = hex.EncodeToString(b[:])
	d.CreatedAt = s.Now()
	err := s.tx(ctx, func(tx *gorm.DB) error {
		return tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "staff_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"template_key", "locale", "body", "nonce", "created_at"}),
		}).Create(&d).Error
	})
	if err != nil {
		return fmt.Errorf("template draft: %w", err)
	}
	return nil
}

// TemplateDraftOf returns a staff member's draft, or nil when there is none.
func (s *Store) TemplateDraftOf(ctx context.Context, staffID int64) (*TemplateDraft, error) {
	var d TemplateDraft
	err := s.db.WithContext(ctx).Where("staff_id = ?", staffID).Take(&d).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("template draft: %w", err)
	}
	return &d, nil
}

// DeleteTemplateDraft drops a staff member's draft, if any.
func (s *Store) DeleteTemplateDraft(ctx context.Context, staffID int64) error {
	if err := s.db.WithContext(ctx).Where("staff_id = ?", staffID).Delete(&TemplateDraft{}).Error; err != nil {
		return fmt.Errorf("template draft: %w", err)
	}
	return nil
}

// ConfirmTemplateDraft saves draft d as a new version and deletes it, in
// one transaction. A draft already confirmed (by a retried message or on
// another replica) or replaced since it was read is a conflict, and
// nothing is saved.
func (s *Store) ConfirmTemplateDraft(ctx context.Context, c TemplateChange, d *TemplateDraft) (*TemplateVersion, error) {
	c.Key, c.Locale = d.Key, d.Locale
	return s.saveTemplate(ctx, c, d.Body, func(tx *gorm.DB) error {
		res := tx.Where("staff_id = ? AND nonce = ?", d.StaffID, d.Nonce).
			Delete(&TemplateDraft{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return Errorf(ECONFLICT, "the draft was already confirmed or replaced")
		}
		return nil
	})
}

// EnsureTemplateDefaults records the shipped texts as version 1 of every
// key and locale not seen before, so history starts at the shipped text.
// Safe to run from several replicas at once.
func (s *Store) EnsureTemplateDefaults(ctx context.Context, defaults []TemplateVersion) error {
	now := s.Now()
	for _, d := range defaults {
		err := s.tx(ctx, func(tx *gorm.DB) error {
			h := TemplateHead{Key: d.Key, Locale: d.Locale, Latest: 1, Active: 1, UpdatedBy: "", UpdatedAt: now}
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&h)
			if res.Error != nil || res.RowsAffected == 0 {
				return res.Error
			}
			v := TemplateVersion{Key: d.Key, Locale: d.Locale, Version: 1, Body: d.Body, Source: TemplateSourceDefault}
			return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&v).Error
		})
		if err != nil {
			return fmt.Errorf("template defaults: %w", err)
		}
	}
	return nil
}

// TemplateHeadOf returns the head of a key in a locale, or nil when the key
// was never changed there.
func (s *Store) TemplateHeadOf(ctx context.Context, key, locale string) (*TemplateHead, error) {
	var h TemplateHead
	err := s.db.WithContext(ctx).Where("template_key = ? AND locale = ?", key, locale).Take(&h).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("template head: %w", err)
	}
	return &h, nil
}
