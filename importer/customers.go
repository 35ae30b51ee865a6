package importer

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/rapport-crm/rapport/store"
)

var customerColumns = []string{"name", "phone", "birthday", "email", "tags", "external_ref"}

// Customers loads customers from CSV: name,phone,birthday,email,tags,
// external_ref (tags separated by ';'); a column the file lacks leaves that
// field alone. A row updates the customer with its external_ref, else the
// one with its phone on record, so importing a file again creates nobody
// twice; others are created with source "import". Customer imports take
// turns (see store.ImportCustomers).
//
// With any bad row nothing is written, unless skipBad: then the good rows
// are. A row is bad for what it says (a bad date, no name nor phone, an
// external_ref already on an earlier line) and, found while writing, for a
// phone on record for another customer.
func Customers(ctx context.Context, s *store.Store, file io.ReadSeeker, skipBad bool) (*Result, error) {
	res := &Result{Rejected: []RowError{}}
	rows, err := readCustomers(s, file, nil, func(e RowError) { res.Rejected = append(res.Rejected, e) }, nil)
	if err != nil {
		return nil, err
	}
	res.Rows = rows
	if len(res.Rejected) > 0 && !skipBad {
		return res, nil
	}
	checked := res.Rejected
	err = s.ImportCustomers(ctx, func(w *store.CustomerImport) error {
		res.Created, res.Updated = 0, 0 // a retried transaction counts afresh
		res.Rejected = slices.Clone(checked)
		bad := func(e RowError) { res.Rejected = append(res.Rejected, e) }
		_, err := readCustomers(s, file, checked, bad, func(rows []store.CustomerRow) error {
			created, updated, err := w.Write(rows)
			res.Created += created
			res.Updated += updated
			for _, r := range rows {
				if r.Err != nil {
					bad(RowError{r.Line, store.ErrorMessage(r.Err)})
				}
			}
			return err
		})
		if err == nil && len(res.Rejected) > len(checked) && !skipBad {
			err = errRejected
		}
		return err
	})
	sortRejected(res.Rejected)
	if errors.Is(err, errRejected) {
		res.Created, res.Updated = 0, 0
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	res.Written = res.Created + res.Updated
	return res, nil
}

// readCustomers reads the file from the start, skipping the lines in skip
// (sorted). The checking pass (no write) checks every row and hands the
// bad ones to bad; the writing pass, skipping the lines that one rejected,
// hands the others to write batchSize at a time (Write checks each again).
// It returns how many rows the file has.
func readCustomers(s *store.Store, file io.ReadSeeker, skip []RowError, bad func(RowError), write func([]store.CustomerRow) error) (int, error) {
	f, err := openCSV(file, customerColumns)
	if err != nil {
		return 0, err
	}
	checking := write == nil
	refs := firstLines{}
	skipped := rejected{rows: skip}
	var batch []store.CustomerRow
	rows := 0
	for {
		rec, line, malformed, err := f.next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return rows, err
		}
		rows++
		if skipped.has(line) {
			continue
		}
		r, err := customerRow(f, rec, line, malformed)
		if err == nil && checking {
			err = s.CheckCustomer(r.In)
		}
		if ref := r.In.ExternalRef; err == nil && checking && ref != nil {
			if first, dup := refs.seen(*ref, line); dup {
				err = store.Invalid("external_ref", "%q already on line %d", *ref, first)
			}
		}
		if err != nil {
			bad(RowError{line, store.ErrorMessage(err)})
		}
		if err != nil || checking {
			continue
		}
		if batch = append(batch, r); len(batch) == batchSize {
			if err := write(batch); err != nil {
				return rows, err
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		return rows, write(batch)
	}
	return rows, nil
}

// customerRow reads a record (malformed: why it could not be read).
func customerRow(f *csvFile, rec []string, line int, malformed error) (store.CustomerRow, error) {
	if err := f.rowError(rec, malformed); err != nil {
		return store.CustomerRow{}, err
	}
	col := func(name string) *string {
		if !f.has(name) {
			return nil
		}
		v := f.get(rec, name)
		return &v
	}
	in := store.CustomerInput{Name: col("name"), Phone: col("phone"), Birthday: col("birthday"), Email: col("email")}
	if v := col("tags"); v != nil {
		tags := strings.Split(*v, ";")
		in.Tags = &tags
	}
	if ref := f.get(rec, "external_ref"); ref != "" {
		in.ExternalRef = &ref
	}
	return store.CustomerRow{Line: line, In: in}, nil
}
