package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Lease is a named, time-limited right to do something alone across every
// process sharing the database (one dispatcher per channel). A holder renews
// it before LeaseUntil; when it stops, anyone may take it once it expires.
type Lease struct {
	Name       string    `gorm:"primaryKey;size:64"`
	Holder     string    `gorm:"size:64;not null;default:''"`
	LeaseUntil time.Time `gorm:"not null"`
	// Epoch grows on every acquisition or renewal, so the UPDATE always
	// changes the row and MySQL reports it as affected even when the clock
	// did not move; it doubles as a fencing token.
	Epoch     int64 `gorm:"not null;default:0"`
	UpdatedAt time.Time
}

func (Lease) TableName() string { return "leases" }

// HolderName names this process as a lease holder or claimer: host, pid
// and a random part (two processes in one container share host and pid),
// well inside the 64 bytes a holder may have.
func HolderName() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%.32s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// AcquireLease takes or renews the named lease for holder until now+ttl. It
// succeeds when the lease is free, expired, or already holder's, and reports
// false (no error) while another holder's lease is still valid.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || len(holder) > 64 {
		return false, Errorf(EINVALID, "lease needs a name and a holder of at most 64 bytes")
	}
	now := s.Now().Truncate(time.Millisecond)
	db := s.db.WithContext(ctx)
	// The row must exist for the conditional UPDATE to claim it. Both
	// statements are retried alone (no transaction): on a Galera cluster
	// two nodes' claims conflict at certification, and the loser's retry
	// finds the lease taken.
	err := retry(ctx, func() error {
		return db.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&Lease{Name: name, LeaseUntil: time.Unix(0, 0).UTC(), UpdatedAt: now}).Error
	})
	if err != nil && !isDuplicate(err) {
		return false, fmt.Errorf("acquire lease: %w", err)
	}
	var res *gorm.DB
	err = retry(ctx, func() error {
		res = db.Model(&Lease{}).Where("name = ? AND (holder = ? OR lease_until < ?)", name, holder, now).
			Updates(map[string]any{"holder": holder, "lease_until": now.Add(ttl), "epoch": gorm.Expr("epoch + 1"), "updated_at": now})
		return res.Error
	})
	if err != nil {
		return false, fmt.Errorf("acquire lease: %w", err)
	}
	return res.RowsAffected == 1, nil
}

// ReleaseLease gives the lease up early so another process can take over
// at once (clean shutdown). Releasing a lease one does not hold is a no-op.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	err := retry(ctx, func() error {
		return s.db.WithContext(ctx).Model(&Lease{}).Where("name = ? AND holder = ?", name, holder).
			Updates(map[string]any{"holder": "", "lease_until": time.Unix(0, 0).UTC(), "epoch": gorm.Expr("epoch + 1")}).Error
	})
	if err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	return nil
}

// LeaseHolder returns the current holder of a lease ("" when free or expired).
func (s *Store) LeaseHolder(ctx context.Context, name string) (string, error) {
	var l Lease
	err := s.db.WithContext(ctx).Where("name = ?", name).Limit(1).Find(&l).Error
	if err != nil {
		return "", fmt.Errorf("lease holder: %w", err)
	}
	if l.Holder == "" || !l.LeaseUntil.After(s.Now()) {
		return "", nil
	}
	return l.Holder, nil
}
