package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// migration is one schema step. Steps are applied in list order, recorded
// in schema_migrations by their id (SEQ_NAME), and each is idempotent so a
// step interrupted halfway can simply run again. A step counts as applied
// when any recorded id carries its name: databases migrated before the
// steps were numbered in one list recorded the same names under older
// numbers (in the hundreds), so names, unique in the list, are
// what identifies a step.
type migration struct {
	Seq  int    // position in the list: 1, 2, 3, ... (TestMigrationList)
	Name string // what the step does, in snake_case; never reused
	Run  func(tx *gorm.DB) error
}

func (m migration) id() string { return fmt.Sprintf("%04d_%s", m.Seq, m.Name) }

// migrations is the one ordered list of schema steps. Append new steps at
// the end with the next number; never edit, renumber or reorder a step
// that has shipped.
func migrations() []migration {
	return []migration{
		{1, "core", autoMigrate(&Customer{}, &customerTag{}, &Identity{}, &Message{}, &Staff{}, &StaffIdentity{}, &APIToken{}, &Asset{}, &Order{})},
		{2, "leases", autoMigrate(&Lease{})},
		{3, "outbox_in_place", outboxInPlace},
		{4, "kv", autoMigrate(&kvEntry{})},
		{5, "templates", autoMigrate(&TemplateVersion{}, &TemplateHead{}, &TemplateAudit{}, &TemplateDraft{})},
		{6, "care_runs", autoMigrate(&CareRun{})},
		{7, "surveys", autoMigrate(&Survey{})},
		{8, "tasks", autoMigrate(&Task{}, &TaskEvent{})},
		{9, "staff_bindings", autoMigrate(&BindingCode{}, &bindAttempt{})},
		{10, "messages_provider_index", providerIndex},
		{11, "tasks_assign_seq", taskAssignSeq},
		{12, "orders_dedup_key", ordersDedupKey},
		{13, "messages_drop_provider_index", dropProviderIndex},
		{14, "identities_audience_index", identitiesAudienceIndex},
		{15, "api_tokens_lifecycle", apiTokensLifecycle},
		{16, "messages_any_content", messagesAnyContent},
		{17, "customer_phone_keys", phoneKeys},
		{18, "console_sign_in", autoMigrate(&SignInCode{}, &signInAttempt{}, &StaffPassword{}, &ConsoleSession{})},
		{19, "conversations", conversationsBackfill},
		{20, "quick_replies", autoMigrate(&QuickReply{})},
		{21, "staff_epoch", autoMigrate(&Staff{})},
		{22, "audit_events", autoMigrate(&AuditEvent{})},
		{23, "import_jobs", autoMigrate(&ImportJob{}, &ImportBadRow{})},
		{24, "orders_exact_money", ordersExactMoney},
		{25, "customer_intelligence", customerIntelligence},
		{26, "report_figures", reportFigures},
		{27, "segments_and_campaigns", segmentsAndCampaigns},
		{28, "customers_segment_indexes", autoMigrate(&Customer{})},
		{29, "points_ledger", pointsLedger},
		{30, "report_points_indexes", reportPointsIndexes},
		{31, "drop_customers_tier_index", dropCustomersTierIndex},
		{32, "drop_customers_unsearched_indexes", dropCustomersUnsearchedIndexes},
	}
}

// schemaMigration records an applied step.
type schemaMigration struct {
	ID        string `gorm:"primaryKey;size:100"`
	AppliedAt time.Time
}

func (schemaMigration) TableName() string { return "schema_migrations" }

// Migrate brings the schema up to date. Safe to run from several processes
// at once, on one server or on a cluster (Galera, TiDB), where a named
// lock such as GET_LOCK holds on one server only: the processes take turns
// through a lease in a table row (lockSchema), and a step that fails
// because the change it makes is already there (another process made it)
// counts as applied once a re-check agrees; every step is idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	if s.dialect == MySQL {
		// Session: without it every statement shares one Statement and a
		// step after the first would migrate schema_migrations instead.
		db = db.Set("gorm:table_options", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci")
	}
	db = db.Set(phoneRegionSetting, s.phoneRegion).Session(&gorm.Session{})
	unlock, err := s.lockSchema(ctx, db)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer unlock()
	if err := rerunIfExists(func() error { return db.AutoMigrate(&schemaMigration{}) }); err != nil {
		return fmt.Errorf("migrate: schema table: %w", err)
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	for _, m := range migrations() {
		if m.appliedIn(applied) {
			continue
		}
		err := m.Run(db)
		for again := 0; err != nil && alreadyExists(err) && again < 3; again++ {
			// Another process made this change: done if it recorded the
			// step, else the step runs again and finds its work there.
			if applied, rerr := s.appliedMigrations(ctx); rerr == nil && m.appliedIn(applied) {
				err = nil
				break
			}
			err = m.Run(db)
		}
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", m.id(), err)
		}
		err = db.Create(&schemaMigration{ID: m.id(), AppliedAt: s.Now()}).Error
		if err != nil && !isDuplicate(err) {
			return fmt.Errorf("migrate: record %s: %w", m.id(), err)
		}
	}
	return nil
}

func (m migration) appliedIn(applied map[string]bool) bool { return applied[m.Name] }

// stepName is the name in a recorded id: the step's NNNN_ number and an
// older one both lead to the same name.
func stepName(id string) string {
	if len(id) > 5 && id[4] == '_' && strings.Trim(id[:4], "0123456789") == "" {
		return id[5:]
	}
	return id
}

// alreadyExists reports a schema change failing because the change is
// already there: MySQL 1050 table exists, 1060 duplicate column, 1061
// duplicate key name, 1091 nothing to drop; SQLite's "already exists" and
// "duplicate column name".
func alreadyExists(err error) bool {
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1050 || me.Number == 1060 || me.Number == 1061 || me.Number == 1091
	}
	msg := err.Error()
	return strings.Contains(msg, "already exists") || strings.Contains(msg, "duplicate column name")
}

// rerunIfExists runs a schema change once more when it failed because a
// concurrent process made it first: the second run finds it and does
// nothing.
func rerunIfExists(fn func() error) error {
	err := fn()
	if err != nil && alreadyExists(err) {
		err = fn()
	}
	return err
}

// schemaLock is the row processes take turns on while migrating: a lease
// claimed by a conditional UPDATE and renewed while its holder migrates,
// so it works wherever an UPDATE does (a Galera cluster certifies two
// nodes' claims of the row against each other) and a holder that dies
// frees it within schemaLockTTL.
type schemaLock struct {
	Name       string    `gorm:"primaryKey;size:32"`
	Holder     string    `gorm:"size:64;not null;default:''"`
	LeaseUntil time.Time `gorm:"not null"`
	// Epoch grows on every claim and renewal, so the UPDATE always changes
	// the row (MySQL counts only changed rows as affected).
	Epoch int64 `gorm:"not null;default:0"`
}

func (schemaLock) TableName() string { return "schema_lock" }

// schemaLockTTL is how long a claim of the schema lock lasts without being
// renewed; the holder renews it every third of that.
const schemaLockTTL = 30 * time.Second

// lockSchema waits for the schema lock and holds it until unlock. The
// lease is on this machine's clock, not the store's (tests move that one).
func (s *Store) lockSchema(ctx context.Context, db *gorm.DB) (unlock func(), err error) {
	if err := rerunIfExists(func() error { return db.AutoMigrate(&schemaLock{}) }); err != nil {
		return nil, fmt.Errorf("schema lock table: %w", err)
	}
	const name = "migrate"
	err = retry(ctx, func() error {
		return db.Clauses(clause.OnConflict{DoNothing: true}).Create(&schemaLock{Name: name, LeaseUntil: unset()}).Error
	})
	if err != nil && !isDuplicate(err) {
		return nil, fmt.Errorf("schema lock: %w", err)
	}
	host, _ := os.Hostname()
	token := claimToken(fmt.Sprintf("%s:%d", host, os.Getpid()))
	claim := func(where string, args ...any) (bool, error) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		var res *gorm.DB
		err := retry(ctx, func() error {
			res = db.Model(&schemaLock{}).Where("name = ? AND "+where, append([]any{name}, args...)...).
				Updates(map[string]any{"holder": token, "lease_until": now.Add(schemaLockTTL), "epoch": gorm.Expr("epoch + 1")})
			return res.Error
		})
		if err != nil {
			return false, fmt.Errorf("schema lock: %w", err)
		}
		return res.RowsAffected == 1, nil
	}
	for {
		ok, err := claim("(holder = ? OR lease_until < ?)", "", time.Now().UTC())
		if err == nil && ok {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("schema lock: waiting for another process to finish migrating: %w", ctx.Err())
		}
		if err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
		case <-time.After(100*time.Millisecond + rand.N(100*time.Millisecond)):
		}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(schemaLockTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				// A failed renewal is not fatal: if the lease lapses and
				// another process starts migrating, the steps are
				// idempotent and tolerate each other (Migrate).
				_, _ = claim("holder = ?", token)
			}
		}
	}()
	return func() {
		close(stop)
		<-stopped
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		db.WithContext(rctx).Model(&schemaLock{}).Where("name = ? AND holder = ?", name, token).
			Updates(map[string]any{"holder": "", "lease_until": unset(), "epoch": gorm.Expr("epoch + 1")})
	}, nil
}

// appliedMigrations is the set of applied steps' names.
func (s *Store) appliedMigrations(ctx context.Context) (map[string]bool, error) {
	var rows []schemaMigration
	if err := s.db.WithContext(ctx).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("migrate: read applied: %w", err)
	}
	applied := make(map[string]bool, len(rows))
	for _, r := range rows {
		applied[stepName(r.ID)] = true
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
		if !m.appliedIn(applied) {
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

// dropCustomersTierIndex drops idx_customers_tier: ix_customers_tier_city
// starts with tier and serves every read it served, while each customer
// written (an import's rows, the nightly tier changes) paid for both.
func dropCustomersTierIndex(tx *gorm.DB) error {
	if !tx.Migrator().HasIndex(&Customer{}, "idx_customers_tier") {
		return nil
	}
	return tx.Migrator().DropIndex(&Customer{}, "idx_customers_tier")
}

// dropCustomersUnsearchedIndexes drops the indexes on customers' name,
// phone and last_inbound_at, which no query can use: the customer list
// searches name LIKE '%q%' OR phone ..., where the unanchored LIKE makes
// the server read the rows by id anyway (EXPLAIN in BENCHMARKS.md's import
// section); a number on record is looked up by phone_key; last_inbound_at
// is only read with its customer. Each cost every customer an import
// writes, and last_inbound_at every inbound message's touch.
func dropCustomersUnsearchedIndexes(tx *gorm.DB) error {
	for _, name := range []string{"idx_customers_name", "idx_customers_phone", "idx_customers_last_inbound_at"} {
		if !tx.Migrator().HasIndex(&Customer{}, name) {
			continue
		}
		if err := tx.Migrator().DropIndex(&Customer{}, name); err != nil {
			return err
		}
	}
	return nil
}
