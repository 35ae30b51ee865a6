package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// migration is one schema step. Steps are applied in list order, recorded
// in schema_migrations, and each is idempotent so a step interrupted halfway
// can simply run again.
type migration struct {
	ID  string
	Run func(tx *gorm.DB) error
}

// migrations is the ordered list. Append new steps at the end of a group;
// never edit or reorder a step that has shipped.
func migrations() []migration {
	var ms []migration
	ms = append(ms, coreMigrations()...)
	ms = append(ms, outboxMigrations()...)
	ms = append(ms, kvMigrations()...)
	ms = append(ms, templateMigrations()...)
	ms = append(ms, careMigrations()...)
	ms = append(ms, followupMigrations()...)
	ms = append(ms, migration{"0503_tasks_assign_seq", taskAssignSeq})
	ms = append(ms, orderMigrations()...)
	ms = append(ms, migration{"0900_messages_drop_provider_index", dropProviderIndex})
	ms = append(ms, migration{"0901_identities_audience_index", identitiesAudienceIndex})
	return ms
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
		db = db.Set("gorm:table_options", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci").Session(&gorm.Session{})
	}
	if err := db.AutoMigrate(&schemaMigration{}); err != nil {
		return fmt.Errorf("migrate: schema table: %w", err)
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	for _, m := range migrations() {
		if applied[m.ID] {
			continue
		}
		if err := m.Run(db); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.ID, err)
		}
		err := db.Create(&schemaMigration{ID: m.ID, AppliedAt: s.Now()}).Error
		if err != nil && !isDuplicate(err) {
			return fmt.Errorf("migrate: record %s: %w", m.ID, err)
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
		if !applied[m.ID] {
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

func coreMigrations() []migration {
	return []migration{
		{"0001_core", autoMigrate(&Customer{}, &customerTag{}, &Identity{}, &Message{}, &Staff{}, &StaffIdentity{}, &APIToken{}, &Asset{}, &Order{})},
	}
}

// orderMigrations are the schema steps of orders after 0001_core, in order.
func orderMigrations() []migration {
	return []migration{
		{"0800_orders_dedup_key", ordersDedupKey},
	}
}

// ordersDedupKey adds orders.dedup_key and its unique index, so that an
// import run twice records each order once. Existing orders keep NULL,
// which never collides.
func ordersDedupKey(tx *gorm.DB) error {
	m := tx.Migrator()
	if !m.HasColumn(&Order{}, "dedup_key") {
		if err := tx.Exec("ALTER TABLE orders ADD COLUMN dedup_key VARCHAR(64) NULL").Error; err != nil {
			return err
		}
	}
	if m.HasIndex(&Order{}, "ux_orders_dedup_key") {
		return nil
	}
	return tx.Exec("CREATE UNIQUE INDEX ux_orders_dedup_key ON orders (dedup_key)").Error
}
