package importer

import (
	"context"
	"io"
	"strings"

	"github.com/rapport-crm/rapport/store"
)

var customerColumns = []string{"name", "phone", "birthday", "email", "tags", "external_ref", "city", "region", "district"}

// Customers loads customers from CSV: name,phone,birthday,email,tags,
// external_ref,city,region,district (tags separated by ';'); a column the file
// lacks leaves that field alone. A row updates the customer with its external_ref, else the
// one with its phone on record, so importing a file again creates nobody
// twice; others are created with source "import". Customer imports take
// turns (see store.ImportCustomers).
//
// With any bad row nothing is written, unless skipBad: then the good rows
// are. A row is bad for what it says (a bad date, no name nor phone, an
// external_ref already on an earlier line) and, found while writing, for a
// phone on record for another customer.
func Customers(ctx context.Context, s *store.Store, file io.ReadSeeker, skipBad bool) (*Result, error) {
	return CustomersWith(ctx, s, file, Options{SkipBad: skipBad})
}

// CustomersWith is Customers with its options (a progress report, say).
func CustomersWith(ctx context.Context, s *store.Store, file io.ReadSeeker, opt Options) (*Result, error) {
	var w *store.CustomerImport
	inTx := func(pass func() error) error {
		return s.ImportCustomers(ctx, func(tx *store.CustomerImport) error { w = tx; return pass() })
	}
	// The checks read no database: the writing pass may run beside them.
	return importFile(file, opt, true, inTx, func(file io.ReadSeeker, res *Result, p pass) (int, error) {
		return readCustomers(s, file, p, func(rows []store.CustomerRow) error {
			created, updated, unchanged, err := w.Write(rows)
			res.Created += created
			res.Updated += updated
			res.Unchanged += unchanged
			for _, r := range rows {
				if r.Err != nil {
					p.bad(RowError{r.Line, store.ErrorMessage(r.Err)})
				}
			}
			return err
		})
	})
}

// readCustomers is a pass over the file. The checking pass checks every
// row and hands the bad ones to p.bad; the writing pass hands the rows the
// checking pass did not reject to write, batchSize at a time, checked
// again (the checks of the next batch run while one is written). It
// returns how many rows the file has. An external_ref repeated from an
// earlier line is found after the checks, in file order.
func readCustomers(s *store.Store, file io.ReadSeeker, p pass, write func([]store.CustomerRow) error) (int, error) {
	f, err := openCSV(file, customerColumns)
	if err != nil {
		return 0, err
	}
	refs := firstLines{}
	return batches(f, p, func(rec []string, line int, malformed error) (store.CustomerRow, error) {
		return customerRow(f, rec, line, malformed)
	}, s.CheckCustomers, func(rows []store.CustomerRow) error {
		if p.writing {
			return write(rows)
		}
		for _, r := range rows {
			err := r.Err
			if ref := r.In.ExternalRef; err == nil && ref != nil {
				if first, dup := refs.seen(*ref, r.Line); dup {
					err = store.Invalid("external_ref", "%q already on line %d", *ref, first)
				}
			}
			if err != nil {
				p.bad(RowError{r.Line, store.ErrorMessage(err)})
			}
		}
		return nil
	})
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
	in := store.CustomerInput{Name: col("name"), Phone: col("phone"), Birthday: col("birthday"), Email: col("email"),
		City: col("city"), Region: col("region"), District: col("district")}
	if v := col("tags"); v != nil {
		tags := strings.Split(*v, ";")
		in.Tags = &tags
	}
	if ref := f.get(rec, "external_ref"); ref != "" {
		in.ExternalRef = &ref
	}
	return store.CustomerRow{Line: line, In: in}, nil
}
