package importer

import (
	"context"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

var orderColumns = []string{"customer_phone", "customer_external_ref", "kind", "amount", "occurred_at", "asset_id", "order_ref", "refund_of"}

// Orders loads orders from CSV: customer_phone (on record) or
// customer_external_ref, kind, amount (exact, to the fen; negative for a
// refund), occurred_at (RFC 3339, or "YYYY-MM-DD[ HH:MM[:SS]]" in loc),
// optional asset_id and order_ref (kept as written), and for a refund
// refund_of, the order_ref of the order it refunds (its points are
// reversed in proportion). A service order with
// an asset moves the asset's due date. All or nothing unless skipBad, as
// Customers. The customers whose orders were written are touched: their
// figures follow (see package analytics).
//
// Importing is idempotent: every row gets a dedup key (its order_ref, else
// its contents and how many identical rows came before it: store.RowKey)
// and a row whose key is already stored is skipped and counted in
// Duplicates, so a file imported twice, or after an import that stopped
// halfway, or by two processes at once, records each order once.
func Orders(ctx context.Context, s *store.Store, file io.ReadSeeker, skipBad bool, loc *time.Location) (*Result, error) {
	return OrdersWith(ctx, s, file, loc, Options{SkipBad: skipBad})
}

// OrdersWith is Orders with its options (a progress report, say).
func OrdersWith(ctx context.Context, s *store.Store, file io.ReadSeeker, loc *time.Location, opt Options) (*Result, error) {
	var w *store.OrderImport
	inTx := func(pass func() error) error {
		return s.ImportOrders(ctx, loc, func(tx *store.OrderImport) error { w = tx; return pass() })
	}
	return importFile(file, opt, false, inTx, func(file io.ReadSeeker, res *Result, p pass) (int, error) {
		return readOrders(ctx, s, file, loc, p, func(rows []store.OrderRow) error {
			created, dups, err := w.Insert(rows)
			res.Created += created
			res.Duplicates += dups
			return err
		})
	})
}

// orderLine is a record read but not yet checked against the database.
type orderLine struct {
	line     int
	err      error // the record could not be read
	ref      string
	phone    string // canonical
	phoneErr error
	in       store.OrderInput
	// textErr is the first field that could not be read (amount,
	// occurred_at, asset_id); reported after a missing customer.
	textErr error
}

// readOrders is a pass over the file: it checks the rows (the writing
// pass only those the checking pass did not reject), looking customers
// and assets up once per batch, hands the bad ones to p.bad and, in the
// writing pass, the good ones to write, batchSize at a time. It returns how
// many rows the file has.
func readOrders(ctx context.Context, s *store.Store, file io.ReadSeeker, loc *time.Location, p pass, write func([]store.OrderRow) error) (int, error) {
	f, err := openCSV(file, orderColumns)
	if err != nil {
		return 0, err
	}
	if !f.has("customer_phone") && !f.has("customer_external_ref") {
		return 0, store.Invalid("header", "needs customer_phone or customer_external_ref")
	}
	for _, col := range []string{"kind", "occurred_at"} {
		if !f.has(col) {
			return 0, store.Invalid("header", "missing column %q", col)
		}
	}
	c := orderCheck{s: s, pass: p, write: write, refs: map[[16]byte]fileOrder{}, same: map[[16]byte]int{}}
	return batches(f, p, func(rec []string, line int, malformed error) (orderLine, error) {
		return readOrder(s, f, rec, line, malformed, loc), nil
	}, nil, func(lines []orderLine) error { return c.batch(ctx, lines) })
}

// readOrder reads a record's fields; what it cannot read is kept in the
// orderLine, to be reported in the order the checks have always gone.
func readOrder(s *store.Store, f *csvFile, rec []string, line int, malformed error, loc *time.Location) orderLine {
	l := orderLine{line: line}
	if l.err = f.rowError(rec, malformed); l.err != nil {
		return l
	}
	l.ref = f.get(rec, "customer_external_ref")
	if phone := f.get(rec, "customer_phone"); l.ref == "" && phone != "" {
		p, err := s.CanonicalPhone(phone)
		if err != nil {
			l.phoneErr = store.Invalid("customer_phone", "%v", err)
		}
		l.phone = p
	}
	l.in.Kind = strings.ToLower(f.get(rec, "kind"))
	if v := f.get(rec, "amount"); v != "" {
		// The decimal text as written, never through a float.
		a, err := store.ParseMoney("amount", v)
		if err != nil {
			l.textErr = err
			return l
		}
		l.in.Amount = a
	}
	at, err := parseWhen(f.get(rec, "occurred_at"), loc)
	if err != nil {
		l.textErr = err
		return l
	}
	l.in.OccurredAt = &at
	l.in.OrderRef = f.get(rec, "order_ref")
	l.in.RefundOf = f.get(rec, "refund_of")
	if v := f.get(rec, "asset_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			l.textErr = store.Invalid("asset_id", "%q is not an id", v)
			return l
		}
		l.in.AssetID = &id
	}
	return l
}

// orderCheck checks a file's order rows a batch at a time.
type orderCheck struct {
	s     *store.Store
	pass  pass
	write func([]store.OrderRow) error
	// refs holds the order_refs seen (by hashOf), with what a refund of
	// them must match; same counts the rows of each contents (RowKey with
	// nth 0) without an order_ref.
	refs map[[16]byte]fileOrder
	same map[[16]byte]int
}

// fileOrder is an order_ref's first line in the file and its order.
type fileOrder struct {
	line   int
	target store.RefundTarget
}

// batch looks up the lines' customers and assets, checks each line and
// hands the good ones to write.
func (c *orderCheck) batch(ctx context.Context, lines []orderLine) error {
	var refs, phones []string
	var assets []int64
	for _, l := range lines {
		switch {
		case l.err != nil:
		case l.ref != "":
			refs = append(refs, l.ref)
		case l.phone != "":
			phones = append(phones, l.phone)
		}
		if l.in.AssetID != nil {
			assets = append(assets, *l.in.AssetID)
		}
	}
	byRef, byPhone, err := c.s.CustomerIDs(ctx, refs, phones)
	if err != nil {
		return err
	}
	owners, err := c.s.AssetOwners(ctx, assets)
	if err != nil {
		return err
	}
	var refunds map[string]store.RefundTarget
	if !c.pass.writing { // the writing pass has only the lines this one kept
		var of []string
		for _, l := range lines {
			if l.err == nil && l.in.RefundOf != "" {
				of = append(of, strings.TrimSpace(l.in.RefundOf))
			}
		}
		if refunds, err = c.s.RefundTargets(ctx, of); err != nil {
			return err
		}
	}
	good := make([]store.OrderRow, 0, len(lines))
	for _, l := range lines {
		o, err := c.order(l, byRef, byPhone, owners)
		if err == nil && !c.pass.writing {
			err = c.refund(l.line, l.in.RefundOf, o, refunds)
		}
		if err != nil {
			c.pass.bad(RowError{l.line, store.ErrorMessage(err)})
			continue
		}
		good = append(good, store.OrderRow{Line: l.line, Order: o})
	}
	if !c.pass.writing || len(good) == 0 {
		return nil
	}
	return c.write(good)
}

// order checks one line: its customer, the fields read, its asset, the
// order itself, its order_ref against the earlier lines; and gives a row
// without an order_ref its dedup key.
func (c *orderCheck) order(l orderLine, byRef, byPhone map[string]int64, owners map[int64]int64) (*store.Order, error) {
	if l.err != nil {
		return nil, l.err
	}
	switch {
	case l.ref != "":
		id := byRef[l.ref]
		if id == 0 {
			return nil, store.Invalid("customer_external_ref", "no customer with external_ref %q", l.ref)
		}
		l.in.CustomerID = id
	case l.phoneErr != nil:
		return nil, l.phoneErr
	case l.phone != "":
		id := byPhone[l.phone]
		if id == 0 {
			// Only a phone on record: an order never lands on a profile
			// that merely claimed the number in chat.
			return nil, store.Invalid("customer_phone", "no customer with phone %s on record", l.phone)
		}
		l.in.CustomerID = id
	default:
		return nil, store.Invalid("customer_phone", "customer_phone or customer_external_ref required")
	}
	if l.textErr != nil {
		return nil, l.textErr
	}
	if a := l.in.AssetID; a != nil {
		owner, ok := owners[*a]
		if !ok {
			return nil, store.Errorf(store.ENOTFOUND, "asset %d not found", *a)
		}
		if owner != l.in.CustomerID {
			return nil, store.Invalid("asset_id", "asset %d belongs to another customer", *a)
		}
	}
	o, err := c.s.CheckOrder(l.in)
	if err != nil {
		return nil, err
	}
	if o.DedupKey != nil {
		if c.pass.writing {
			return o, nil // the checking pass rejected the repeats
		}
		h := hashOf(l.in.OrderRef)
		if first, dup := c.refs[h]; dup {
			return nil, store.Invalid("order_ref", "%q already on line %d", l.in.OrderRef, first.line)
		}
		kind := store.OrderPurchase // a constant: the map keeps no row's text
		if o.Kind == store.OrderService {
			kind = store.OrderService
		}
		c.refs[h] = fileOrder{l.line, store.RefundTarget{CustomerID: o.CustomerID, Kind: kind, Positive: o.Amount.Fen() > 0}}
		return o, nil
	}
	key := store.RowKey(o, 0)
	h := hashOf(key)
	if nth := c.same[h]; nth > 0 {
		key = store.RowKey(o, nth)
	}
	c.same[h]++
	o.DedupKey = &key
	return o, nil
}

// refund checks a refund's refund_of in the checking pass: the order it
// names is stored (of the same customer and kind, not itself a refund) or
// on an earlier line of the file; otherwise the line is a bad row rather
// than a failure of the whole import at writing time.
func (c *orderCheck) refund(line int, refundOf string, o *store.Order, stored map[string]store.RefundTarget) error {
	ref := strings.TrimSpace(refundOf)
	if ref == "" {
		return nil
	}
	t, ok := stored[ref]
	if !ok {
		f, inFile := c.refs[hashOf(ref)]
		if !inFile || f.line >= line {
			return store.Invalid("refund_of", "no order %q, stored or on an earlier line", ref)
		}
		t = f.target // the file's own order, written before this line
	}
	if t.CustomerID != o.CustomerID || t.Kind != o.Kind || !t.Positive {
		return store.Invalid("refund_of", "order %q is not a %s of this customer", ref, o.Kind)
	}
	return nil
}

// parseWhen reads occurred_at: RFC 3339, or a date and time in loc.
func parseWhen(v string, loc *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, store.Invalid("occurred_at", "required")
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, store.Invalid("occurred_at", "%q is not RFC 3339 or YYYY-MM-DD[ HH:MM[:SS]]", v)
}
