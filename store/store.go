// Package store is Rapport's domain: customers, identities, messages, tasks,
// care runs, templates and the outbox, persisted with GORM on MySQL or an
// embedded pure-Go SQLite. GORM stays inside this package.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Config selects the database. It is the `database:` block of config.yaml.
type Config struct {
	Driver string `yaml:"driver"` // sqlite | mysql
	DSN    string `yaml:"dsn"`
}

// Dialects.
const (
	SQLite = "sqlite"
	MySQL  = "mysql"
)

// Validate checks the driver and DSN without connecting.
func (c Config) Validate() error {
	switch c.Driver {
	case SQLite:
		if strings.TrimSpace(c.DSN) == "" {
			return fmt.Errorf("database.dsn: empty")
		}
	case MySQL:
		if _, err := mysqlDSN(c.DSN); err != nil {
			return fmt.Errorf("database.dsn: %w", err)
		}
	default:
		return fmt.Errorf("database.driver: %q is not sqlite or mysql", c.Driver)
	}
	return nil
}

// Store is the handle every other package uses to reach the database.
type Store struct {
	db      *gorm.DB
	dialect string
	now     func() time.Time
	// staff caches the few staff chat bindings: every inbound message asks
	// "is this staff?", and the answer changes only on /bind.
	staff staffCache
	// inbox groups concurrent inbound messages into one write (inbox.go).
	inbox groupCommit[*arrival]
	// beforeArrivalRead runs before each read-back of a group's rows;
	// tests use it to make a row go missing (WithArrivalReadHook).
	beforeArrivalRead func(*gorm.DB)
	// scan runs the big audience reads as prepared statements: on MySQL
	// their rows then come in the binary protocol instead of as text that
	// the driver parses number by number (interpolateParams otherwise).
	scan *gorm.DB
	// agentsSeeAll lifts the agents' customer scope (access.go).
	agentsSeeAll bool
	// phoneRegion is where a phone number without a country code is
	// from (WithPhoneRegion).
	phoneRegion string
	// figures computes a customer's figures inside the transaction of an
	// event that changes them (OnFigures, stats.go).
	figures figureHook
	// points holds the earning rules (OnPoints, points.go).
	points pointsHook
	// redeems groups concurrent redemptions into one transaction
	// (redeem.go).
	redeems groupCommit[*redemption]
	// rewards caches the rewards redeemed (reward.go).
	rewards rewardCache
	// passwords holds a slot per password hash being computed: each
	// takes 19 MiB (session.go).
	passwords chan struct{}
	// enqueued counts the outbound rows this process has queued
	// (Enqueued).
	enqueued atomic.Uint64
}

// Option adjusts a Store at Open.
type Option func(*Store)

// WithClock replaces time.Now; tests use it to move time without waiting.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Open connects to the database. It does not migrate; call Migrate.
func Open(ctx context.Context, cfg Config, opts ...Option) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{dialect: cfg.Driver, now: time.Now, phoneRegion: DefaultPhoneRegion, passwords: make(chan struct{}, 2)}
	s.inbox, s.redeems = newInbox(), newRedeemQueue()
	for _, o := range opts {
		o(s)
	}
	gcfg := &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return s.now().UTC().Truncate(time.Millisecond) },
		Logger:                 logger.Discard,
	}
	var dial func() gorm.Dialector
	switch cfg.Driver {
	case SQLite:
		dsn, err := sqliteDSN(cfg.DSN)
		if err != nil {
			return nil, err
		}
		dial = func() gorm.Dialector { return sqlite.Open(dsn) }
	case MySQL:
		dsn, err := sessionDSN(ctx, cfg.DSN)
		if err != nil {
			return nil, err
		}
		// Without RETURNING, MariaDB reports duplicates the way MySQL 8 does
		// (RowsAffected 0), which the insert-or-ignore paths rely on.
		dial = func() gorm.Dialector {
			return mysql.New(mysql.Config{DSN: dsn, DisableWithReturning: true, DefaultStringSize: 191})
		}
	}
	// Retried: several processes opening one fresh SQLite file at once
	// can meet SQLITE_BUSY while one of them switches it to WAL, a step
	// SQLite does not always wait for under the busy timeout.
	var db *gorm.DB
	err := retry(ctx, func() error {
		var err error
		db, err = openDB(ctx, cfg.Driver, dial(), gcfg)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.db = db
	s.scan = db.Session(&gorm.Session{PrepareStmt: true})
	return s, nil
}

// openDB opens the pool, sizes it and checks that the database answers.
func openDB(ctx context.Context, driver string, dial gorm.Dialector, gcfg *gorm.Config) (*gorm.DB, error) {
	db, err := gorm.Open(dial, gcfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", driver, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", driver, err)
	}
	if driver == MySQL {
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetMaxIdleConns(32)
		sqlDB.SetConnMaxLifetime(5 * time.Minute)
	} else {
		// Every connection stays open once made: the pure-Go driver's
		// statement-interrupt goroutine races a Close that follows a
		// cancelled statement, and with the default two idle slots the
		// pool closed a connection after most busy moments. (A
		// connection is also a page cache worth keeping.)
		sqlDB.SetMaxOpenConns(8)
		sqlDB.SetMaxIdleConns(8)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("ping %s: %w", driver, err)
	}
	return db, nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Dialect returns SQLite or MySQL.
func (s *Store) Dialect() string { return s.dialect }

// Now is the store's clock, in UTC.
func (s *Store) Now() time.Time { return s.now().UTC() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// sqliteDSN turns a plain path into a DSN with the pragmas Rapport needs:
// WAL plus BEGIN IMMEDIATE so read-then-write transactions queue on the
// busy timeout instead of failing with SQLITE_BUSY.
func sqliteDSN(dsn string) (string, error) {
	if strings.HasPrefix(dsn, "file:") || strings.Contains(dsn, "?") {
		return dsn, nil
	}
	if dsn != ":memory:" {
		if dir := filepath.Dir(dsn); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", fmt.Errorf("database.dsn: %w", err)
			}
		}
	}
	// A URI's path: '%' or '#' in the file name would start an escape or
	// a fragment (cutting the path and losing the pragmas below).
	path := strings.NewReplacer("%", "%25", "#", "%23").Replace(dsn)
	// The busy timeout first: the pragmas run in order, and switching a
	// fresh file to WAL while another process opens it fails at once
	// (SQLITE_BUSY) unless the timeout is already set.
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate", nil
}

// mysqlDSN validates a DSN and forces the options Rapport relies on:
// parseTime, UTC, utf8mb4.
func mysqlDSN(dsn string) (string, error) {
	c, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	c.ParseTime = true
	c.Loc = time.UTC
	if c.Collation == "" || !strings.HasPrefix(c.Collation, "utf8mb4") {
		c.Collation = "utf8mb4_unicode_ci"
	}
	if c.Params == nil {
		c.Params = map[string]string{}
	}
	delete(c.Params, "charset")
	c.Params["time_zone"] = "'+00:00'"
	// Interpolating parameters client-side saves the prepare and close round
	// trips the driver otherwise makes for every parameterised statement;
	// safe because the connection charset is utf8mb4.
	c.InterpolateParams = true
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	return c.FormatDSN(), nil
}

// sessionDSN is the DSN of the pool: mysqlDSN's options plus the session
// settings the store's transactions are written for, which depend on the
// server, so it asks the server first (one connection, once).
//
//   - READ COMMITTED: every statement reads what is committed when it runs.
//     The store's read-then-write transactions take a row lock or make a
//     conditional UPDATE first and read after it; under TiDB's repeatable
//     read those reads would come from a snapshot older than the lock wait.
//     Nothing relies on gap locks (see assignment.go). MariaDB before 11.1
//     names the variable tx_isolation, MySQL 8 transaction_isolation;
//     TiDB knows both.
//   - wsrep_sync_wait=1 on a Galera node (wsrep_on): a read waits until the
//     node has applied what the cluster committed before it, so a replica
//     reads what another replica just wrote through another node. Left
//     alone when the DSN sets it (docs/operations.md has its cost).
func sessionDSN(ctx context.Context, raw string) (string, error) {
	base, err := mysqlDSN(raw)
	if err != nil {
		return "", fmt.Errorf("database.dsn: %w", err)
	}
	c, err := gomysql.ParseDSN(base)
	if err != nil {
		return "", fmt.Errorf("database.dsn: %w", err)
	}
	// The isolation is not the DSN's to choose, and a server refuses the
	// connection over a variable it does not know.
	delete(c.Params, "tx_isolation")
	delete(c.Params, "transaction_isolation")
	probe, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		return "", fmt.Errorf("open mysql: %w", err)
	}
	defer probe.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := probe.Conn(pctx)
	if err != nil {
		return "", fmt.Errorf("ping mysql: %w", err)
	}
	defer conn.Close()
	var v string
	isolation := "transaction_isolation"
	if err := conn.QueryRowContext(pctx, "SELECT @@transaction_isolation").Scan(&v); err != nil {
		if pctx.Err() != nil {
			return "", fmt.Errorf("ping mysql: %w", err)
		}
		isolation = "tx_isolation"
	}
	c.Params[isolation] = "'READ-COMMITTED'"
	// MySQL and TiDB have no wsrep_on: an error means no Galera.
	galera := conn.QueryRowContext(pctx, "SELECT @@wsrep_on").Scan(&v) == nil && (v == "1" || strings.EqualFold(v, "ON"))
	if _, set := c.Params["wsrep_sync_wait"]; galera && !set {
		c.Params["wsrep_sync_wait"] = "1"
	}
	return c.FormatDSN(), nil
}

// tx runs fn in a transaction, retrying the whole transaction while it
// fails with a conflict another attempt may not meet (retryable).
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return retry(ctx, func() error { return s.db.WithContext(ctx).Transaction(fn) })
}

// txCreating is tx for a transaction that creates a row it found
// missing. At READ COMMITTED a missing row is not locked, so another
// writer may create it between the read and the INSERT, which then fails
// on the unique key; run again, the transaction finds that row, locks it
// and updates it.
func (s *Store) txCreating(ctx context.Context, fn func(tx *gorm.DB) error) error {
	err := s.tx(ctx, fn)
	if isDuplicate(err) {
		err = s.tx(ctx, fn)
	}
	return err
}

// retryAttempts bounds retry; with its backoff the attempts span about 2 s,
// enough for conflicts between replicas on a hot row to sort themselves out.
const retryAttempts = 8

// retry runs fn again while it fails with a retryable conflict, after a
// growing, jittered pause (conflicting replicas would otherwise retry in
// step and conflict again). fn must be safe to run again: a whole
// transaction, or one statement outside any transaction — never one
// statement inside a transaction, which a deadlock or a certification
// failure has already rolled back as a whole.
func retry(ctx context.Context, fn func() error) error {
	var err error
	pause := 10 * time.Millisecond
	for attempt := 0; attempt < retryAttempts; attempt++ {
		err = fn()
		if err == nil || !retryable(err) || attempt == retryAttempts-1 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause/2 + rand.N(pause/2+1)):
		}
		pause = min(2*pause, 640*time.Millisecond)
	}
	return err
}

// retryable reports a failure that a new attempt of the whole transaction
// may not meet:
//   - MySQL/MariaDB 1213 deadlock (and on Galera a certification conflict
//     with another node's transaction) and 1205 lock-wait timeout;
//   - TiDB 9007 write conflict, 8002 SELECT FOR UPDATE write conflict,
//     8022 retryable transaction error, 8028 schema changed during the
//     transaction, and 1105 "pessimistic lock retry limit reached" (TiDB's
//     generic code, told apart by its message);
//   - SQLite busy.
func retryable(err error) bool {
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1213, 1205, 9007, 8002, 8022, 8028:
			return true
		case 1105:
			return strings.Contains(me.Message, "pessimistic lock retry limit reached")
		}
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY")
}

// isDuplicate reports a unique-key violation (translated by GORM).
func isDuplicate(err error) bool { return errors.Is(err, gorm.ErrDuplicatedKey) }

// forUpdate locks the rows a read returns until the transaction ends, on
// MySQL; SQLite's BEGIN IMMEDIATE already serialises writers.
func (s *Store) forUpdate(tx *gorm.DB) *gorm.DB {
	if s.dialect == MySQL {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
