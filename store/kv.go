package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// kvEntry is one row of a small shared key/value table with optional
// expiry: state every replica must agree on (the WeChat access token,
// the web chat cookie secret). Not for bulk data.
type kvEntry struct {
	Name      string     `gorm:"primaryKey;size:191"`
	Value     string     `gorm:"type:text;not null"`
	ExpiresAt *time.Time `gorm:"index"`
	UpdatedAt time.Time
}

func (kvEntry) TableName() string { return "kv" }

// MaxKVKey bounds a key's length in bytes.
const MaxKVKey = 191

func kvKey(key string) error {
	if key == "" || len(key) > MaxKVKey {
		return Errorf(EINVALID, "kv key must be 1-%d bytes", MaxKVKey)
	}
	return nil
}

// expiry turns a TTL into a stored expiry; ttl <= 0 means never.
func (s *Store) expiry(ttl time.Duration) *time.Time {
	if ttl <= 0 {
		return nil
	}
	t := s.Now().Add(ttl).Truncate(time.Millisecond)
	return &t
}

// KVGet returns the value under key; ok is false when the key is absent or
// expired.
func (s *Store) KVGet(ctx context.Context, key string) (value string, ok bool, err error) {
	var rows []kvEntry
	now := s.Now()
	err = s.db.WithContext(ctx).Where("name = ? AND (expires_at IS NULL OR expires_at > ?)", key, now).Limit(1).Find(&rows).Error
	if err != nil {
		return "", false, fmt.Errorf("kv get: %w", err)
	}
	if len(rows) == 0 {
		return "", false, nil
	}
	return rows[0].Value, true, nil
}

// KVSet stores value under key for ttl (<= 0: no expiry), replacing any
// previous value.
func (s *Store) KVSet(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := kvKey(key); err != nil {
		return err
	}
	e := kvEntry{Name: key, Value: value, ExpiresAt: s.expiry(ttl), UpdatedAt: s.Now().Truncate(time.Millisecond)}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"value", "expires_at", "updated_at"}),
	}).Create(&e).Error
	if err != nil {
		return fmt.Errorf("kv set: %w", err)
	}
	return nil
}

// KVAdd stores value under key only if the key is absent or expired, and
// reports whether it did. Of several replicas adding the same key at once,
// exactly one wins; the others read the winner's value with KVGet.
func (s *Store) KVAdd(ctx context.Context, key, value string, ttl time.Duration) (bool, error) {
	if err := kvKey(key); err != nil {
		return false, err
	}
	now := s.Now().Truncate(time.Millisecond)
	db := s.db.WithContext(ctx)
	e := kvEntry{Name: key, Value: value, ExpiresAt: s.expiry(ttl), UpdatedAt: now}
	res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&e)
	if res.Error != nil && !isDuplicate(res.Error) {
		return false, fmt.Errorf("kv add: %w", res.Error)
	}
	if res.Error == nil && res.RowsAffected == 1 {
		return true, nil
	}
	// Present: take it over only if it has expired (a conditional UPDATE,
	// so two replicas cannot both succeed).
	res = db.Model(&kvEntry{}).Where("name = ? AND expires_at IS NOT NULL AND expires_at <= ?", key, now).
		Updates(map[string]any{"value": value, "expires_at": e.ExpiresAt, "updated_at": now})
	if res.Error != nil {
		return false, fmt.Errorf("kv add: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// KVDelete removes key. With ifValue non-nil it removes the key only while
// it still holds *ifValue, so a replica dropping a value it found bad does
// not drop a fresh one another replica stored meanwhile. It reports whether
// a row was removed.
func (s *Store) KVDelete(ctx context.Context, key string, ifValue *string) (bool, error) {
	q := s.db.WithContext(ctx).Where("name = ?", key)
	if ifValue != nil {
		q = q.Where("value = ?", *ifValue)
	}
	res := q.Delete(&kvEntry{})
	if res.Error != nil {
		return false, fmt.Errorf("kv delete: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// KVPurgeExpired deletes entries that expired over a minute ago (expired
// ones already read as absent; this only keeps short-lived keys, like
// WeChat nonces, from piling up). The minute's grace leaves KVAdd, which
// takes over an expired key in two statements, never finding it gone in
// between. It returns how many rows it removed.
func (s *Store) KVPurgeExpired(ctx context.Context) (int64, error) {
	cut := s.Now().Add(-time.Minute)
	res := s.db.WithContext(ctx).Where("expires_at IS NOT NULL AND expires_at < ?", cut).Delete(&kvEntry{})
	if res.Error != nil {
		return 0, fmt.Errorf("kv purge: %w", res.Error)
	}
	return res.RowsAffected, nil
}
