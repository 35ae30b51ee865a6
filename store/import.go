package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The writes of a CSV import. Package importer reads and checks the file;
// it hands the rows here in batches, all inside one transaction per
// import, so that a file lands whole or not at all.

// CheckCustomers reads each row as a new customer (source "import"), on
// every core and without the database: a row's Err says why it would not
// make one (nil when it would). Write uses what it read, so a caller that
// checks a batch ahead (while the one before is written) spares Write the
// work.
func (s *Store) CheckCustomers(rows []CustomerRow) {
	Parallel(len(rows), func(i int) {
		r := &rows[i]
		r.checked.c, r.checked.tags, r.Err = s.importedCustomer(r.In)
		r.checked.ok = true
	})
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
	// Err is set by CheckCustomers and Write on a row they refused.
	Err error
	// checked is In as a new customer, once CheckCustomers has read it.
	checked struct {
		c    Customer
		tags []string
		ok   bool
	}
}

// CustomerImport is the write transaction of a customer import.
type CustomerImport struct {
	s  *Store
	tx *gorm.DB
	// inserts is the prepared INSERT of insertsRows customers.
	inserts     *sql.Stmt
	insertsRows int
	// idStep, when not 0, is how far apart the ids of one INSERT's rows
	// are: the server gives them consecutively from the first (which the
	// INSERT returns) and they need no read-back (consecutiveIDs).
	idStep int64
	// read is whether the next batch reads the stored customers its rows
	// may match before writing, rather than trying them as new first;
	// reads counts the batches that did.
	read  bool
	reads int
}

// consecutiveIDs is the step between the ids one multi-row INSERT gets,
// when the server guarantees it, else 0. InnoDB does for an INSERT of a
// known number of rows under innodb_autoinc_lock_mode 0 or 1 (the
// default of MariaDB and of MySQL before 8.0): the statement reserves its
// ids at once, auto_increment_increment apart. Not under 2 (MySQL 8's
// default, and Galera's requirement), nor on TiDB, which hands out ids
// from per-server caches; nor on SQLite, where the read-back stays.
func (s *Store) consecutiveIDs(ctx context.Context) int64 {
	if s.dialect != MySQL {
		return 0
	}
	var mode, step int64
	var version string
	err := s.db.WithContext(ctx).Raw("SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment, VERSION()").Row().Scan(&mode, &step, &version)
	if err != nil || (mode != 0 && mode != 1) || step < 1 || strings.Contains(strings.ToLower(version), "tidb") {
		return 0
	}
	return step
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
	idStep := s.consecutiveIDs(ctx)
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
		w := &CustomerImport{s: s, tx: tx, idStep: idStep}
		defer func() {
			if w.inserts != nil {
				w.inserts.Close()
			}
		}()
		return write(w)
	}
	if err := s.txCreating(ctx, run); err != nil {
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
// The batch costs a handful of statements however many rows it has (a
// read of the customers with its rows' external_refs, one of those with
// phones these do not hold, their tags; one multi-row INSERT of the new
// customers, one read-back of their ids, their tags): a statement costs
// the database far more than a row. The statements are written and their
// rows read here, not by GORM: reflecting over every field of every row
// cost more than the database's work on them. Rows act in file order as
// if written one by one: a later row sees what an earlier one created or
// changed. When the INSERT meets a key the batch could not see (another
// writer, or two external_refs the database's collation holds equal), the
// batch is written row by row instead, which finds and reports it.
//
// A batch first tries its rows as new customers without reading: a row
// can only match or collide with a stored customer through its
// external_ref or phone, both unique keys, so if the INSERT meets no
// duplicate none did, and a first import into a table of other people
// skips the two reads (a fifth of the database's work on a row). A
// duplicate undoes the INSERT (the statement, not the import) and the
// batch is written reading first, as are the batches after it until one
// whose reads find nobody: a re-import reads, and wastes one INSERT.
func (w *CustomerImport) Write(rows []CustomerRow) (created, updated, unchanged int, err error) {
	if slices.ContainsFunc(rows, func(r CustomerRow) bool { return !r.checked.ok }) {
		w.s.CheckCustomers(rows)
	}
	if !w.read {
		checked := make([]error, len(rows)) // plan may refuse more rows
		for i := range rows {
			checked[i] = rows[i].Err
		}
		b, err := w.plan(rows, false)
		if err != nil {
			return 0, 0, 0, err
		}
		if err = w.insert(b.created); err == nil {
			return w.finish(b)
		} else if !isDuplicate(err) {
			return 0, 0, 0, err
		}
		for i := range rows {
			rows[i].Err = checked[i]
		}
		w.read = true
	}
	w.reads++
	b, err := w.plan(rows, true)
	if err != nil {
		return 0, 0, 0, err
	}
	w.read = b.found > 0
	if err := w.insert(b.created); isDuplicate(err) {
		for i := range rows {
			rows[i].Err = nil
		}
		return w.writeEach(rows)
	} else if err != nil {
		return 0, 0, 0, err
	}
	return w.finish(b)
}

// finish writes what the batch b changed beside its new customers: the
// customers it updates and the tags its rows set.
func (w *CustomerImport) finish(b *importBatch) (created, updated, unchanged int, err error) {
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
	found              int                    // stored customers the reads found
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

// plan matches rows to customers in memory, from two reads when read is
// set (else as if nobody were stored): the customers with the rows'
// external_refs, then those with the rows' phones on record that the first
// read did not find (a phone key is one customer's, so the holder of one
// it found is known). A batch imported again reads once.
func (w *CustomerImport) plan(rows []CustomerRow, read bool) (*importBatch, error) {
	// The batch's view of the table: every customer its rows can match or
	// collide with, stored or about to be created, by key.
	byRef, byPhone, byID := map[string]*Customer{}, map[string]*Customer{}, map[int64]*Customer{}
	add := func(cs []*Customer) {
		for _, c := range cs {
			if byID[c.ID] != nil {
				continue
			}
			byID[c.ID] = c
			if c.ExternalRef != nil {
				byRef[*c.ExternalRef] = c
			}
			if c.PhoneKey != nil {
				byPhone[*c.PhoneKey] = c
			}
		}
	}
	stored := map[int64][]string{}
	if read {
		var refs, phones []string
		for i := range rows {
			if c := &rows[i].checked.c; rows[i].Err == nil && c.ExternalRef != nil {
				refs = append(refs, *c.ExternalRef)
			}
		}
		found, err := w.customersWhere("external_ref", refs)
		if err != nil {
			return nil, err
		}
		add(found)
		for i := range rows {
			if c := &rows[i].checked.c; rows[i].Err == nil && c.PhoneKey != nil && byPhone[*c.PhoneKey] == nil {
				phones = append(phones, *c.PhoneKey)
			}
		}
		if found, err = w.customersWhere("phone_key", phones); err != nil {
			return nil, err
		}
		add(found)
		if stored, err = w.tagsOf(byID); err != nil {
			return nil, err
		}
	}
	b := &importBatch{found: len(byID), tags: map[*Customer][]string{}, stored: stored, isNew: map[*Customer]bool{}, isChanged: map[*Customer]bool{}}
	for i := range rows {
		r, in := &rows[i], rows[i].checked
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
		set := r.In.Tags != nil
		switch {
		case c == nil:
			c = &Customer{}
			b.created = append(b.created, c)
			b.isNew[c] = true
		case storedEqual(*c, next) && (!set || sameTags(in.tags, b.tagsNow(c))):
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
		if set {
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

// customersWhere reads the customers whose col is one of keys.
func (w *CustomerImport) customersWhere(col string, keys []string) ([]*Customer, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := w.query("SELECT "+customerCols+" FROM customers WHERE "+col+" IN ("+marks(len(keys))+")", anys(keys)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []*Customer
	var r Customer
	dest := r.dest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		c := r
		cs = append(cs, &c)
	}
	return cs, rows.Err()
}

// tagsOf reads the tags of the customers in byID.
func (w *CustomerImport) tagsOf(byID map[int64]*Customer) (map[int64][]string, error) {
	out := map[int64][]string{}
	if len(byID) == 0 {
		return out, nil
	}
	rows, err := w.query("SELECT customer_id, tag FROM customer_tags WHERE customer_id IN ("+marks(len(byID))+")", anys(slices.Collect(maps.Keys(byID)))...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var tag string
		if err := rows.Scan(intCol[int64]{&id, nil}, &tag); err != nil {
			return nil, err
		}
		out[id] = append(out[id], tag)
	}
	return out, rows.Err()
}

// insert creates cs in one INSERT and gives them their ids: consecutive
// from the INSERT's first where the server guarantees that (idStep), else
// read back by a unique key: its external_ref, else its phone on record,
// else a placeholder external_ref it carries until the read. (The ids of a
// multi-row INSERT are not always consecutive: Galera steps and
// interleaves them, TiDB caches ranges.)
func (w *CustomerImport) insert(cs []*Customer) error {
	if len(cs) == 0 {
		return nil
	}
	now := w.s.Now().Truncate(time.Millisecond)
	token := rowToken()
	var refs, phones, placeholders []string
	placeholder := make([]bool, len(cs))
	ncols := strings.Count(customerCols, ",") // without id
	args := make([]any, 0, len(cs)*ncols)
	for i, c := range cs {
		switch {
		case w.idStep != 0:
		case c.ExternalRef != nil:
			refs = append(refs, *c.ExternalRef)
		case c.PhoneKey != nil:
			phones = append(phones, *c.PhoneKey)
		default:
			ref := "new:" + token + ":" + strconv.Itoa(i)
			c.ExternalRef = &ref
			refs, placeholders, placeholder[i] = append(refs, ref), append(placeholders, ref), true
		}
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		if c.UpdatedAt.IsZero() {
			c.UpdatedAt = now
		}
		args = append(args, c.values()...)
	}
	res, err := w.insertRows(len(cs), args)
	if err != nil {
		return err
	}
	if w.idStep != 0 {
		first, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for i, c := range cs {
			c.ID = first + int64(i)*w.idStep
		}
		return nil
	}
	byRef, err := w.idsBy("external_ref", refs)
	if err != nil {
		return err
	}
	byPhone, err := w.idsBy("phone_key", phones)
	if err != nil {
		return err
	}
	for i, c := range cs {
		if c.ExternalRef != nil {
			c.ID = byRef[*c.ExternalRef]
		} else {
			c.ID = byPhone[*c.PhoneKey]
		}
		if c.ID == 0 {
			return fmt.Errorf("import: customer %q (%s) not read back", deref(c.ExternalRef), deref(c.PhoneKey))
		}
		if placeholder[i] {
			c.ExternalRef = nil
		}
	}
	if len(placeholders) > 0 {
		return w.exec("UPDATE customers SET external_ref = NULL WHERE external_ref IN ("+marks(len(placeholders))+")", anys(placeholders)...)
	}
	return nil
}

// insertRows INSERTs n customers (args: their values). The statement is
// prepared for the first batch that creates enough rows and reused by
// every batch that creates as many (a first import's full batches): the
// database then skips parsing every value, about a tenth of its work on a
// row, and we skip quoting them. Other batches send it written out.
func (w *CustomerImport) insertRows(n int, args []any) (sql.Result, error) {
	group := "(" + marks(strings.Count(customerCols, ",")) + ")"
	query := "INSERT INTO customers (" + strings.TrimPrefix(customerCols, "id, ") + ") VALUES " + strings.Repeat(group+", ", n-1) + group
	ctx := w.tx.Statement.Context
	if w.inserts == nil && n >= minPreparedInsert {
		st, err := w.tx.Statement.ConnPool.PrepareContext(ctx, query)
		if err != nil {
			return nil, w.translate(err)
		}
		w.inserts, w.insertsRows = st, n
	}
	var res sql.Result
	var err error
	if w.inserts == nil || n != w.insertsRows {
		res, err = w.tx.Statement.ConnPool.ExecContext(ctx, query, args...)
	} else {
		res, err = w.inserts.ExecContext(ctx, args...)
	}
	return res, w.translate(err)
}

// minPreparedInsert is the fewest rows worth a prepared INSERT.
const minPreparedInsert = 100

// idsBy reads the ids of the customers whose col (a unique key) is one of
// keys, by key.
func (w *CustomerImport) idsBy(col string, keys []string) (map[string]int64, error) {
	ids := make(map[string]int64, len(keys))
	if len(keys) == 0 {
		return ids, nil
	}
	rows, err := w.query("SELECT id, "+col+" FROM customers WHERE "+col+" IN ("+marks(len(keys))+")", anys(keys)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var key string
		if err := rows.Scan(intCol[int64]{&id, nil}, &key); err != nil {
			return nil, err
		}
		ids[key] = id
	}
	return ids, rows.Err()
}

// retag writes the tags rows set: for a new customer in one multi-row
// INSERT with the others', for a stored one whose tags differ by replacing
// them.
func (w *CustomerImport) retag(b *importBatch) error {
	var args, gone []any
	for c, tags := range b.tags {
		if !b.isNew[c] {
			if sameTags(b.stored[c.ID], tags) {
				continue
			}
			gone = append(gone, c.ID)
		}
		for _, t := range tags {
			args = append(args, c.ID, t)
		}
	}
	if len(gone) > 0 {
		if err := w.exec("DELETE FROM customer_tags WHERE customer_id IN ("+marks(len(gone))+")", gone...); err != nil {
			return err
		}
	}
	// At most tagsPerInsert rows a statement: SQLite takes 32,766
	// parameters.
	const tagsPerInsert = 10000
	for len(args) > 0 {
		n := min(len(args)/2, tagsPerInsert)
		if err := w.exec("INSERT INTO customer_tags (customer_id, tag) VALUES "+strings.Repeat("(?, ?), ", n-1)+"(?, ?)", args[:2*n]...); err != nil {
			return err
		}
		args = args[2*n:]
	}
	return nil
}

// exec and query run a statement in the import's transaction, past GORM's
// statement building; errors are GORM's, as its own calls give them.
func (w *CustomerImport) exec(query string, args ...any) error {
	_, err := w.tx.Statement.ConnPool.ExecContext(w.tx.Statement.Context, query, args...)
	return w.translate(err)
}

func (w *CustomerImport) query(query string, args ...any) (*sql.Rows, error) {
	rows, err := w.tx.Statement.ConnPool.QueryContext(w.tx.Statement.Context, query, args...)
	return rows, w.translate(err)
}

func (w *CustomerImport) translate(err error) error {
	if t, ok := w.tx.Dialector.(gorm.ErrorTranslator); ok && err != nil {
		return t.Translate(err)
	}
	return err
}

// marks is n comma-separated placeholders.
func marks(n int) string {
	return strings.Repeat("?, ", n-1) + "?"
}

// anys is xs as statement arguments.
func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
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
