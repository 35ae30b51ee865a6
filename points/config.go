// Package points runs the loyalty ledger's rules: what orders and bonuses
// earn (Rules, set on the store), when points expire and the daily job
// that expires them (Expire, Schedule). The ledger, vouchers and rewards
// themselves are store's; this package stands on store and meets the
// others only in cmd.
package points

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// Expiry policies.
const (
	ExpireNever         = "never"
	ExpireEndOfNextYear = "end_of_next_year"
	maxRate             = 1000.0
	defaultNoticeDays   = 30
	maxNoticeDays       = 365
	maxBonus            = 1_000_000
	rateScale           = 1000 // rates are kept in thousandths: exact
)

// Config is the `points:` block of config.yaml.
type Config struct {
	// Earn is points per yuan by order kind (purchase, service).
	Earn map[string]float64 `yaml:"earn"`
	// TierMultiplier multiplies what an order earns by the customer's
	// tier before the order (A, B, C; a missing tier: 1).
	TierMultiplier  map[string]float64 `yaml:"tier_multiplier"`
	BirthdayBonus   int64              `yaml:"birthday_bonus"`
	FirstOrderBonus int64              `yaml:"first_order_bonus"`
	SurveyBonus     int64              `yaml:"survey_bonus"`
	// Expire is the policy: never, or end_of_next_year (points earned in
	// year Y expire at the end of Y+1, business time zone).
	Expire string `yaml:"expire"`
	// ExpiryNoticeDays: a customer is reminded this many days before
	// their points expire (0: no reminder).
	ExpiryNoticeDays int `yaml:"expiry_notice_days"`
}

// DefaultConfig is what an empty block means.
func DefaultConfig() Config {
	return Config{
		Earn:             map[string]float64{store.OrderPurchase: 1, store.OrderService: 1},
		TierMultiplier:   map[string]float64{"A": 1.5, "B": 1.2, "C": 1},
		Expire:           ExpireEndOfNextYear,
		ExpiryNoticeDays: defaultNoticeDays,
	}
}

// Validate checks every value and names the key of the first bad one.
func (c Config) Validate() error {
	for _, k := range sortedKeys(c.Earn) {
		if k != store.OrderPurchase && k != store.OrderService {
			return fmt.Errorf("points.earn.%s: not an order kind (purchase, service)", k)
		}
		if err := rate(c.Earn[k]); err != nil {
			return fmt.Errorf("points.earn.%s: %w", k, err)
		}
	}
	for _, k := range sortedKeys(c.TierMultiplier) {
		if k != string(store.TierA) && k != string(store.TierB) && k != string(store.TierC) {
			return fmt.Errorf("points.tier_multiplier.%s: not a tier (A, B, C)", k)
		}
		if err := rate(c.TierMultiplier[k]); err != nil {
			return fmt.Errorf("points.tier_multiplier.%s: %w", k, err)
		}
	}
	for _, b := range []struct {
		key string
		v   int64
	}{{"birthday_bonus", c.BirthdayBonus}, {"first_order_bonus", c.FirstOrderBonus}, {"survey_bonus", c.SurveyBonus}} {
		if b.v < 0 || b.v > maxBonus {
			return fmt.Errorf("points.%s: %d is not 0-%d", b.key, b.v, maxBonus)
		}
	}
	if c.Expire != ExpireNever && c.Expire != ExpireEndOfNextYear {
		return fmt.Errorf("points.expire: %q is not never or end_of_next_year", c.Expire)
	}
	if c.ExpiryNoticeDays < 0 || c.ExpiryNoticeDays > maxNoticeDays {
		return fmt.Errorf("points.expiry_notice_days: %d is not 0-%d", c.ExpiryNoticeDays, maxNoticeDays)
	}
	return nil
}

// rate checks a rate: at most three decimals, which are kept exactly.
func rate(v float64) error {
	if !(v >= 0 && v <= maxRate) {
		return fmt.Errorf("%v is not 0-%v", v, maxRate)
	}
	if m := v * rateScale; math.Abs(m-math.Round(m)) > 1e-6 {
		return fmt.Errorf("%v has more than three decimals", v)
	}
	return nil
}

func milli(v float64) int64 { return int64(math.Round(v * rateScale)) }

func sortedKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Rules are the store's earning rules for c, with loc the business time
// zone of the expiry. An order earns floor(yuan × earn[kind] ×
// multiplier[tier]), computed exactly (rates in thousandths, amounts in
// fen: no float rounding takes a point).
func Rules(c Config, loc *time.Location) store.PointsRules {
	earn := map[string]int64{}
	for k, v := range c.Earn {
		earn[k] = milli(v)
	}
	mult := map[store.Tier]int64{}
	for k, v := range c.TierMultiplier {
		mult[store.Tier(k)] = milli(v)
	}
	r := store.PointsRules{
		FirstOrder: c.FirstOrderBonus, Survey: c.SurveyBonus, Birthday: c.BirthdayBonus,
		Order: func(kind string, amount store.Money, tier store.Tier) int64 {
			m, ok := mult[tier]
			if !ok {
				m = rateScale
			}
			return OrderPoints(amount.Fen(), earn[kind], m)
		},
	}
	if c.Expire == ExpireEndOfNextYear {
		r.Expires = func(t time.Time) *time.Time {
			e := EndOfNextYear(t, loc)
			return &e
		}
	}
	return r
}

// OrderPoints is floor(fen/100 × earnMilli/1000 × multMilli/1000), exact.
func OrderPoints(fen, earnMilli, multMilli int64) int64 {
	if fen <= 0 || earnMilli <= 0 || multMilli <= 0 {
		return 0
	}
	n := new(big.Int).Mul(big.NewInt(fen), big.NewInt(earnMilli))
	n.Mul(n, big.NewInt(multMilli))
	n.Quo(n, big.NewInt(100*rateScale*rateScale))
	if !n.IsInt64() {
		return math.MaxInt64
	}
	return n.Int64()
}

// EndOfNextYear is when points credited at t expire under
// end_of_next_year: the first instant of year Y+2 in loc, Y being t's
// year in loc.
func EndOfNextYear(t time.Time, loc *time.Location) time.Time {
	return time.Date(t.In(loc).Year()+2, 1, 1, 0, 0, 0, 0, loc).UTC()
}

// Boundary is the latest expiry instant at or before t: the start of t's
// year in loc (every end_of_next_year expiry falls on one).
func Boundary(t time.Time, loc *time.Location) time.Time {
	return time.Date(t.In(loc).Year(), 1, 1, 0, 0, 0, 0, loc).UTC()
}
