package store

// Year-end expiry of points: applied once per instant and block of
// customers, across runs and replicas.

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// pointsExpiryBatch records that the expiry at one instant has been
// applied to one block of customer ids: the marker commits with the
// entries, so each block expires once whichever replica gets there.
type pointsExpiryBatch struct {
	At        time.Time `gorm:"primaryKey;autoIncrement:false"`
	Block     int64     `gorm:"primaryKey;autoIncrement:false"`
	Customers int       `gorm:"not null"`
	CreatedAt time.Time
}

func (pointsExpiryBatch) TableName() string { return "points_expiry_batches" }

// expiryBlock is how many customer ids one expiry transaction covers. Fixed:
// the markers name blocks, so every replica must cut them alike.
const expiryBlock = 2000

// ExpiryResult counts what ExpirePoints did.
type ExpiryResult struct {
	Customers int   `json:"customers"`
	Points    int64 `json:"points"`
	Blocks    int   `json:"blocks"`
	Skipped   int   `json:"skipped"`
}

// ExpirePoints applies the expiry at instant at: every customer's credits
// expiring at or before it, less everything they have spent (debits spend
// what expires soonest), become an expire entry dated at. One block of
// customer ids per transaction, set-based: one aggregate read of the
// block's entries (through the covering index), one multi-row INSERT of
// its expire entries, one UPDATE of its balances. A block already done
// (by this or another replica: its marker commits with its entries) is
// skipped, so it may run any number of times, anywhere.
func (s *Store) ExpirePoints(ctx context.Context, at time.Time) (ExpiryResult, error) {
	at = at.UTC().Truncate(time.Millisecond)
	var res ExpiryResult
	db := s.db.WithContext(ctx)
	var bounds struct{ Lo, Hi *int64 }
	if err := db.Model(&PointsEntry{}).Select("MIN(customer_id) AS lo, MAX(customer_id) AS hi").Scan(&bounds).Error; err != nil {
		return res, fmt.Errorf("expire points: %w", err)
	}
	if bounds.Lo == nil {
		return res, nil
	}
	// Two blocks at a time: one is read while the other is written.
	blocks := make(chan int64)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for block := range blocks {
				n, pts, done, err := s.expireMarked(ctx, at, block)
				mu.Lock()
				switch {
				case err != nil:
					first = cmp.Or(first, err)
				case done:
					res.Skipped++
				default:
					res.Blocks++
					res.Customers += n
					res.Points += pts
				}
				mu.Unlock()
			}
		}()
	}
	for block := *bounds.Lo / expiryBlock; block <= *bounds.Hi/expiryBlock; block++ {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		blocks <- block
	}
	close(blocks)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	if first != nil {
		return res, fmt.Errorf("expire points: %w", first)
	}
	return res, nil
}

// expireMarked expires one block in a transaction with its marker, unless
// the marker is there (done).
func (s *Store) expireMarked(ctx context.Context, at time.Time, block int64) (n int, pts int64, done bool, err error) {
	err = s.tx(ctx, func(tx *gorm.DB) (err error) {
		n, pts = 0, 0
		mark := pointsExpiryBatch{At: at, Block: block}
		r := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&mark)
		if r.Error != nil {
			return r.Error
		}
		if done = r.RowsAffected == 0; done {
			return nil
		}
		n, pts, err = expireBlock(tx, at, block*expiryBlock, (block+1)*expiryBlock)
		if err != nil || n == 0 {
			return err
		}
		return tx.Model(&pointsExpiryBatch{}).Where("at = ? AND block = ?", at, block).Update("customers", n).Error
	})
	if err != nil {
		return 0, 0, false, fmt.Errorf("block %d: %w", block, err)
	}
	return n, pts, done, nil
}

// expireBlock writes the expiry at at of the customers with ids in [lo,
// hi) and reports how many customers and points it expired.
func expireBlock(tx *gorm.DB, at time.Time, lo, hi int64) (int, int64, error) {
	rows, err := tx.Raw("SELECT customer_id, SUM(CASE WHEN points < 0 THEN points WHEN expires_at <= ? THEN points ELSE 0 END) "+
		"FROM points_entries WHERE customer_id >= ? AND customer_id < ? GROUP BY customer_id", at, lo, hi).Rows()
	if err != nil {
		return 0, 0, err
	}
	var es []PointsEntry
	for rows.Next() {
		var id, amt int64
		if err := rows.Scan(&id, &amt); err != nil {
			rows.Close()
			return 0, 0, err
		}
		if amt > 0 {
			es = append(es, PointsEntry{CustomerID: id, Kind: PointsExpire, Points: -amt, Reason: "expired", CreatedAt: at})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(es) == 0 {
		return 0, 0, err
	}
	n := len(es)
	// The marker makes the block once: the entries need no key each. The
	// statements are built as text: ids and amounts are integers, and a
	// few thousand bound values cost more than the rows.
	var ins strings.Builder
	ins.WriteString("INSERT INTO points_entries (customer_id, kind, points, reason, created_at) VALUES ")
	var total int64
	ats := make([]any, len(es))
	for i, e := range es {
		if i > 0 {
			ins.WriteByte(',')
		}
		ins.WriteString("(" + strconv.FormatInt(e.CustomerID, 10) + ",'expire'," + strconv.FormatInt(e.Points, 10) + ",'expired',?)")
		ats[i] = at
		total -= e.Points
	}
	if err := tx.Exec(ins.String(), ats...).Error; err != nil {
		return 0, 0, err
	}
	// Only this block's customers are touched: two blocks written at once
	// never wait for each other.
	delta := make(map[int64]int64, len(es))
	for _, e := range es {
		delta[e.CustomerID] = e.Points
	}
	if err := addToBalances(tx, delta); err != nil {
		return 0, 0, err
	}
	return n, total, nil
}

// ExpiringCustomers returns up to limit customers with id > after whose
// points expire at at (what ExpirePoints(at) would take), by id.
func (s *Store) ExpiringCustomers(ctx context.Context, at time.Time, after int64, limit int) ([]Expiring, []int64, error) {
	rows, err := s.db.WithContext(ctx).Model(&PointsEntry{}).
		Select("customer_id, SUM(CASE WHEN points < 0 THEN points WHEN expires_at <= ? THEN points ELSE 0 END) AS amt", at.UTC()).
		Where("customer_id > ?", after).Group("customer_id").
		Having("SUM(CASE WHEN points < 0 THEN points WHEN expires_at <= ? THEN points ELSE 0 END) > 0", at.UTC()).
		Order("customer_id").Limit(limit).Rows()
	if err != nil {
		return nil, nil, fmt.Errorf("expiring customers: %w", err)
	}
	defer rows.Close()
	var out []Expiring
	var ids []int64
	for rows.Next() {
		var id, amt int64
		if err := rows.Scan(&id, &amt); err != nil {
			return nil, nil, fmt.Errorf("expiring customers: %w", err)
		}
		out = append(out, Expiring{Points: amt, On: at.UTC()})
		ids = append(ids, id)
	}
	return out, ids, rows.Err()
}

// PointsSum is the sum of a customer's ledger (tests check it equals the
// balance).
func (s *Store) PointsSum(ctx context.Context, customerID int64) (int64, error) {
	var sum []int64
	err := s.db.WithContext(ctx).Model(&PointsEntry{}).Where("customer_id = ?", customerID).
		Pluck("COALESCE(SUM(points), 0)", &sum).Error
	if err != nil {
		return 0, err
	}
	return sum[0], nil
}

// pointsLedger adds the ledger, the reward catalogue, vouchers, the expiry
// markers and orders.refund_of_id, and opens every customer's ledger with
// an adjust entry of the balance staff had set by hand (never expiring),
// so that the balance is the ledger's sum from the start.
func pointsLedger(tx *gorm.DB) error {
	if err := tx.AutoMigrate(&PointsEntry{}, &Reward{}, &Voucher{}, &pointsExpiryBatch{}); err != nil {
		return err
	}
	m := tx.Migrator()
	if !m.HasColumn(&Order{}, "refund_of_id") {
		if err := tx.Exec("ALTER TABLE orders ADD COLUMN refund_of_id BIGINT NULL").Error; err != nil {
			return err
		}
	}
	if !m.HasIndex(&Order{}, "idx_orders_refund_of_id") {
		if err := tx.Exec("CREATE INDEX idx_orders_refund_of_id ON orders (refund_of_id)").Error; err != nil {
			return err
		}
	}
	key := "CONCAT('opening:', id)"
	if tx.Dialector.Name() == "sqlite" {
		key = "'opening:' || id"
	}
	// Keyed: a step run again writes nothing twice.
	insert := "INSERT INTO points_entries (customer_id, kind, points, reason, idem_key, created_at) " +
		"SELECT id, 'adjust', points, 'opening balance', " + key + ", ? FROM customers WHERE points <> 0 " +
		"AND NOT EXISTS (SELECT 1 FROM points_entries e WHERE e.customer_id = customers.id)"
	return tx.Exec(insert, time.Now().UTC().Truncate(time.Millisecond)).Error
}
