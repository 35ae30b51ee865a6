package store

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The writes of an orders import (see import.go): batches of checked
// orders, their points, and the lookups the importer matches rows with.

// CheckOrder is the order in records, checked; it reads no database.
// OrderRef, if any, gives its dedup key; an imported row without one gets
// its RowKey.
func (s *Store) CheckOrder(in OrderInput) (*Order, error) { return in.order(s.Now()) }

// CustomerIDs finds the customers of an import's batch of rows, in two
// queries: it maps each of refs that is a customer's external_ref, and each
// of phones (canonical) on record for a customer, to that customer's id (0:
// none). A phone merely claimed in chat finds no one.
func (s *Store) CustomerIDs(ctx context.Context, refs, phones []string) (byRef, byPhone map[string]int64, err error) {
	db := s.db.WithContext(ctx)
	find := func(col string, keys []string) (map[string]int64, error) {
		var rows []struct {
			ID int64
			K  string
		}
		out := map[string]int64{}
		if len(keys) == 0 {
			return out, nil
		}
		if err := db.Model(&Customer{}).Select("id, "+col+" AS k").Where(col+" IN ?", keys).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("customer ids: %w", err)
		}
		for _, r := range rows {
			out[r.K] = r.ID
		}
		// MySQL compares in the column's collation (case and trailing
		// spaces aside): a key it found written otherwise is looked up
		// alone, as the row has it.
		for _, k := range keys {
			if _, ok := out[k]; !ok && s.dialect == MySQL {
				var ids []int64
				if err := db.Model(&Customer{}).Where(col+" = ?", k).Limit(1).Pluck("id", &ids).Error; err != nil {
					return nil, fmt.Errorf("customer ids: %w", err)
				}
				out[k] = 0 // none: asked once
				if len(ids) > 0 {
					out[k] = ids[0]
				}
			}
		}
		return out, nil
	}
	if byRef, err = find("external_ref", refs); err == nil {
		byPhone, err = find("phone_key", phones)
	}
	return byRef, byPhone, err
}

// AssetOwners maps the ids of the assets that exist among ids to their
// customers.
func (s *Store) AssetOwners(ctx context.Context, ids []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	if len(ids) == 0 {
		return out, nil
	}
	var as []Asset
	if err := s.db.WithContext(ctx).Select("id", "customer_id").Where("id IN ?", ids).Find(&as).Error; err != nil {
		return nil, fmt.Errorf("asset owners: %w", err)
	}
	for _, a := range as {
		out[a.ID] = a.CustomerID
	}
	return out, nil
}

// RefundTarget is what a refund's refund_of must match: the order's
// customer and kind, and a positive amount.
type RefundTarget struct {
	CustomerID int64
	Kind       string
	Positive   bool
}

// RefundTargets looks up the stored orders with the order_refs refs, for
// an import to check its refunds' refund_of before writing.
func (s *Store) RefundTargets(ctx context.Context, refs []string) (map[string]RefundTarget, error) {
	out := map[string]RefundTarget{}
	if len(refs) == 0 {
		return out, nil
	}
	keys := make([]string, 0, len(refs))
	byKey := map[string]string{}
	for _, r := range refs {
		k := *refKey(r)
		keys = append(keys, k)
		byKey[k] = r
	}
	var os []Order
	if err := s.db.WithContext(ctx).Select("customer_id", "kind", "amount_fen", "dedup_key").Where("dedup_key IN ?", keys).Find(&os).Error; err != nil {
		return nil, fmt.Errorf("refund targets: %w", err)
	}
	for _, o := range os {
		if o.DedupKey != nil {
			out[byKey[*o.DedupKey]] = RefundTarget{CustomerID: o.CustomerID, Kind: o.Kind, Positive: o.Amount.Fen() > 0}
		}
	}
	return out, nil
}

// OrderImport is the write transaction of an orders import.
type OrderImport struct {
	s   *Store
	tx  *gorm.DB
	loc *time.Location
}

// ImportOrders runs write in one transaction; write hands checked orders
// to Insert in batches, in file order, and when it returns an error
// nothing is written. It is called again, to start over, when the
// transaction has to be retried (a deadlock). A service order with an
// asset moves the asset's due date (in loc).
func (s *Store) ImportOrders(ctx context.Context, loc *time.Location, write func(*OrderImport) error) error {
	err := s.tx(ctx, func(tx *gorm.DB) error { return write(&OrderImport{s: s, tx: tx, loc: loc}) })
	if err != nil {
		return fmt.Errorf("import orders: %w", err)
	}
	return nil
}

// OrderRow is a checked order of an import file and its line.
type OrderRow struct {
	Line  int
	Order *Order
}

// Insert inserts the orders, skipping those whose dedup key is stored (ON
// CONFLICT DO NOTHING: the unique index decides, so concurrent imports
// agree), and counts them. A service order with an asset goes alone, as
// CreateOrder, so that only an inserted one moves its asset.
func (w *OrderImport) Insert(rows []OrderRow) (created, duplicates int, err error) {
	var batch []OrderRow
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ids := make([]int64, len(batch))
		orders := make([]Order, len(batch))
		for i, r := range batch {
			ids[i] = r.Order.CustomerID
			orders[i] = *r.Order
		}
		var found []int64
		if err := w.tx.Model(&Customer{}).Where("id IN ?", ids).Pluck("id", &found).Error; err != nil {
			return err
		}
		for _, r := range batch {
			if !slices.Contains(found, r.Order.CustomerID) {
				return fmt.Errorf("line %d: %w", r.Line, Errorf(ENOTFOUND, "customer %d not found", r.Order.CustomerID))
			}
		}
		known, err := w.knownKeys(orders)
		if err != nil {
			return err
		}
		q := w.tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&orders)
		if q.Error != nil {
			return fmt.Errorf("lines %d-%d: %w", batch[0].Line, batch[len(batch)-1].Line, q.Error)
		}
		if q.RowsAffected > 0 {
			if err := w.earn(orders, known); err != nil {
				return fmt.Errorf("lines %d-%d: %w", batch[0].Line, batch[len(batch)-1].Line, err)
			}
		}
		created += int(q.RowsAffected)
		duplicates += len(batch) - int(q.RowsAffected)
		batch = batch[:0]
		if q.RowsAffected == 0 {
			return nil
		}
		// Their figures follow (analytics sweeps the touches).
		return touchCustomers(w.tx, orders[0].CreatedAt, ids...)
	}
	for _, r := range rows {
		if r.Order.AssetID == nil && r.Order.refundOf == "" {
			batch = append(batch, r)
			continue
		}
		if err := flush(); err != nil { // keep file order
			return created, duplicates, err
		}
		o := *r.Order
		inserted, err := w.s.createOrder(w.tx, &o, w.loc, false)
		if err == nil && inserted {
			err = touchCustomers(w.tx, o.CreatedAt, o.CustomerID)
		}
		if err != nil {
			return created, duplicates, fmt.Errorf("line %d: %w", r.Line, err)
		}
		if inserted {
			created++
		} else {
			duplicates++
		}
	}
	return created, duplicates, flush()
}

// Parallel calls fn(i) for every i below n, on every core, and returns
// when all have returned: for checks of a batch of rows that cost CPU
// and touch no database.
func Parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// knownKeys returns which of the orders' dedup keys are already stored:
// those rows are duplicates and earn nothing.
func (w *OrderImport) knownKeys(orders []Order) (map[string]bool, error) {
	if w.s.pointsRules() == nil {
		return nil, nil
	}
	keys := make([]string, 0, len(orders))
	for _, o := range orders {
		if o.DedupKey != nil {
			keys = append(keys, *o.DedupKey)
		}
	}
	var found []string
	if err := w.tx.Model(&Order{}).Where("dedup_key IN ?", keys).Pluck("dedup_key", &found).Error; err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(found))
	for _, k := range found {
		known[k] = true
	}
	return known, nil
}

// earn credits the points of the batch's freshly inserted orders, read
// back by dedup key (a multi-row insert that skipped duplicates does not
// tell the ids it gave), set-based: one read of the orders, one of their
// customers' tiers, one multi-row INSERT of the entries, a CASE UPDATE of
// the balances; first orders and refunds (few) one by one. An order
// another import inserted between knownKeys and the insert looks fresh to
// both: its entry's key then collides, and this import starts over (as on
// a deadlock), after which it knows the order.
func (w *OrderImport) earn(orders []Order, known map[string]bool) error {
	r := w.s.pointsRules()
	if r == nil || r.Order == nil {
		return nil
	}
	var keys []string
	for _, o := range orders {
		if o.DedupKey != nil && !known[*o.DedupKey] {
			keys = append(keys, *o.DedupKey)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	var fresh []*Order
	if err := w.tx.Where("dedup_key IN ?", keys).Order("id").Find(&fresh).Error; err != nil {
		return err
	}
	var ids []int64
	for _, o := range fresh {
		ids = append(ids, o.CustomerID)
	}
	var tiers []struct {
		ID   int64
		Tier Tier
	}
	if err := w.tx.Model(&Customer{}).Select("id, tier").Where("id IN ?", ids).Scan(&tiers).Error; err != nil {
		return err
	}
	tierOf := make(map[int64]Tier, len(tiers))
	for _, t := range tiers {
		tierOf[t.ID] = t.Tier
	}
	var es []PointsEntry
	delta := map[int64]int64{}
	var rest []*Order // refunds and first orders, one by one
	firsts := map[int64]int64{}
	if r.FirstOrder > 0 {
		var mins []struct{ CustomerID, First int64 }
		if err := w.tx.Model(&Order{}).Select("customer_id, MIN(id) AS first").Where("customer_id IN ? AND amount_fen > 0", ids).
			Group("customer_id").Scan(&mins).Error; err != nil {
			return err
		}
		for _, m := range mins {
			firsts[m.CustomerID] = m.First
		}
	}
	for _, o := range fresh {
		if o.Amount.Fen() < 0 || firsts[o.CustomerID] == o.ID {
			rest = append(rest, o)
			continue
		}
		pts := r.Order(o.Kind, o.Amount, tierOf[o.CustomerID])
		if pts <= 0 {
			continue
		}
		id := o.ID
		es = append(es, PointsEntry{CustomerID: o.CustomerID, Kind: PointsEarn, Points: pts, Reason: o.Kind + " order",
			OrderID: &id, Key: keyOf("order", o.ID), ExpiresAt: r.expires(o.OccurredAt), CreatedAt: o.CreatedAt})
		delta[o.CustomerID] += pts
	}
	if len(es) > 0 {
		res := w.tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&es)
		if res.Error != nil {
			return res.Error
		}
		if int(res.RowsAffected) != len(es) {
			return &gomysql.MySQLError{Number: 1213, Message: "points: an order of this import was recorded by another meanwhile; starting over"}
		}
		if err := addToBalances(w.tx, delta); err != nil {
			return err
		}
	}
	for _, o := range rest {
		if err := w.s.earnOrder(w.tx, o); err != nil {
			return err
		}
	}
	return nil
}
