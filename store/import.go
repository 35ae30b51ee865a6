package store

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// RowError is one rejected CSV row: its line number (the header is line 1)
// and why.
type RowError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// ImportResult summarises a CSV import. With rejected rows and no
// skipBad, nothing is written (Written 0).
type ImportResult struct {
	Rows    int `json:"rows"`
	Written int `json:"written"`
	Created int `json:"created"`
	Updated int `json:"updated"`
	// Duplicates counts rows skipped because they were already stored
	// (orders: the same order_ref or the same contents).
	Duplicates int        `json:"duplicates"`
	Rejected   []RowError `json:"rejected"`
}

// csvFile reads a header row and then records, tracking line numbers.
type csvFile struct {
	r    *csv.Reader
	cols map[string]int
}

func openCSV(r io.Reader, allowed []string) (*csvFile, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		br.Discard(3) // UTF-8 BOM (Excel)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, Invalid("file", "empty: expected a header row")
	} else if err != nil {
		return nil, Invalid("file", "header: %v", err)
	}
	f := &csvFile{r: cr, cols: map[string]int{}}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		ok := false
		for _, a := range allowed {
			ok = ok || a == h
		}
		if !ok {
			return nil, Invalid("header", "unknown column %q (expected %s)", h, strings.Join(allowed, ","))
		}
		if _, dup := f.cols[h]; dup {
			return nil, Invalid("header", "column %q appears twice", h)
		}
		f.cols[h] = i
	}
	return f, nil
}

// next returns the next record and its line, or io.EOF.
func (f *csvFile) next() (rec []string, line int, err error) {
	rec, err = f.r.Read()
	line, _ = f.r.FieldPos(0)
	return rec, line, err
}

func (f *csvFile) get(rec []string, col string) string {
	i, ok := f.cols[col]
	if !ok || i >= len(rec) {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

// importCustomer is a validated customer row.
type importCustomer struct {
	line int
	in   CustomerInput
	c    Customer
	tags []string
	ref  string
}

// ImportCustomers loads customers from CSV: name,phone,birthday,email,
// tags,external_ref (tags separated by ';'). A row updates the customer
// with its external_ref, else the one with its phone (see importMatch), so
// importing a file again creates nobody twice; others are created with
// source "import".
// Every row is validated first; with any bad row nothing is written unless
// skipBad, in which case the good rows are written in one transaction.
func (s *Store) ImportCustomers(ctx context.Context, r io.Reader, skipBad bool) (*ImportResult, error) {
	f, err := openCSV(r, []string{"name", "phone", "birthday", "email", "tags", "external_ref"})
	if err != nil {
		return nil, err
	}
	res := &ImportResult{Rejected: []RowError{}}
	var rows []importCustomer
	refs := map[string]int{}
	for {
		rec, line, err := f.next()
		if errors.Is(err, io.EOF) {
			break
		}
		res.Rows++
		if err != nil {
			res.Rejected = append(res.Rejected, RowError{line, fmt.Sprintf("malformed CSV: %v", err)})
			continue
		}
		if len(rec) != len(f.cols) {
			res.Rejected = append(res.Rejected, RowError{line, fmt.Sprintf("%d fields, header has %d", len(rec), len(f.cols))})
			continue
		}
		ic := importCustomer{line: line}
		// A column the file lacks leaves that field alone (on update).
		col := func(name string) *string {
			if _, ok := f.cols[name]; !ok {
				return nil
			}
			v := f.get(rec, name)
			return &v
		}
		ref := f.get(rec, "external_ref")
		ic.in = CustomerInput{Name: col("name"), Phone: col("phone"), Birthday: col("birthday"), Email: col("email")}
		if v := col("tags"); v != nil {
			tags := strings.Split(*v, ";")
			ic.in.Tags = &tags
		}
		if ref != "" {
			ic.in.ExternalRef = &ref
		}
		ic.c = Customer{Tier: TierC, Stage: StagePotential, Locale: LocaleZH, Source: "import"}
		ic.tags, _, err = ic.in.apply(&ic.c, s.Now(), s.phoneRegion)
		if err == nil && ic.c.Name == "" && ic.c.Phone == "" {
			err = Invalid("name", "a customer needs a name or a phone")
		}
		if err == nil && ref != "" {
			if first, dup := refs[ref]; dup {
				err = Invalid("external_ref", "%q already on line %d", ref, first)
			}
		}
		if err != nil {
			res.Rejected = append(res.Rejected, RowError{line, ErrorMessage(err)})
			continue
		}
		if ref != "" {
			refs[ref] = line
			ic.ref = ref
		}
		rows = append(rows, ic)
	}
	if len(res.Rejected) > 0 && !skipBad {
		return res, nil
	}
	// Customer imports take turns, holding this row's lock until commit, so
	// that rows are matched against what the previous import wrote (SQLite
	// takes turns anyway: BEGIN IMMEDIATE).
	turn := kvEntry{Name: "import:customers", UpdatedAt: s.Now().Truncate(time.Millisecond)}
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&turn).Error; err != nil && !isDuplicate(err) {
		return nil, fmt.Errorf("import customers: %w", err)
	}
	invalid := res.Rejected
	write := func(tx *gorm.DB) error {
		res.Created, res.Updated = 0, 0
		res.Rejected = slices.Clone(invalid)
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("name = ?", turn.Name).Take(&kvEntry{}).Error; err != nil {
			return err
		}
		for _, ic := range rows {
			existing, found, err := importMatch(tx, ic)
			if err != nil {
				return fmt.Errorf("line %d: %w", ic.line, err)
			}
			c := ic.c
			if found {
				// Re-apply the row onto the stored customer (keeps its
				// tier, stage, source, identities).
				if _, _, err := ic.in.apply(&existing, s.Now(), s.phoneRegion); err != nil {
					return err
				}
				c = existing
			}
			// A phone on record for someone else (another external_ref)
			// is a bad row: one customer per number.
			if err := checkPhoneFree(tx, &c); err != nil {
				if !IsCode(err, ECONFLICT) {
					return err
				}
				res.Rejected = append(res.Rejected, RowError{ic.line, ErrorMessage(err)})
				continue
			}
			if found {
				if err := tx.Save(&c).Error; err != nil {
					return fmt.Errorf("line %d: %w", ic.line, err)
				}
				res.Updated++
			} else {
				if err := tx.Create(&c).Error; err != nil {
					return fmt.Errorf("line %d: %w", ic.line, err)
				}
				res.Created++
			}
			if err := setTags(tx, c.ID, ic.tags); err != nil {
				return err
			}
		}
		if len(res.Rejected) > len(invalid) && !skipBad {
			return errImportRejected // nothing is written
		}
		return nil
	}
	err = s.tx(ctx, write)
	if isDuplicate(err) {
		// Another writer took one of these external_refs or phones since
		// we looked: once more, and this time the row finds and updates
		// it, or is refused.
		err = s.tx(ctx, write)
	}
	slices.SortStableFunc(res.Rejected, func(a, b RowError) int { return a.Line - b.Line })
	if errors.Is(err, errImportRejected) {
		res.Created, res.Updated = 0, 0
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("import customers: %w", err)
	}
	res.Written = res.Created + res.Updated
	return res, nil
}

// errImportRejected rolls back an import whose rows conflict with stored
// customers: without skipBad a bad row writes nothing.
var errImportRejected = errors.New("import: rows rejected")

// importMatch finds the stored customer a row updates: the one with its
// external_ref, else the one with its phone on record (the same person,
// entered or imported before, or proved in chat) unless that one has
// another external_ref. A phone merely claimed in chat matches nothing: an
// unproved claim must never receive imported data.
func importMatch(tx *gorm.DB, ic importCustomer) (Customer, bool, error) {
	var c Customer
	if ic.ref != "" {
		err := tx.Where("external_ref = ?", ic.ref).Take(&c).Error
		if err == nil {
			return c, true, nil
		} else if !errors.Is(err, gorm.ErrRecordNotFound) {
			return c, false, err
		}
	}
	if ic.c.Phone == "" {
		return c, false, nil
	}
	q := tx.Where("phone_key = ?", ic.c.Phone)
	if ic.ref != "" {
		q = q.Where("external_ref IS NULL OR external_ref = ?", ic.ref)
	}
	err := q.Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return c, false, nil
	}
	return c, err == nil, err
}

// ImportOrders loads orders from CSV: customer_phone or
// customer_external_ref, kind, amount, occurred_at (RFC 3339, or
// "YYYY-MM-DD[ HH:MM[:SS]]" in loc), optional asset_id and order_ref. A
// service order with an asset moves the asset's due date. All-or-nothing as
// ImportCustomers.
//
// Importing is idempotent: every row gets a dedup key (Order.DedupKey: its
// order_ref, else its contents) and a row whose key is already stored is
// skipped and counted in Duplicates, so a file imported twice, or after an
// import that stopped halfway, or by two processes at once, records each
// order once.
func (s *Store) ImportOrders(ctx context.Context, r io.Reader, skipBad bool, loc *time.Location) (*ImportResult, error) {
	f, err := openCSV(r, []string{"customer_phone", "customer_external_ref", "kind", "amount", "occurred_at", "asset_id", "order_ref"})
	if err != nil {
		return nil, err
	}
	_, hasPhone := f.cols["customer_phone"]
	_, hasRef := f.cols["customer_external_ref"]
	if !hasPhone && !hasRef {
		return nil, Invalid("header", "needs customer_phone or customer_external_ref")
	}
	for _, col := range []string{"kind", "occurred_at"} {
		if _, ok := f.cols[col]; !ok {
			return nil, Invalid("header", "missing column %q", col)
		}
	}
	db := s.db.WithContext(ctx)
	res := &ImportResult{Rejected: []RowError{}}
	var rows []orderLine
	refs := map[string]int{} // order_ref -> first line
	same := map[string]int{} // row key with nth 0 -> identical rows so far
	for {
		rec, line, err := f.next()
		if errors.Is(err, io.EOF) {
			break
		}
		res.Rows++
		if err != nil {
			res.Rejected = append(res.Rejected, RowError{line, fmt.Sprintf("malformed CSV: %v", err)})
			continue
		}
		o, err := s.orderRow(db, f, rec, loc)
		if err == nil && o.DedupKey != nil {
			ref := f.get(rec, "order_ref")
			if first, dup := refs[ref]; dup {
				err = Invalid("order_ref", "%q already on line %d", ref, first)
			} else {
				refs[ref] = line
			}
		}
		if err != nil {
			res.Rejected = append(res.Rejected, RowError{line, ErrorMessage(err)})
			continue
		}
		if o.DedupKey == nil {
			base := *rowKey(o, 0)
			o.DedupKey = rowKey(o, same[base])
			same[base]++
		}
		rows = append(rows, orderLine{line, o})
	}
	if len(res.Rejected) > 0 && !skipBad {
		return res, nil
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		res.Created, res.Duplicates = 0, 0 // a retried transaction counts afresh
		return insertOrders(tx, rows, loc, res)
	})
	if err != nil {
		return nil, fmt.Errorf("import orders: %w", err)
	}
	res.Written = res.Created
	return res, nil
}

// orderLine is a validated order row and its line.
type orderLine struct {
	line int
	o    *Order
}

// importBatch is how many orders one INSERT carries.
const importBatch = 500

// insertOrders inserts rows in batches, skipping those whose dedup key is
// stored (ON CONFLICT DO NOTHING: the unique index decides, so concurrent
// imports agree), and counts Created and Duplicates. A service row with an
// asset goes alone, as createOrder, so that only an inserted one moves its
// asset.
func insertOrders(tx *gorm.DB, rows []orderLine, loc *time.Location, res *ImportResult) error {
	var batch []orderLine
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ids := make([]int64, 0, len(batch))
		batchOrders := make([]Order, len(batch))
		for i, r := range batch {
			ids = append(ids, r.o.CustomerID)
			batchOrders[i] = *r.o
		}
		var found []int64
		if err := tx.Model(&Customer{}).Where("id IN ?", ids).Pluck("id", &found).Error; err != nil {
			return err
		}
		for _, r := range batch {
			if !slices.Contains(found, r.o.CustomerID) {
				return fmt.Errorf("line %d: %w", r.line, Errorf(ENOTFOUND, "customer %d not found", r.o.CustomerID))
			}
		}
		q := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&batchOrders)
		if q.Error != nil {
			return fmt.Errorf("lines %d-%d: %w", batch[0].line, batch[len(batch)-1].line, q.Error)
		}
		res.Created += int(q.RowsAffected)
		res.Duplicates += len(batch) - int(q.RowsAffected)
		batch = batch[:0]
		return nil
	}
	for _, r := range rows {
		if r.o.AssetID == nil {
			if batch = append(batch, r); len(batch) == importBatch {
				if err := flush(); err != nil {
					return err
				}
			}
			continue
		}
		if err := flush(); err != nil { // keep file order
			return err
		}
		o := *r.o
		inserted, err := createOrder(tx, &o, loc)
		if err != nil {
			return fmt.Errorf("line %d: %w", r.line, err)
		}
		if inserted {
			res.Created++
		} else {
			res.Duplicates++
		}
	}
	return flush()
}

func (s *Store) orderRow(db *gorm.DB, f *csvFile, rec []string, loc *time.Location) (*Order, error) {
	if len(rec) != len(f.cols) {
		return nil, Errorf(EINVALID, "%d fields, header has %d", len(rec), len(f.cols))
	}
	var in OrderInput
	phone, ref := f.get(rec, "customer_phone"), f.get(rec, "customer_external_ref")
	var ids []int64
	switch {
	case ref != "":
		if err := db.Model(&Customer{}).Where("external_ref = ?", ref).Pluck("id", &ids).Error; err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, Invalid("customer_external_ref", "no customer with external_ref %q", ref)
		}
	case phone != "":
		p, err := s.CanonicalPhone(phone)
		if err != nil {
			return nil, Invalid("customer_phone", "%v", err)
		}
		// Only a phone on record (unique): an order never lands on a
		// profile that merely claimed the number in chat.
		if err := db.Model(&Customer{}).Where("phone_key = ?", p).Limit(1).Pluck("id", &ids).Error; err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, Invalid("customer_phone", "no customer with phone %s on record", p)
		}
	default:
		return nil, Invalid("customer_phone", "customer_phone or customer_external_ref required")
	}
	in.CustomerID = ids[0]
	in.Kind = strings.ToLower(f.get(rec, "kind"))
	if v := f.get(rec, "amount"); v != "" {
		a, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, Invalid("amount", "%q is not a number", v)
		}
		in.Amount = a
	}
	at, err := parseWhen(f.get(rec, "occurred_at"), loc)
	if err != nil {
		return nil, err
	}
	in.OccurredAt = &at
	in.OrderRef = f.get(rec, "order_ref")
	if v := f.get(rec, "asset_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return nil, Invalid("asset_id", "%q is not an id", v)
		}
		var a Asset
		if err := db.Take(&a, id).Error; err != nil {
			return nil, notFound(err, "asset %d", id)
		}
		if a.CustomerID != in.CustomerID {
			return nil, Invalid("asset_id", "asset %d belongs to another customer", id)
		}
		in.AssetID = &id
	}
	return in.order(s.Now())
}

func parseWhen(v string, loc *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, Invalid("occurred_at", "required")
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, Invalid("occurred_at", "%q is not RFC 3339 or YYYY-MM-DD[ HH:MM[:SS]]", v)
}
