package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// migration is one schema step. Steps are applied in list order, recorded
// in schema_migrations by their id (SEQ_NAME), and each is idempotent so a
// step interrupted halfway can simply run again.
type migration struct {
	Seq  int    // position in the list: 1, 2, 3, ... (TestMigrationList)
	Name string // what the step does, in snake_case
	// Was is the id a database migrated before the steps were numbered in
	// one list recorded for this step; such a step counts as applied.
	Was string
	Run func(tx *gorm.DB) error
}

func (m migration) id() string { return fmt.Sprintf("%04d_%s", m.Seq, m.Name) }

// migrations is the one ordered list of schema steps. Append new steps at
// the end with the next number; never edit, renumber or reorder a step
// that has shipped.
func migrations() []migration {
	return []migration{
		{1, "core", "0001_core", autoMigrate(&Customer{}, &customerTag{}, &Identity{}, &Message{}, &Staff{}, &StaffIdentity{}, &APIToken{}, &Asset{}, &Order{})},
		{2, "leases", "0100_leases", autoMigrate(&Lease{})},
		{3, "outbox_in_place", "0101_outbox_in_place", outboxInPlace},
		{4, "kv", "0700_kv", autoMigrate(&kvEntry{})},
		{5, "templates", "0301_templates", autoMigrate(&TemplateVersion{}, &TemplateHead{}, &TemplateAudit{}, &TemplateDraft{})},
		{6, "care_runs", "0300_care_runs", autoMigrate(&CareRun{})},
		{7, "surveys", "0301_surveys", autoMigrate(&Survey{})},
		{8, "tasks", "0500_tasks", autoMigrate(&Task{}, &TaskEvent{})},
		{9, "staff_bindings", "0501_staff_bindings", autoMigrate(&BindingCode{}, &bindAttempt{})},
		{10, "messages_provider_index", "0502_messages_provider_index", providerIndex},
		{11, "tasks_assign_seq", "0503_tasks_assign_seq", taskAssignSeq},
		{12, "orders_dedup_key", "0800_orders_dedup_key", ordersDedupKey},
		{13, "messages_drop_provider_index", "0900_messages_drop_provider_index", dropProviderIndex},
		{14, "identities_audience_index", "0901_identities_audience_index", identitiesAudienceIndex},
		{15, "api_tokens_lifecycle", "", apiTokensLifecycle},
		{16, "messages_any_content", "", messagesAnyContent},
		{17, "customer_phone_keys", "", phoneKeys},
		{18, "console_sign_in", "", autoMigrate(&SignInCode{}, &signInAttempt{}, &StaffPassword{}, &ConsoleSession{})},
		{19, "conversations", "", conversationsBackfill},
		{20, "quick_replies", "", autoMigrate(&QuickReply{})},
		{21, "audit_events", "", autoMigrate(&AuditEvent{})},
		{22, "import_jobs", "", autoMigrate(&ImportJob{}, &ImportBadRow{})},
	}
}

// schemaMigration records an applied step.
type schemaMigration struct {
	ID        string `gorm:"primaryKey;size:100"`
	AppliedAt time.Time
}

func (schemaMigration) TableName() string { return "schema_migrations" }

// Migrate brings the schema up to date. Safe to run from several processes
// at once: on MySQL a named lock serialises them, and every step is
// idempotent anyway.
func (s *Store) Migrate(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	if s.dialect == MySQL {
		conn, err := s.db.DB()
		if err != nil {
			return err
		}
		c, err := conn.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer c.Close()
		var got int
		if err := c.QueryRowContext(ctx, "SELECT GET_LOCK('rapport_migrate', 60)").Scan(&got); err == nil && got == 1 {
			defer c.ExecContext(context.Background(), "SELECT RELEASE_LOCK('rapport_migrate')")
		}
		// Session: without it every statement shares one Statement and a
		// step after the first would migrate schema_migrations instead.
		db = db.Set("gorm:table_options", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci")
	}
	db = db.Set(phoneRegionSetting, s.phoneRegion).Session(&gorm.Session{})
	if err := db.AutoMigrate(&schemaMigration{}); err != nil {
		return fmt.Errorf("migrate: schema table: %w", err)
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	for _, m := range migrations() {
		if applied[m.id()] || (m.Was != "" && applied[m.Was]) {
			continue
		}
		if err := m.Run(db); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.id(), err)
		}
		err := db.Create(&schemaMigration{ID: m.id(), AppliedAt: s.Now()}).Error
		if err != nil && !isDuplicate(err) {
			return fmt.Errorf("migrate: record %s: %w", m.id(), err)
		}
	}
	return nil
}

func (s *Store) appliedMigrations(ctx context.Context) (map[string]bool, error) {
	var rows []schemaMigration
	if err := s.db.WithContext(ctx).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("migrate: read applied: %w", err)
	}
	applied := make(map[string]bool, len(rows))
	for _, r := range rows {
		applied[r.ID] = true
	}
	return applied, nil
}

// SchemaCurrent reports whether every migration step has been applied; it
// backs /readyz.
func (s *Store) SchemaCurrent(ctx context.Context) (bool, error) {
	if !s.db.WithContext(ctx).Migrator().HasTable(&schemaMigration{}) {
		return false, nil
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return false, err
	}
	for _, m := range migrations() {
		if !applied[m.id()] && (m.Was == "" || !applied[m.Was]) {
			return false, nil
		}
	}
	return true, nil
}

// autoMigrate is the usual body of a step: AutoMigrate is additive and a
// no-op when the tables already match.
func autoMigrate(models ...any) func(tx *gorm.DB) error {
	return func(tx *gorm.DB) error { return tx.AutoMigrate(models...) }
}

// MigrationIDs lists the ids of the schema steps in order (for tests).
func MigrationIDs() []string {
	var ids []string
	for _, m := range migrations() {
		ids = append(ids, m.id())
	}
	return ids
}

// apiTokensLifecycle adds expiry, revocation and the bootstrap mark to
// tokens. The token earlier releases made from admin.bootstrap_token was
// named "bootstrap" and tied to no one: it becomes the bootstrap token, so
// that the first start with a new configured value revokes it.
func apiTokensLifecycle(tx *gorm.DB) error {
	if err := tx.AutoMigrate(&APIToken{}); err != nil {
		return err
	}
	return tx.Model(&APIToken{}).Where("name = ? AND staff_id IS NULL AND role = ?", "bootstrap", RoleAdmin).
		Update("bootstrap", true).Error
}
