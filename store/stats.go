package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// A customer's figures live in customer_stats, a table of their own keyed
// by customer: the nightly recompute writes a million of them and should
// not contend with customer rows (which inbound messages touch all day).
// Package analytics computes them; this file keeps them.
//
// Two kinds of column:
//   - figures, written whole by a recompute (nightly or one customer's):
//     order counts and spend, RFM, CLV, churn risk, the computed tier and
//     stage. FiguresAt is how fresh the data behind them is; a write with
//     older data than the row's is dropped (figuresGuard), so the nightly
//     job never overwrites what an order refreshed meanwhile.
//   - events, written where they happen, one column each: the last staff
//     contact (outbox), the last survey score (AnswerSurvey). A recompute
//     never writes them.

// CustomerStats is one customer's figures.
type CustomerStats struct {
	CustomerID int64 `gorm:"primaryKey;autoIncrement:false"`
	// Orders and Spend are within the window (default 12 months);
	// PrevOrders within the window before it. Refunds (negative orders)
	// count in spend, not as orders.
	Orders         int   `gorm:"not null;default:0"`
	Spend          Money `gorm:"column:spend_fen;type:bigint;not null;default:0"`
	PrevOrders     int   `gorm:"not null;default:0"`
	LifetimeOrders int   `gorm:"not null;default:0"`
	LifetimeSpend  Money `gorm:"column:lifetime_spend_fen;type:bigint;not null;default:0"`
	AvgOrder       Money `gorm:"column:avg_order_fen;type:bigint;not null;default:0"`
	FirstOrderAt   *time.Time
	LastOrderAt    *time.Time `gorm:"index"`
	// IntervalSecs is the typical interval: the median gap between
	// consecutive orders (0 with fewer than two).
	IntervalSecs int64 `gorm:"not null;default:0"`
	// R, F and M are the RFM scores 1-5 (0: no orders, or no population
	// to score against yet); Segment the RFM segment key.
	R int `gorm:"column:rfm_r;not null;default:0"`
	F int `gorm:"column:rfm_f;not null;default:0"`
	M int `gorm:"column:rfm_m;not null;default:0"`
	// Segment has no index: eight values, each a sizable share, so a
	// page of one is found walking customers in id order.
	Segment string `gorm:"column:rfm_segment;size:24;not null;default:''"`
	CLV     Money  `gorm:"column:clv_fen;type:bigint;not null;default:0;index"`
	// ChurnRisk is 0-100; ChurnReasons its reasons, one a line.
	ChurnRisk    int    `gorm:"not null;default:0;index"`
	ChurnReasons string `gorm:"size:255;not null;default:''"`
	// TierComputed and StageComputed are what the figures say, kept while
	// a pin overrides the customer's tier or stage: unpinning returns to
	// them at once.
	TierComputed   Tier  `gorm:"size:1;not null;default:'C'"`
	StageComputed  Stage `gorm:"size:16;not null;default:'potential'"`
	OpenComplaints int   `gorm:"not null;default:0"`
	// WonBack counts the customer's returns from at-risk or churned (the
	// computation that moves them back counts it).
	WonBack   int       `gorm:"not null;default:0"`
	FiguresAt time.Time `gorm:"not null"`

	LastStaffContactAt *time.Time
	LastScore          *int
	LastScoreAt        *time.Time
}

func (CustomerStats) TableName() string { return "customer_stats" }

// Reasons are the churn reasons as a list ([] for none).
func (st *CustomerStats) Reasons() []string {
	if st.ChurnReasons == "" {
		return []string{}
	}
	return strings.Split(st.ChurnReasons, "\n")
}

// SetReasons stores the churn reasons, as many whole ones as fit.
func (st *CustomerStats) SetReasons(rs []string) {
	var b strings.Builder
	for _, r := range rs {
		r = strings.ReplaceAll(r, "\n", " ")
		if b.Len()+len(r)+1 > 255 {
			break
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(r)
	}
	st.ChurnReasons = b.String()
}

// sameFigures reports whether two rows hold the same figures (FiguresAt
// and the event columns aside): a recompute writes only rows that change.
func sameFigures(a, b *CustomerStats) bool {
	return a.Orders == b.Orders && a.Spend == b.Spend && a.PrevOrders == b.PrevOrders &&
		a.LifetimeOrders == b.LifetimeOrders && a.LifetimeSpend == b.LifetimeSpend && a.AvgOrder == b.AvgOrder &&
		sameTime(a.FirstOrderAt, b.FirstOrderAt) && sameTime(a.LastOrderAt, b.LastOrderAt) && a.IntervalSecs == b.IntervalSecs &&
		a.R == b.R && a.F == b.F && a.M == b.M && a.Segment == b.Segment && a.CLV == b.CLV &&
		a.ChurnRisk == b.ChurnRisk && a.ChurnReasons == b.ChurnReasons && a.TierComputed == b.TierComputed &&
		a.StageComputed == b.StageComputed && a.OpenComplaints == b.OpenComplaints && a.WonBack == b.WonBack
}

// SameFigures reports whether stored (nil: no row) already holds the
// figures of computed, so that writing computed would change nothing. A
// customer with no row and nothing to say (no orders, no risk) needs none.
func SameFigures(stored, computed *CustomerStats) bool {
	if stored == nil {
		empty := CustomerStats{TierComputed: TierC, StageComputed: StagePotential}
		return sameFigures(&empty, computed)
	}
	return sameFigures(stored, computed)
}

// figureCols are the columns a recompute writes, in the order of
// figureValues; customer_id and figures_at come first and last.
var figureCols = []string{"orders", "spend_fen", "prev_orders", "lifetime_orders", "lifetime_spend_fen", "avg_order_fen",
	"first_order_at", "last_order_at", "interval_secs", "rfm_r", "rfm_f", "rfm_m", "rfm_segment", "clv_fen",
	"churn_risk", "churn_reasons", "tier_computed", "stage_computed", "open_complaints", "won_back"}

func figureValues(st *CustomerStats, args []any) []any {
	return append(args, st.CustomerID, st.Orders, st.Spend.fen, st.PrevOrders, st.LifetimeOrders, st.LifetimeSpend.fen, st.AvgOrder.fen,
		utcPtr(st.FirstOrderAt), utcPtr(st.LastOrderAt), st.IntervalSecs, st.R, st.F, st.M, st.Segment, st.CLV.fen,
		st.ChurnRisk, st.ChurnReasons, string(st.TierComputed), string(st.StageComputed), st.OpenComplaints, st.WonBack, st.FiguresAt.UTC())
}

func utcPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// upsertFigures writes rows' figures in multi-row upserts, each row only
// where the stored one is not fresher (figures_at): the guard is in the
// statement, so a concurrent refresh of one customer and a batch of the
// nightly job agree whatever their order.
func (s *Store) upsertFigures(tx *gorm.DB, rows []*CustomerStats) error {
	const per = 500 // rows a statement: SQLite allows 32766 variables
	cols := "customer_id, " + strings.Join(figureCols, ", ") + ", figures_at"
	row := "(" + strings.Repeat("?, ", len(figureCols)+1) + "?)"
	var tail strings.Builder
	if s.dialect == MySQL {
		// Assignments run left to right: figures_at goes last, so every
		// IF before it compares with the stored value.
		tail.WriteString(" ON DUPLICATE KEY UPDATE ")
		for _, c := range append(figureCols, "figures_at") {
			fmt.Fprintf(&tail, "%s = IF(figures_at <= VALUES(figures_at), VALUES(%s), %s), ", c, c, c)
		}
	} else {
		tail.WriteString(" ON CONFLICT(customer_id) DO UPDATE SET ")
		for _, c := range append(figureCols, "figures_at") {
			fmt.Fprintf(&tail, "%s = excluded.%s, ", c, c)
		}
	}
	set := strings.TrimSuffix(tail.String(), ", ")
	if s.dialect != MySQL {
		set += " WHERE customer_stats.figures_at <= excluded.figures_at"
	}
	var sb strings.Builder
	for start := 0; start < len(rows); start += per {
		end := min(start+per, len(rows))
		sb.Reset()
		sb.WriteString("INSERT INTO customer_stats (" + cols + ") VALUES ")
		args := make([]any, 0, (end-start)*(len(figureCols)+2))
		for i, st := range rows[start:end] {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(row)
			args = figureValues(st, args)
		}
		sb.WriteString(set)
		if err := execBatch(tx, sb.String(), args); err != nil {
			return err
		}
	}
	return nil
}

// execBatch runs a multi-row statement on the transaction's connection
// itself, not through GORM's builder, whose reflection over thousands of
// arguments cost more than the database's work. (As a server-side
// prepared statement it cost the database half as much again: binding
// 12,000 parameters is dearer than parsing their text.)
func execBatch(tx *gorm.DB, query string, args []any) error {
	_, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, query, args...)
	return err
}

// noteStats sets event columns of a customer's stats row (making the row
// if there is none yet).
func noteStats(tx *gorm.DB, customerID int64, values map[string]any) error {
	mysql := tx.Dialector.Name() == "mysql"
	cols := make([]string, 0, len(values))
	args := []any{customerID, unset()}
	for c, v := range values {
		cols = append(cols, c)
		args = append(args, v)
	}
	q := "INSERT INTO customer_stats (customer_id, figures_at, " + strings.Join(cols, ", ") + ") VALUES (?, ?" +
		strings.Repeat(", ?", len(cols)) + ")"
	if mysql {
		q += " ON DUPLICATE KEY UPDATE "
	} else {
		q += " ON CONFLICT(customer_id) DO UPDATE SET "
	}
	for i, c := range cols {
		if i > 0 {
			q += ", "
		}
		if mysql {
			q += c + " = VALUES(" + c + ")"
		} else {
			q += c + " = excluded." + c
		}
	}
	return tx.Exec(q, args...).Error
}

// noteStaffContact records, at enqueue time, that staff wrote to the
// customers of items: outbound messages to a customer that no workflow
// sent and no template rendered (an agent's reply, a relay), the rule
// StaffContacted reads too.
func noteStaffContact(tx *gorm.DB, items []Outbound, now time.Time) error {
	done := map[int64]bool{}
	for _, it := range items {
		if it.CustomerID == nil || it.StaffID != nil || it.Workflow != "" || it.TemplateKey != "" ||
			(it.Status != "" && it.Status != StatusQueued) || done[*it.CustomerID] {
			continue
		}
		done[*it.CustomerID] = true
		if err := noteStats(tx, *it.CustomerID, map[string]any{"last_staff_contact_at": now}); err != nil {
			return err
		}
	}
	return nil
}

// OrderPoint is one order as the figures see it: when (Unix ms) and how
// much (fen; negative for a refund).
type OrderPoint struct {
	At  int64
	Fen int64
}

// FigureRow is what a customer's figures are computed from, besides the
// orders: the customer's tier, stage and pins, their stored figures, and
// their open complaints.
type FigureRow struct {
	ID          int64
	Tier        Tier
	Stage       Stage
	OptOut      bool
	TierPinned  bool
	StagePinned bool
	// Stats is the stored row, nil when there is none.
	Stats          *CustomerStats
	OpenComplaints int
}

// figureSelect reads a FigureRow per customer (scanFigureRow).
const figureSelect = "SELECT c.id, c.tier, c.stage, c.opt_out, c.tier_pinned_at, c.stage_pinned_at, " +
	"s.customer_id, s.orders, s.spend_fen, s.prev_orders, s.lifetime_orders, s.lifetime_spend_fen, s.avg_order_fen, " +
	"s.first_order_at, s.last_order_at, s.interval_secs, s.rfm_r, s.rfm_f, s.rfm_m, s.rfm_segment, s.clv_fen, " +
	"s.churn_risk, s.churn_reasons, s.tier_computed, s.stage_computed, s.open_complaints, s.won_back, s.figures_at, " +
	"s.last_staff_contact_at, s.last_score, s.last_score_at " +
	"FROM customers c LEFT JOIN customer_stats s ON s.customer_id = c.id "

// figureScanner scans figureSelect rows; its targets are made once per
// query (see scan.go).
type figureScanner struct {
	r                    FigureRow
	st                   CustomerStats
	has, optOut          bool
	tierPin, stagePin    bool
	first, last, at      anyTime
	hasFirst, hasLast    bool
	staff, scoreAt       anyTime
	hasStaff, hasScoreAt bool
	score                int
	hasScore             bool
	dest                 []any
	words                interned
}

func newFigureScanner() *figureScanner {
	f := &figureScanner{words: interned{}}
	f.first.ok, f.last.ok, f.staff.ok, f.scoreAt.ok = &f.hasFirst, &f.hasLast, &f.hasStaff, &f.hasScoreAt
	var tierAt, stageAt anyTime
	tierAt.ok, stageAt.ok = &f.tierPin, &f.stagePin
	var statsID int64
	f.dest = []any{
		intCol[int64]{&f.r.ID, nil}, strCol[Tier]{&f.r.Tier, f.words}, strCol[Stage]{&f.r.Stage, f.words}, boolCol{&f.optOut},
		&tierAt, &stageAt,
		intCol[int64]{&statsID, &f.has}, intCol[int]{&f.st.Orders, nil}, intCol[int64]{&f.st.Spend.fen, nil},
		intCol[int]{&f.st.PrevOrders, nil}, intCol[int]{&f.st.LifetimeOrders, nil}, intCol[int64]{&f.st.LifetimeSpend.fen, nil},
		intCol[int64]{&f.st.AvgOrder.fen, nil}, &f.first, &f.last, intCol[int64]{&f.st.IntervalSecs, nil},
		intCol[int]{&f.st.R, nil}, intCol[int]{&f.st.F, nil}, intCol[int]{&f.st.M, nil}, strCol[string]{&f.st.Segment, f.words},
		intCol[int64]{&f.st.CLV.fen, nil}, intCol[int]{&f.st.ChurnRisk, nil}, strCol[string]{&f.st.ChurnReasons, nil},
		strCol[Tier]{&f.st.TierComputed, f.words}, strCol[Stage]{&f.st.StageComputed, f.words}, intCol[int]{&f.st.OpenComplaints, nil},
		intCol[int]{&f.st.WonBack, nil}, &f.at, &f.staff, intCol[int]{&f.score, &f.hasScore}, &f.scoreAt,
	}
	return f
}

// row is the scanned row, copied out.
func (f *figureScanner) row() FigureRow {
	r := f.r
	r.OptOut, r.TierPinned, r.StagePinned = f.optOut, f.tierPin, f.stagePin
	r.Stats = nil
	if f.has {
		st := f.st
		st.CustomerID = r.ID
		st.FirstOrderAt, st.LastOrderAt = timeIf(f.first.t, f.hasFirst), timeIf(f.last.t, f.hasLast)
		st.FiguresAt = f.at.t
		st.LastStaffContactAt, st.LastScoreAt = timeIf(f.staff.t, f.hasStaff), timeIf(f.scoreAt.t, f.hasScoreAt)
		if f.hasScore {
			score := f.score
			st.LastScore = &score
		}
		r.Stats = &st
	}
	// Reset what a NULL leaves alone.
	f.st = CustomerStats{}
	return r
}

func timeIf(t time.Time, ok bool) *time.Time {
	if !ok {
		return nil
	}
	return &t
}

// boolCol scans a boolean column (MySQL tinyint, SQLite numeric).
type boolCol struct{ p *bool }

func (c boolCol) Scan(v any) error {
	switch x := v.(type) {
	case bool:
		*c.p = x
	case int64:
		*c.p = x != 0
	case []byte:
		*c.p = len(x) > 0 && string(x) != "0"
	case string:
		*c.p = x != "" && x != "0"
	case nil:
		*c.p = false
	default:
		return fmt.Errorf("scan bool: unsupported %T", v)
	}
	return nil
}

// FigureRows returns up to limit customers with id > after, by id, with
// what their figures are computed from; complaints are the customers with
// an open complaint (OpenComplaintCustomers).
func (s *Store) FigureRows(ctx context.Context, after int64, limit int, complaints map[int64]int) ([]FigureRow, error) {
	rows, err := s.scan.WithContext(ctx).Raw(figureSelect+"WHERE c.id > ? ORDER BY c.id LIMIT ?", after, limit).Rows()
	if err != nil {
		return nil, fmt.Errorf("figure rows: %w", err)
	}
	defer rows.Close()
	f := newFigureScanner()
	out := make([]FigureRow, 0, limit)
	for rows.Next() {
		if err := rows.Scan(f.dest...); err != nil {
			return nil, fmt.Errorf("figure rows: %w", err)
		}
		r := f.row()
		r.OpenComplaints = complaints[r.ID]
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("figure rows: %w", err)
	}
	return out, nil
}

// OpenComplaintCustomers counts the open complaint tasks of every
// customer that has one (a few at any time: one open each at most).
func (s *Store) OpenComplaintCustomers(ctx context.Context) (map[int64]int, error) {
	var ids []int64
	if err := s.db.WithContext(ctx).Model(&Task{}).Where("open_slot IS NOT NULL").Pluck("customer_id", &ids).Error; err != nil {
		return nil, fmt.Errorf("open complaints: %w", err)
	}
	out := make(map[int64]int, len(ids))
	for _, id := range ids {
		out[id]++
	}
	return out, nil
}

// MaxCustomerID is the highest customer id (0 for none).
func (s *Store) MaxCustomerID(ctx context.Context) (int64, error) {
	var n *int64
	if err := s.db.WithContext(ctx).Model(&Customer{}).Select("MAX(id)").Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("max customer id: %w", err)
	}
	return deref(n), nil
}

// EachOrderPoint streams the orders of the customers with ids in (lo, hi]
// to fn, by customer and then time, from the figures index alone.
func (s *Store) EachOrderPoint(ctx context.Context, lo, hi int64, fn func(customerID int64, p OrderPoint)) error {
	rows, err := s.scan.WithContext(ctx).Raw("SELECT customer_id, occurred_at, amount_fen FROM orders "+
		"WHERE customer_id > ? AND customer_id <= ? ORDER BY customer_id, occurred_at", lo, hi).Rows()
	if err != nil {
		return fmt.Errorf("order points: %w", err)
	}
	defer rows.Close()
	var id, fen int64
	var at anyTime
	dest := []any{intCol[int64]{&id, nil}, &at, intCol[int64]{&fen, nil}}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("order points: %w", err)
		}
		fn(id, OrderPoint{At: at.t.UnixMilli(), Fen: fen})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("order points: %w", err)
	}
	return nil
}

// FigureWrite is a batch of a recompute: the stats rows that changed and
// the tier and stage changes they bring.
type FigureWrite struct {
	Stats   []*CustomerStats
	Changes []Change
	// At is when the changes happened (the run's as-of time); RunID, if
	// set, is recorded with them.
	At    time.Time
	RunID *int64
}

// WriteFigures writes a batch in one transaction: the changes first (they
// lock their customers), then the stats rows (each only over older
// figures). It returns the changes made. Batches of adjacent customers are
// written side by side: under REPEATABLE READ the gap locks of one batch's
// reads would block the other's inserts at the seam, both ways (a
// deadlock); the sessions' READ COMMITTED (store.go) takes none.
func (s *Store) WriteFigures(ctx context.Context, w FigureWrite) ([]Change, error) {
	var done []Change
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var err error
		done, err = s.writeFigures(tx, w, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write figures: %w", err)
	}
	return done, nil
}

// writeFigures writes w in tx; locked, when set, holds the customers the
// caller has locked and read (see changeOpts).
func (s *Store) writeFigures(tx *gorm.DB, w FigureWrite, locked map[int64]*current) ([]Change, error) {
	done, err := s.applyChanges(tx, w.Changes, changeOpts{at: w.At, runID: w.RunID, locked: locked})
	if err != nil {
		return nil, err
	}
	return done, s.upsertFigures(tx, w.Stats)
}

// RefreshFigures recomputes one customer's figures in a transaction of
// its own (the sweep of touched customers): see refreshIn.
func (s *Store) RefreshFigures(ctx context.Context, customerID int64, compute FigureCompute) ([]Change, error) {
	var done []Change
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Task{}).Where("open_slot = ?", complaintSlot(customerID)).Count(&n).Error; err != nil {
			return err
		}
		open := int(n)
		var err error
		done, err = s.refreshIn(tx, customerID, compute, s.Now(), &open)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("refresh figures of customer %d: %w", customerID, err)
	}
	return done, nil
}

// lockQuery reads a FigureRow and the customer's touch, locking the
// customer, their stats row and touch.
var lockQuery = strings.Replace(figureSelect, " FROM ", ", t.touched_at FROM ", 1) +
	"LEFT JOIN customer_touches t ON t.customer_id = c.id WHERE c.id = ?"

// refreshIn recomputes one customer's figures inside tx: it locks the
// customer and their stats row (refreshes of one customer take turns, and
// the later reads what the earlier wrote), reads their orders, hands them
// to compute and writes what it returns (WriteFigures' rules); a touch
// from before start is cleared. complaints is their number of open
// complaint tasks when the caller knows it (opening or closing one, a
// sweep that counted), else nil: the stored figure (only complaint tasks
// change it, and they say), or counted when there is none or a touch
// (a merge may have moved tasks).
func (s *Store) refreshIn(tx *gorm.DB, customerID int64, compute FigureCompute, start time.Time, complaints *int) ([]Change, error) {
	l, err := s.lockFigureRow(tx, customerID)
	if err != nil {
		return nil, err
	}
	return s.refreshLocked(tx, l, compute, start, complaints)
}

// figureLock is a customer's FigureRow read under its lock, their touch
// and their orders.
type figureLock struct {
	r       FigureRow
	touched bool
	touchAt time.Time
	orders  []OrderPoint
}

// lockFigureRow locks the customer and their stats row and reads them,
// their touch and their orders (not found: ENOTFOUND).
//
// The orders are read after the lock and without locking them: every
// path that adds an order to a customer or moves one to them locks the
// customer first, so at READ COMMITTED the read sees them all, and it
// stays within ix_orders_figures. (A locking read of the orders would
// also lock, and so fetch, each order's row: a random read per order
// on a database larger than its buffer pool.)
func (s *Store) lockFigureRow(tx *gorm.DB, customerID int64) (figureLock, error) {
	q := lockQuery
	if s.dialect == MySQL {
		q += " FOR UPDATE"
	}
	rows, err := tx.Raw(q, customerID).Rows()
	if err != nil {
		return figureLock{}, err
	}
	f := newFigureScanner()
	var touch anyTime
	var l figureLock
	found := false
	touch.ok = &l.touched
	dest := append(f.dest[:len(f.dest):len(f.dest)], &touch)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return figureLock{}, err
		}
		l.r, l.touchAt, found = f.row(), touch.t, true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return figureLock{}, err
	}
	if !found {
		return figureLock{}, Errorf(ENOTFOUND, "customer %d not found", customerID)
	}
	if l.orders, err = orderPointsOf(tx, customerID); err != nil {
		return figureLock{}, err
	}
	return l, nil
}

// orderPointsOf reads a customer's orders, oldest first.
func orderPointsOf(tx *gorm.DB, customerID int64) ([]OrderPoint, error) {
	rows, err := tx.Raw("SELECT occurred_at, amount_fen FROM orders WHERE customer_id = ? ORDER BY occurred_at, id", customerID).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []OrderPoint
	var at anyTime
	var fen int64
	for rows.Next() {
		if err := rows.Scan(&at, intCol[int64]{&fen, nil}); err != nil {
			return nil, err
		}
		ps = append(ps, OrderPoint{At: at.t.UnixMilli(), Fen: fen})
	}
	return ps, rows.Err()
}

// withOrder adds an order recorded after the lock to what was read.
func (l *figureLock) withOrder(o *Order) {
	p := OrderPoint{At: o.OccurredAt.UnixMilli(), Fen: o.Amount.fen}
	i := len(l.orders)
	for i > 0 && l.orders[i-1].At > p.At {
		i--
	}
	l.orders = slices.Insert(l.orders, i, p)
}

// refreshLocked is refreshIn for a customer lockFigureRow has locked.
func (s *Store) refreshLocked(tx *gorm.DB, l figureLock, compute FigureCompute, start time.Time, complaints *int) ([]Change, error) {
	r, touched, customerID := l.r, l.touched, l.r.ID
	switch {
	case complaints != nil:
		r.OpenComplaints = *complaints
	case r.Stats != nil && !touched:
		r.OpenComplaints = r.Stats.OpenComplaints
	default:
		// (Not counted in the locking read above: locking a task row
		// there would deadlock with a task change that refreshes.)
		var n int64
		if err := tx.Model(&Task{}).Where("open_slot = ?", complaintSlot(customerID)).Count(&n).Error; err != nil {
			return nil, err
		}
		r.OpenComplaints = int(n)
	}
	locked := map[int64]*current{r.ID: {tier: string(r.Tier), stage: string(r.Stage), tierPin: r.TierPinned, stagePin: r.StagePinned}}
	done, err := s.writeFigures(tx, compute(r, l.orders), locked)
	if err != nil || !touched || l.touchAt.After(start) {
		return done, err
	}
	return done, tx.Where("customer_id = ? AND touched_at <= ?", customerID, start.UTC()).Delete(&customerTouch{}).Error
}

// loadStats fills the customers' figures (none: the zero figures).
func loadStats(db *gorm.DB, cs []*Customer, byID map[int64]*Customer, ids []int64) error {
	var sts []CustomerStats
	if err := db.Where("customer_id IN ?", ids).Find(&sts).Error; err != nil {
		return err
	}
	for i := range sts {
		if c := byID[sts[i].CustomerID]; c != nil {
			c.setStats(&sts[i])
		}
	}
	for _, c := range cs {
		if c.Stats == nil {
			c.setStats(nil)
		}
	}
	return nil
}
