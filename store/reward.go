package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Reward is an entry of the catalogue customers redeem points for: a
// voucher (维修券, 精品券) of Value, valid ValidDays from redemption.
type Reward struct {
	ID        int64  `gorm:"primaryKey" json:"id"`
	Name      string `gorm:"size:128;not null" json:"name"`
	Points    int64  `gorm:"not null" json:"points"`
	Value     Money  `gorm:"column:value_fen;type:bigint;not null;default:0" json:"value"`
	Kind      string `gorm:"size:32;not null;default:'voucher'" json:"kind"`
	ValidDays int    `gorm:"not null;default:90" json:"valid_days"`
	Active    bool   `gorm:"not null;default:true" json:"active"`
	// Stock is how many are left to redeem; nil: unlimited.
	Stock     *int64    `json:"stock"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RewardInput creates a reward or changes the fields given. Stock: a
// negative number clears it (unlimited).
type RewardInput struct {
	Name      *string `json:"name"`
	Points    *int64  `json:"points"`
	Value     *Money  `json:"value"`
	Kind      *string `json:"kind"`
	ValidDays *int    `json:"valid_days"`
	Active    *bool   `json:"active"`
	Stock     *int64  `json:"stock"`
}

func (in RewardInput) apply(r *Reward) error {
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		if n == "" {
			return Invalid("name", "required")
		} else if utf8.RuneCountInString(n) > 128 {
			return Invalid("name", "longer than 128 characters")
		}
		r.Name = n
	}
	if in.Points != nil {
		if *in.Points <= 0 || *in.Points > 1_000_000_000 {
			return Invalid("points", "must be between 1 and 1000000000")
		}
		r.Points = *in.Points
	}
	if in.Value != nil {
		if in.Value.Fen() < 0 || in.Value.Fen() > MaxMoney {
			return Invalid("value", "must not be negative")
		}
		r.Value = *in.Value
	}
	if in.Kind != nil {
		k := strings.TrimSpace(*in.Kind)
		if k == "" {
			k = "voucher"
		} else if utf8.RuneCountInString(k) > 32 {
			return Invalid("kind", "longer than 32 characters")
		}
		r.Kind = k
	}
	if in.ValidDays != nil {
		if *in.ValidDays < 1 || *in.ValidDays > 3660 {
			return Invalid("valid_days", "must be between 1 and 3660")
		}
		r.ValidDays = *in.ValidDays
	}
	if in.Active != nil {
		r.Active = *in.Active
	}
	if in.Stock != nil {
		if *in.Stock < 0 {
			r.Stock = nil
		} else {
			v := *in.Stock
			r.Stock = &v
		}
	}
	return nil
}

// CreateReward adds a reward to the catalogue: name and points required;
// kind defaults to voucher, valid_days to 90, active to true.
func (s *Store) CreateReward(ctx context.Context, in RewardInput) (*Reward, error) {
	r := &Reward{Kind: "voucher", ValidDays: 90, Active: true}
	if err := in.apply(r); err != nil {
		return nil, err
	}
	if r.Name == "" {
		return nil, Invalid("name", "required")
	}
	if r.Points == 0 {
		return nil, Invalid("points", "required")
	}
	// GORM replaces a zero value whose column has a default by the
	// default: active=false is set after the insert, in its transaction.
	active := r.Active
	err := s.tx(ctx, func(tx *gorm.DB) error {
		r.ID = 0 // a retry inserts afresh
		if err := tx.Create(r).Error; err != nil {
			return err
		}
		if !active {
			r.Active = false
			return tx.Model(r).Update("active", false).Error
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create reward: %w", err)
	}
	return r, nil
}

// UpdateReward changes the fields given. Vouchers already issued keep
// what they were issued with.
func (s *Store) UpdateReward(ctx context.Context, id int64, in RewardInput) (*Reward, error) {
	var r Reward
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.forUpdate(tx).Take(&r, id).Error; err != nil {
			return notFound(err, "reward %d", id)
		}
		if err := in.apply(&r); err != nil {
			return err
		}
		r.UpdatedAt = s.Now().UTC().Truncate(time.Millisecond)
		return tx.Select("*").Omit("id", "created_at").Updates(&r).Error
	})
	if err != nil {
		return nil, fmt.Errorf("update reward: %w", err)
	}
	s.rewards.put(&r)
	return &r, nil
}

// Rewards lists the catalogue by points, then id; activeOnly leaves out
// the inactive and those out of stock; maxPoints > 0 only those costing at
// most that.
func (s *Store) Rewards(ctx context.Context, activeOnly bool, maxPoints int64) ([]*Reward, error) {
	q := s.db.WithContext(ctx).Order("points, id").Limit(500)
	if activeOnly {
		q = q.Where("active = ? AND (stock IS NULL OR stock > 0)", true)
	}
	if maxPoints > 0 {
		q = q.Where("points <= ?", maxPoints)
	}
	rs := []*Reward{}
	if err := q.Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("rewards: %w", err)
	}
	return rs, nil
}

// Reward returns one reward.
func (s *Store) Reward(ctx context.Context, id int64) (*Reward, error) {
	var r Reward
	if err := s.db.WithContext(ctx).Take(&r, id).Error; err != nil {
		return nil, fmt.Errorf("reward: %w", notFound(err, "reward %d", id))
	}
	return &r, nil
}

// rewardCache keeps rewards as redemptions last read them: a group of
// redemptions issues its vouchers from it without reading the catalogue,
// and checks in the read that returns the vouchers' ids that each reward
// is still what it issued from (another replica may have changed it).
type rewardCache struct {
	mu sync.Mutex
	m  map[int64]Reward
}

// maxCachedRewards bounds the cache; a catalogue is a few dozen rewards.
const maxCachedRewards = 1000

func (c *rewardCache) get(id int64) (Reward, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[id]
	return r, ok
}

func (c *rewardCache) put(r *Reward) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedRewards {
		c.m = map[int64]Reward{}
	}
	c.m[r.ID] = *r
}

// issues reports whether a voucher of r issues what one of c would: the
// fields a voucher copies, and whether stock is counted.
func (r *Reward) issues(c *Reward) bool {
	return r.Name == c.Name && r.Points == c.Points && r.Value == c.Value && r.Kind == c.Kind &&
		r.ValidDays == c.ValidDays && r.Active == c.Active && (r.Stock == nil) == (c.Stock == nil)
}

// RewardNames returns the names of the rewards ids, by id.
func (s *Store) RewardNames(ctx context.Context, ids []int64) (map[int64]string, error) {
	return namesOf[Reward](ctx, s.db, "reward", ids)
}
