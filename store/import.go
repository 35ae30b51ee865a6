package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"time"

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
