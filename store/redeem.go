package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Redemption redeems a reward for a customer. Key, optional, makes it
// idempotent: the same key returns the voucher it issued.
type Redemption struct {
	RewardID int64  `json:"reward_id"`
	Key      string `json:"key,omitempty"`
}

// Redeem deducts the reward's points and issues a voucher, all or
// nothing: not enough points or no stock left is ECONFLICT and nothing
// changes. The balance is debited by a conditional UPDATE, so two
// redemptions racing (replicas, a double tap) cannot both spend the same
// points.
//
// Redemptions that arrive together are written together (a group commit,
// as RecordArrival does for messages): whichever caller finds a writer
// free writes everything waiting in one transaction of six statements
// however many they are (BEGIN, one INSERT of the vouchers, their ids read
// back with their rewards as they are now, one INSERT of the ledger
// entries, one conditional debit of every balance, COMMIT), where one
// alone takes six. MySQL spends far more CPU per statement and per commit
// than per row, so this is what keeps redemptions fast under many
// concurrent redeemers. A key used before answers its voucher within the
// group. What the group cannot settle for all of its members at once (a
// balance or a stock short) rolls it back, and an inactive or unknown
// reward leaves its member out: those members then run alone, each with
// its precise answer.
func (s *Store) Redeem(ctx context.Context, by Actor, customerID int64, in Redemption) (*Voucher, error) {
	if in.RewardID <= 0 {
		return nil, Invalid("reward_id", "required")
	}
	if utf8.RuneCountInString(in.Key) > 100 {
		return nil, Invalid("key", "longer than 100 characters")
	}
	// Only agents see some customers; for anyone else the debit finds a
	// missing customer (ENOTFOUND) without a read first.
	if by.agent() {
		if err := s.SeeCustomer(ctx, by, customerID); err != nil {
			return nil, err
		}
	}
	r := &redemption{by: by, customerID: customerID, in: in}
	s.redeems.do(ctx, r, s.writeRedemptions, func(r *redemption, p any) {
		r.v, r.alone, r.err = nil, false, Errorf(EINTERNAL, "redeem: %v", p)
	})
	return s.answer(ctx, r)
}

// answer is r's result once its group is written.
func (s *Store) answer(ctx context.Context, r *redemption) (*Voucher, error) {
	if r.alone {
		return s.redeemAlone(ctx, r.by, r.customerID, r.in)
	}
	if r.err != nil {
		return nil, r.err
	}
	return r.v.view(s.Now()), nil
}

// maxRedeemGroup bounds a group (its INSERTs are a few hundred bytes a
// row).
const maxRedeemGroup = 64

// maxRedeemWriters is how many groups are written at once: while one
// waits for its commit, the next is on its way.
const maxRedeemWriters = 2

// newRedeemQueue is the queue of redemptions waiting for their group. A
// lone redemption is written in its caller's ctx: nobody else waits on it.
func newRedeemQueue() groupCommit[*redemption] {
	return groupCommit[*redemption]{maxGroup: maxRedeemGroup, maxWriters: maxRedeemWriters, soloInCallerCtx: true}
}

type redemption struct {
	by         Actor
	customerID int64
	in         Redemption

	// The result, set by the group's writer.
	v     *Voucher
	err   error
	alone bool // the group could not settle it: redeem it alone
}

// errRedeemAlone rolls a group back when it cannot settle every member at
// once.
var errRedeemAlone = errors.New("redeem: a member needs redeeming alone")

// errRewardChanged rolls a group back that issued vouchers from a cached
// reward that has changed since; the cache now has it as it is.
var errRewardChanged = errors.New("redeem: a reward changed")

// writeRedemptions writes a group and sets each member's result. A lone
// redemption is written as it is, in the writer's turn (so the queue
// forms behind it).
func (s *Store) writeRedemptions(ctx context.Context, group []*redemption) {
	if len(group) == 1 {
		r := group[0] // the caller itself
		r.v, r.err = s.redeemAlone(ctx, r.by, r.customerID, r.in)
		return
	}
	err := errRewardChanged
	for attempt := 0; attempt < 2 && err == errRewardChanged; attempt++ {
		err = s.tx(ctx, func(tx *gorm.DB) error { return s.redeemGroup(tx, group) })
	}
	if err != nil {
		// errRedeemAlone or a failure of the group as a whole: each member
		// alone learns its own answer.
		for _, r := range group {
			r.v, r.alone = nil, true
		}
	}
}

// redeemGroup is the group's transaction; it may run again (retry), so it
// sets every member's result afresh.
func (s *Store) redeemGroup(tx *gorm.DB, group []*redemption) error {
	var ids []int64
	for _, r := range group {
		r.v, r.alone = nil, false
		if !slices.Contains(ids, r.in.RewardID) {
			ids = append(ids, r.in.RewardID)
		}
	}
	rewards := map[int64]*Reward{}
	var missing []int64
	for _, id := range ids {
		if rw, ok := s.rewards.get(id); ok {
			rewards[id] = &rw
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		var rs []*Reward
		if err := tx.Where("id IN ?", missing).Find(&rs).Error; err != nil {
			return err
		}
		for _, rw := range rs {
			rewards[rw.ID] = rw
			s.rewards.put(rw)
		}
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	var rows []Voucher
	var owners []*redemption
	for _, r := range group {
		rw := rewards[r.in.RewardID]
		if rw == nil || !rw.Active {
			// Its refusal, or the voucher its key already has, is the
			// single path's to tell.
			r.alone = true
			continue
		}
		rows = append(rows, issue(rw, r.customerID, r.in.Key, now))
		owners = append(owners, r)
	}
	if len(rows) == 0 {
		return nil
	}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error; err != nil {
		return err
	}

	// Which rows are ours, and the rewards as they are now. A key used
	// before (a double tap) or a code drawn twice left the stored row in
	// place; a code match of someone else's voucher by the same customer
	// is caught below by the entry's unique key (voucher:ID) and sends the
	// group alone.
	type stored struct {
		ID         int64
		Code       string
		CustomerID int64
		RedeemKey  *string
		// The reward, as Reward's columns (nil: none).
		RID       *int64  `gorm:"column:r_id"`
		Name      *string `gorm:"column:name"`
		Points    *int64  `gorm:"column:points"`
		Value     *int64  `gorm:"column:value_fen"`
		Kind      *string `gorm:"column:kind"`
		ValidDays *int    `gorm:"column:valid_days"`
		Active    *bool   `gorm:"column:active"`
		Stock     *int64  `gorm:"column:stock"`
	}
	codes := make([]string, len(rows))
	for i := range rows {
		codes[i] = rows[i].Code
	}
	var got []stored
	if err := tx.Table("vouchers AS v").Joins("LEFT JOIN rewards AS r ON r.id = v.reward_id").
		Select("v.id, v.code, v.customer_id, v.redeem_key, r.id AS r_id, r.name, r.points, r.value_fen, r.kind, r.valid_days, r.active, r.stock").
		Where("v.code IN ?", codes).Scan(&got).Error; err != nil {
		return err
	}
	var repeats []string
	changed := false
	for i := range rows {
		v := &rows[i]
		v.ID = 0
		for _, g := range got {
			if g.Code == v.Code && g.CustomerID == v.CustomerID && sameKey(g.RedeemKey, v.RedeemKey) {
				v.ID = g.ID
				if g.RID == nil {
					return errRewardChanged // gone
				}
				fresh := Reward{ID: *g.RID, Name: *g.Name, Points: *g.Points, Value: Fen(*g.Value), Kind: *g.Kind,
					ValidDays: *g.ValidDays, Active: *g.Active, Stock: g.Stock}
				if !fresh.issues(rewards[v.RewardID]) {
					s.rewards.put(&fresh)
					changed = true
				}
			}
		}
		if v.ID == 0 && v.RedeemKey != nil {
			repeats = append(repeats, *v.RedeemKey)
		}
	}
	if changed {
		return errRewardChanged
	}
	prev := map[string]*Voucher{}
	if len(repeats) > 0 {
		var vs []*Voucher
		if err := tx.Where("redeem_key IN ?", repeats).Find(&vs).Error; err != nil {
			return err
		}
		for _, v := range vs {
			prev[*v.RedeemKey] = v
		}
	}

	// Stock and balances: each one conditional UPDATE for the whole group;
	// a shortfall anywhere sends every member alone.
	stock := map[int64]int64{}
	debit := map[int64]int64{}
	var issued []int
	for i := range rows {
		v, r := &rows[i], owners[i]
		switch {
		case v.ID != 0:
			issued = append(issued, i)
			if rewards[v.RewardID].Stock != nil {
				stock[v.RewardID]++
			}
			debit[v.CustomerID] += v.Points
		case v.RedeemKey != nil && prev[*v.RedeemKey] != nil:
			r.v = prev[*v.RedeemKey]
		default:
			r.alone = true // a code drawn twice: draws again alone
		}
	}
	if len(issued) == 0 {
		return nil
	}
	// The entries first: the rows the group locks that others wait for
	// (a stocked reward, a customer's balance) are locked last, so held
	// for the commit only.
	entries := make([]PointsEntry, 0, len(issued))
	for _, i := range issued {
		v := &rows[i]
		vid := v.ID
		entries = append(entries, PointsEntry{CustomerID: v.CustomerID, Kind: PointsRedeem, Points: -v.Points, Reason: v.Name,
			StaffID: owners[i].by.StaffID, VoucherID: &vid, Key: keyOf("voucher", vid), CreatedAt: now})
		owners[i].v = v
	}
	if err := tx.Create(&entries).Error; err != nil {
		return err
	}
	for _, id := range sortedKeys(stock) {
		n := stock[id]
		res := tx.Exec("UPDATE rewards SET stock = stock - ? WHERE id = ? AND stock >= ?", n, id, n)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errRedeemAlone
		}
	}
	// The guard against double spending, as addEntry's: a balance is
	// debited only if it covers what the group takes from it.
	custs := sortedKeys(debit)
	cases := caseByID(custs, debit)
	res := tx.Exec("UPDATE customers SET points = points - "+cases+" WHERE id IN ? AND points >= "+cases, custs)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != int64(len(debit)) {
		return errRedeemAlone
	}
	return nil
}

// issue is the voucher a redemption of rw issues now.
func issue(rw *Reward, customerID int64, key string, now time.Time) Voucher {
	v := Voucher{CustomerID: customerID, RewardID: rw.ID, Code: newVoucherCode(), Name: rw.Name, Kind: rw.Kind,
		Value: rw.Value, Points: rw.Points, Status: VoucherUnused, ExpiresAt: now.AddDate(0, 0, rw.ValidDays), CreatedAt: now}
	if key != "" {
		k := fmt.Sprintf("%d:%s", customerID, key)
		v.RedeemKey = &k
	}
	return v
}

func sameKey(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// sortedKeys orders the rows a statement locks by id: writers on two
// replicas then lock them in the same order.
func sortedKeys(m map[int64]int64) []int64 {
	ks := make([]int64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// redeemAlone is one redemption in its own transaction.
func (s *Store) redeemAlone(ctx context.Context, by Actor, customerID int64, in Redemption) (*Voucher, error) {
	var out Voucher
	for attempt := 0; ; attempt++ {
		collided := false
		err := s.tx(ctx, func(tx *gorm.DB) error {
			var r Reward
			if err := tx.Take(&r, in.RewardID).Error; err != nil {
				return notFound(err, "reward %d", in.RewardID)
			}
			s.rewards.put(&r)
			now := s.Now().UTC().Truncate(time.Millisecond)
			out = issue(&r, customerID, in.Key, now)
			if out.RedeemKey != nil {
				// A repeat finds the voucher here or, racing the first,
				// waits on the key's unique index below until it commits.
				var prev Voucher
				err := tx.Where("redeem_key = ?", *out.RedeemKey).Take(&prev).Error
				if err == nil {
					out = prev
					return nil
				} else if err != gorm.ErrRecordNotFound {
					return err
				}
			}
			if !r.Active {
				return &Error{Code: ECONFLICT, Field: "reward_id", Message: fmt.Sprintf("reward %q is not available", r.Name)}
			}
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&out)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				if out.RedeemKey != nil {
					var prev Voucher
					if err := tx.Where("redeem_key = ?", *out.RedeemKey).Take(&prev).Error; err == nil {
						out = prev
						return nil
					}
				}
				collided = true // the code: draw another
				return nil
			}
			if r.Stock != nil {
				res := tx.Exec("UPDATE rewards SET stock = stock - 1 WHERE id = ? AND stock > 0", r.ID)
				if res.Error != nil {
					return res.Error
				}
				if res.RowsAffected == 0 {
					return &Error{Code: ECONFLICT, Field: "reward_id", Message: fmt.Sprintf("reward %q is out of stock", r.Name)}
				}
			}
			vid := out.ID
			_, err := addEntry(tx, &PointsEntry{CustomerID: customerID, Kind: PointsRedeem, Points: -r.Points, Reason: r.Name,
				StaffID: by.StaffID, VoucherID: &vid, Key: keyOf("voucher", vid), CreatedAt: now}, false)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("redeem: %w", err)
		}
		if !collided {
			return out.view(s.Now()), nil
		}
		if attempt == 3 {
			return nil, fmt.Errorf("redeem: no free voucher code")
		}
	}
}
