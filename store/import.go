package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The writes of a CSV import. Package importer reads and checks the file;
// it hands the rows here in batches, all inside one transaction per
// import, so that a file lands whole or not at all.

// CheckCustomer reports why in would not make a new customer (nil when it
// would). It reads no database.
func (s *Store) CheckCustomer(in CustomerInput) error {
	_, _, err := s.importedCustomer(in)
	return err
}

// importedCustomer is a new customer (source "import") with in applied and
// checked.
func (s *Store) importedCustomer(in CustomerInput) (Customer, []string, error) {
	c := Customer{Tier: TierC, Stage: StagePotential, Locale: LocaleZH, Source: "import"}
	tags, _, err := in.apply(&c, s.Now(), s.phoneRegion)
	if err == nil && c.Name == "" && c.Phone == "" {
		err = Invalid("name", "a customer needs a name or a phone")
	}
	return c, tags, err
}

// CustomerRow is one customer row of an import file.
type CustomerRow struct {
	Line int
	In   CustomerInput
	// Err is set by CustomerImport.Write on a row it refused.
	Err error
}

// CustomerImport is the write transaction of a customer import.
type CustomerImport struct {
	s  *Store
	tx *gorm.DB
}

// ImportCustomers runs write in one transaction, which takes its turn with
// every other customer import so that each matches its rows against what
// the one before wrote (SQLite takes turns anyway: BEGIN IMMEDIATE). write
// hands the rows to Write in batches, in file order; when it returns an
// error, nothing is written. It is called again, to start over from the
// first row, when the transaction has to be retried: after a deadlock, or
// when another writer took one of the rows' external_refs or phones since
// (the second time the row finds and updates that customer, or is refused).
func (s *Store) ImportCustomers(ctx context.Context, write func(*CustomerImport) error) error {
	turn := kvEntry{Name: "import:customers", UpdatedAt: s.Now().Truncate(time.Millisecond)}
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&turn).Error; err != nil && !isDuplicate(err) {
		return fmt.Errorf("import customers: %w", err)
	}
	run := func(tx *gorm.DB) error {
		// Written, not just locked: on one server the row lock makes the
		// imports take turns; across Galera nodes, where locks hold on one
		// node only, two imports writing this row conflict at
		// certification and the loser starts over after the winner. The
		// value is new each time, so the UPDATE changes the row.
		if err := tx.Model(&kvEntry{}).Where("name = ?", turn.Name).
			Updates(map[string]any{"value": rowToken(), "updated_at": s.Now().Truncate(time.Millisecond)}).Error; err != nil {
			return err
		}
		return write(&CustomerImport{s: s, tx: tx})
	}
	err := s.tx(ctx, run)
	if isDuplicate(err) {
		err = s.tx(ctx, run)
	}
	if err != nil {
		return fmt.Errorf("import customers: %w", err)
	}
	return nil
}

// Write creates or updates the customers of rows: a row updates the
// customer it matches (importMatch), keeping what the row does not set,
// and creates one with source "import" otherwise. A row whose phone is on
// record for another customer is refused (its Err set): one customer per
// number. A row that would change nothing of the customer it matches
// writes nothing and counts as unchanged.
//
// The batch costs a handful of statements however many rows it has (two
// reads of what its rows match, one multi-row INSERT of the new customers,
// one read-back, their tags): a statement costs the database far more than
// a row. Rows act in file order as if written one by one: a later row
// sees what an earlier one created or changed. When the INSERT meets a
// key the batch could not see (another writer, or two external_refs the
// database's collation holds equal), the batch is written row by row
// instead, which finds and reports it.
func (w *CustomerImport) Write(rows []CustomerRow) (created, updated, unchanged int, err error) {
	b, err := w.plan(rows)
	if err != nil {
		return 0, 0, 0, err
	}
	if err := w.insert(b.created); isDuplicate(err) {
		for i := range rows {
			rows[i].Err = nil
		}
		return w.writeEach(rows)
	} else if err != nil {
		return 0, 0, 0, err
	}
	for _, c := range b.changed {
		if err := w.tx.Save(c).Error; err != nil {
			return 0, 0, 0, customerConflict(w.tx, c, err)
		}
	}
	if err := w.retag(b); err != nil {
		return 0, 0, 0, err
	}
	return len(b.created), b.updated, b.unchanged, nil
}

// importBatch is what a batch of rows comes to: the customers to create
// and to update (in first-touched order), their tags, and how many rows
// updated a customer or matched one they would not change.
type importBatch struct {
	created, changed   []*Customer
	isNew, isChanged   map[*Customer]bool
	updated, unchanged int
	tags               map[*Customer][]string // set by a row's tags column
	stored             map[int64][]string     // the stored tags of matched customers
}

// tagsNow is c's tags as the rows so far leave them.
func (b *importBatch) tagsNow(c *Customer) []string {
	if t, ok := b.tags[c]; ok {
		return t
	}
	return b.stored[c.ID]
}

// sameTags reports whether a and b hold the same tags, in any order.
func sameTags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// plan matches rows to customers in memory, from two reads: the customers
// with the rows' external_refs and those with their phones on record.
func (w *CustomerImport) plan(rows []CustomerRow) (*importBatch, error) {
	type row struct {
		c    Customer
		tags []string
		set  bool
	}
	checked := make([]row, len(rows))
	Parallel(len(rows), func(i int) {
		c, tags, err := w.s.importedCustomer(rows[i].In)
		checked[i], rows[i].Err = row{c: c, tags: tags, set: rows[i].In.Tags != nil}, err
	})
	var refs, phones []string
	for i := range rows {
		c := checked[i].c
		if rows[i].Err != nil {
			continue
		}
		if c.ExternalRef != nil {
			refs = append(refs, *c.ExternalRef)
		}
		if c.PhoneKey != nil {
			phones = append(phones, *c.PhoneKey)
		}
	}
	var found []*Customer
	for _, q := range []struct {
		col  string
		keys []string
	}{{"external_ref", refs}, {"phone_key", phones}} {
		if len(q.keys) == 0 {
			continue
		}
		var cs []*Customer
		if err := w.tx.Where(q.col+" IN ?", q.keys).Find(&cs).Error; err != nil {
			return nil, err
		}
		found = append(found, cs...)
	}
	// The batch's view of the table: every customer its rows can match or
	// collide with, stored or about to be created, by key.
	byRef, byPhone, byID := map[string]*Customer{}, map[string]*Customer{}, map[int64]*Customer{}
	for _, c := range found {
		if byID[c.ID] != nil {
			continue // found by both keys
		}
		byID[c.ID] = c
		if c.ExternalRef != nil {
			byRef[*c.ExternalRef] = c
		}
		if c.PhoneKey != nil {
			byPhone[*c.PhoneKey] = c
		}
	}
	stored, err := tagsOf(w.tx, byID)
	if err != nil {
		return nil, err
	}
	b := &importBatch{tags: map[*Customer][]string{}, stored: stored, isNew: map[*Customer]bool{}, isChanged: map[*Customer]bool{}}
	for i := range rows {
		r, in := &rows[i], checked[i]
		if r.Err != nil {
			continue
		}
		ref := deref(in.c.ExternalRef)
		c := byRef[ref]
		if ref == "" {
			c = nil
		}
		if c == nil && in.c.PhoneKey != nil {
			if o := byPhone[*in.c.PhoneKey]; o != nil && (ref == "" || o.ExternalRef == nil || *o.ExternalRef == ref) {
				c = o
			}
		}
		next := in.c
		if c != nil {
			// The row onto the customer it matches (keeps its tier, stage,
			// source, identities), with the phone as checked above: its
			// rules are dear.
			next = *c
			row := r.In
			row.Phone = nil
			if _, _, err := row.apply(&next, w.s.Now(), w.s.phoneRegion); err != nil {
				return nil, fmt.Errorf("line %d: %w", r.Line, err)
			}
			if r.In.Phone != nil {
				next.Phone, next.PhoneKey = in.c.Phone, in.c.PhoneKey
			}
		}
		if next.PhoneKey != nil {
			if o := byPhone[*next.PhoneKey]; o != nil && o != c {
				r.Err = phoneTaken(*next.PhoneKey, o.ID)
				continue
			}
		}
		switch {
		case c == nil:
			c = &Customer{}
			b.created = append(b.created, c)
			b.isNew[c] = true
		case storedEqual(*c, next) && (!in.set || sameTags(in.tags, b.tagsNow(c))):
			b.unchanged++
		default:
			b.updated++
			if !b.isNew[c] && !b.isChanged[c] {
				b.isChanged[c] = true
				b.changed = append(b.changed, c)
			}
		}
		if c.PhoneKey != nil && byPhone[*c.PhoneKey] == c {
			delete(byPhone, *c.PhoneKey)
		}
		*c = next
		if c.ExternalRef != nil {
			byRef[*c.ExternalRef] = c
		}
		if c.PhoneKey != nil {
			byPhone[*c.PhoneKey] = c
		}
		if in.set {
			b.tags[c] = in.tags
		}
	}
	return b, nil
}

// storedEqual reports whether a and b have the same stored columns, when
// they were last updated aside.
func storedEqual(a, b Customer) bool {
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// tagsOf reads the tags of the customers in byID.
func tagsOf(tx *gorm.DB, byID map[int64]*Customer) (map[int64][]string, error) {
	out := map[int64][]string{}
	if len(byID) == 0 {
		return out, nil
	}
	var rows []customerTag
	if err := tx.Where("customer_id IN ?", slices.Collect(maps.Keys(byID))).Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.CustomerID] = append(out[r.CustomerID], r.Tag)
	}
	return out, nil
}

// insert creates cs in one INSERT and reads their ids back: each carries
// a placeholder external_ref (where it has none) until the read, since
// the ids of a multi-row INSERT are not reliably consecutive (Galera steps
// them, TiDB caches ranges).
func (w *CustomerImport) insert(cs []*Customer) error {
	if len(cs) == 0 {
		return nil
	}
	token := rowToken()
	rows := make([]Customer, len(cs))
	refs := make([]string, len(cs))
	var placeholders []string
	for i, c := range cs {
		rows[i] = *c
		if c.ExternalRef == nil {
			ref := "new:" + token + ":" + strconv.Itoa(i)
			rows[i].ExternalRef = &ref
			placeholders = append(placeholders, ref)
		}
		refs[i] = *rows[i].ExternalRef
	}
	if err := w.tx.Create(&rows).Error; err != nil {
		return err
	}
	var got []struct {
		ID          int64
		ExternalRef string
	}
	if err := w.tx.Model(&Customer{}).Select("id, external_ref").Where("external_ref IN ?", refs).Scan(&got).Error; err != nil {
		return err
	}
	ids := make(map[string]int64, len(got))
	for _, g := range got {
		ids[g.ExternalRef] = g.ID
	}
	for i, c := range cs {
		rows[i].ID = ids[refs[i]]
		if rows[i].ID == 0 {
			return fmt.Errorf("import: customer %q not read back", refs[i])
		}
		rows[i].ExternalRef = c.ExternalRef
		*c = rows[i]
	}
	if len(placeholders) > 0 {
		return w.tx.Model(&Customer{}).Where("external_ref IN ?", placeholders).Update("external_ref", nil).Error
	}
	return nil
}

// retag writes the tags rows set: for a new customer in one multi-row
// INSERT with the others', for a stored one whose tags differ by replacing
// them.
func (w *CustomerImport) retag(b *importBatch) error {
	var rows []customerTag
	for c, tags := range b.tags {
		if !b.isNew[c] {
			if sameTags(b.stored[c.ID], tags) {
				continue
			}
			if err := w.tx.Where("customer_id = ?", c.ID).Delete(&customerTag{}).Error; err != nil {
				return err
			}
		}
		for _, t := range tags {
			rows = append(rows, customerTag{CustomerID: c.ID, Tag: t})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	return w.tx.CreateInBatches(rows, 1000).Error
}

// writeEach is Write row by row: a statement or more for each.
func (w *CustomerImport) writeEach(rows []CustomerRow) (created, updated, unchanged int, err error) {
	for i := range rows {
		r := &rows[i]
		c, tags, err := w.s.importedCustomer(r.In)
		if err != nil {
			r.Err = err
			continue
		}
		existing, found, err := importMatch(w.tx, c)
		if err != nil {
			return created, updated, unchanged, fmt.Errorf("line %d: %w", r.Line, err)
		}
		if found {
			// The row onto the stored customer (keeps its tier, stage,
			// source, identities).
			if _, _, err := r.In.apply(&existing, w.s.Now(), w.s.phoneRegion); err != nil {
				return created, updated, unchanged, fmt.Errorf("line %d: %w", r.Line, err)
			}
			c = existing
		}
		if err := checkPhoneFree(w.tx, &c); IsCode(err, ECONFLICT) {
			r.Err = err
			continue
		} else if err != nil {
			return created, updated, unchanged, err
		}
		if found {
			err = w.tx.Save(&c).Error
		} else {
			err = w.tx.Create(&c).Error
		}
		if err != nil {
			return created, updated, unchanged, fmt.Errorf("line %d: %w", r.Line, err)
		}
		if found {
			updated++
		} else {
			created++
		}
		if err := setTags(w.tx, c.ID, tags); err != nil {
			return created, updated, unchanged, err
		}
	}
	return created, updated, unchanged, nil
}

// importMatch finds the stored customer an imported row c updates: the one
// with its external_ref, else the one with its phone on record (the same
// person, entered or imported before, or proved in chat) unless that one
// has another external_ref. A phone merely claimed in chat matches
// nothing: an unproved claim must never receive imported data.
func importMatch(tx *gorm.DB, row Customer) (Customer, bool, error) {
	var c Customer
	ref := deref(row.ExternalRef)
	if ref != "" {
		err := tx.Where("external_ref = ?", ref).Take(&c).Error
		if err == nil {
			return c, true, nil
		} else if !errors.Is(err, gorm.ErrRecordNotFound) {
			return c, false, err
		}
	}
	if row.Phone == "" {
		return c, false, nil
	}
	q := tx.Where("phone_key = ?", row.Phone)
	if ref != "" {
		q = q.Where("external_ref IS NULL OR external_ref = ?", ref)
	}
	err := q.Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return c, false, nil
	}
	return c, err == nil, err
}

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

// addToBalances moves each customer's balance by its delta: CASE UPDATEs of
// a few hundred customers (a CASE is matched branch by branch).
func addToBalances(tx *gorm.DB, delta map[int64]int64) error {
	ids := make([]int64, 0, len(delta))
	for id := range delta {
		ids = append(ids, id)
	}
	slices.Sort(ids) // one lock order for every writer
	for len(ids) > 0 {
		part := ids[:min(len(ids), 250)]
		ids = ids[len(part):]
		var up strings.Builder
		up.WriteString("UPDATE customers SET points = points + CASE id")
		for _, id := range part {
			fmt.Fprintf(&up, " WHEN %d THEN %d", id, delta[id])
		}
		up.WriteString(" ELSE 0 END WHERE id IN ?")
		if err := tx.Exec(up.String(), part).Error; err != nil {
			return err
		}
	}
	return nil
}
