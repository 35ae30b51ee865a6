package importer

import (
	"context"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rapport-crm/rapport/store"
)

var pointsColumns = []string{"customer_phone", "customer_external_ref", "points", "reason"}

// Points loads opening balances from CSV: customer_phone (on record) or
// customer_external_ref, points (a whole number above 0), optional reason
// (default "opening balance"). Each becomes an adjust entry of the
// customer's points ledger that never expires. All or nothing unless
// skipBad, as Customers.
//
// Importing is idempotent: a customer has one opening balance (the ledger
// key opening:CUSTOMER, which the migration also gave the balances staff
// had set by hand), so a file imported twice, or by two processes at once,
// credits each customer once; the rest count as Duplicates. A customer
// twice in one file is a bad row.
func Points(ctx context.Context, s *store.Store, file io.ReadSeeker, opt Options) (*Result, error) {
	var w *store.PointsImport
	inTx := func(pass func() error) error {
		return s.ImportPoints(ctx, func(tx *store.PointsImport) error { w = tx; return pass() })
	}
	return importFile(file, opt, false, inTx, func(file io.ReadSeeker, res *Result, p pass) (int, error) {
		return readPoints(ctx, s, file, p, func(rows []store.OpeningBalance) error {
			created, dups, err := w.Insert(rows)
			res.Created += created
			res.Duplicates += dups
			return err
		})
	})
}

type pointsLine struct {
	line  int
	err   error
	ref   string
	phone string
	pts   int64
	why   string
}

func readPoints(ctx context.Context, s *store.Store, file io.ReadSeeker, p pass, write func([]store.OpeningBalance) error) (int, error) {
	f, err := openCSV(file, pointsColumns)
	if err != nil {
		return 0, err
	}
	if !f.has("customer_phone") && !f.has("customer_external_ref") {
		return 0, store.Invalid("header", "needs customer_phone or customer_external_ref")
	}
	if !f.has("points") {
		return 0, store.Invalid("header", `missing column "points"`)
	}
	seen := firstLines{}
	return batches(f, p, func(rec []string, line int, malformed error) (pointsLine, error) {
		l := pointsLine{line: line}
		if l.err = f.rowError(rec, malformed); l.err != nil {
			return l, nil
		}
		l.ref = f.get(rec, "customer_external_ref")
		if phone := f.get(rec, "customer_phone"); l.ref == "" && phone != "" {
			if l.phone, l.err = s.CanonicalPhone(phone); l.err != nil {
				l.err = store.Invalid("customer_phone", "%v", l.err)
				return l, nil
			}
		}
		v := strings.TrimSpace(f.get(rec, "points"))
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil:
			l.err = store.Invalid("points", "%q is not a whole number", v)
		case n < 1 || n > 1_000_000_000:
			l.err = store.Invalid("points", "must be between 1 and 1000000000")
		}
		l.pts = n
		l.why = strings.TrimSpace(f.get(rec, "reason"))
		if l.err == nil && utf8.RuneCountInString(l.why) > 255 {
			l.err = store.Invalid("reason", "longer than 255 characters")
		}
		return l, nil
	}, nil, func(lines []pointsLine) error {
		var refs, phones []string
		for _, l := range lines {
			if l.ref != "" {
				refs = append(refs, l.ref)
			} else if l.phone != "" {
				phones = append(phones, l.phone)
			}
		}
		byRef, byPhone, err := s.CustomerIDs(ctx, refs, phones)
		if err != nil {
			return err
		}
		var good []store.OpeningBalance
		for _, l := range lines {
			id := byRef[l.ref]
			switch {
			case l.err != nil:
			case l.ref != "" && id == 0:
				l.err = store.Invalid("customer_external_ref", "no customer with external_ref %q", l.ref)
			case l.ref == "" && l.phone == "":
				l.err = store.Invalid("customer_phone", "customer_phone or customer_external_ref required")
			case l.ref == "":
				if id = byPhone[l.phone]; id == 0 {
					l.err = store.Invalid("customer_phone", "no customer with phone %s on record", l.phone)
				}
			}
			if l.err == nil && !p.writing {
				if first, dup := seen.seen(strconv.FormatInt(id, 10), l.line); dup {
					l.err = store.Invalid("customer", "already on line %d", first)
				}
			}
			if l.err != nil {
				p.bad(RowError{l.line, store.ErrorMessage(l.err)})
				continue
			}
			good = append(good, store.OpeningBalance{Line: l.line, CustomerID: id, Points: l.pts, Reason: l.why})
		}
		if !p.writing || len(good) == 0 {
			return nil
		}
		return write(good)
	})
}
