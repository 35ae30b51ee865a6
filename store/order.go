package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Order kinds.
const (
	OrderPurchase = "purchase"
	OrderService  = "service"
)

// Order is a purchase or a service visit; a negative Amount is a refund.
type Order struct {
	ID         int64  `gorm:"primaryKey" json:"id"`
	CustomerID int64  `gorm:"not null;index:ix_orders_figures,priority:1" json:"customer_id"`
	Kind       string `gorm:"size:16;not null" json:"kind"`
	// Amount is exact (fen). The figures index (customer, time, amount)
	// covers the nightly read of every order, so it never touches a row.
	Amount     Money     `gorm:"column:amount_fen;type:bigint;not null;default:0;index:ix_orders_figures,priority:3" json:"amount"`
	OccurredAt time.Time `gorm:"not null;index:ix_orders_figures,priority:2;index" json:"occurred_at"`
	AssetID    *int64    `gorm:"index" json:"asset_id,omitempty"`
	// OrderRef is the order's id in the system it came from, as sent (""
	// for none, and for orders recorded before it was kept).
	OrderRef string `gorm:"size:64;not null;default:''" json:"order_ref"`
	// DedupKey makes an order land once however often it is sent: the hash
	// of its order_ref (refKey) or, for an imported row without one, of its
	// contents (RowKey). NULL for API orders without order_ref; SQLite and
	// MySQL both let a unique index hold any number of NULLs.
	DedupKey *string `gorm:"size:64;uniqueIndex:ux_orders_dedup_key" json:"-"`
	// RefundOfID is, for a refund sent with refund_of, the order it
	// refunds: the refund takes back the share of that order's points.
	RefundOfID *int64    `gorm:"index" json:"refund_of_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`

	// refundOf is the order_ref RefundOfID is looked up by.
	refundOf string `gorm:"-"`

	Items []OrderItem `gorm:"-" json:"items"`
}

// OrderItem is one line of an order: a product or service (保养, 维修,
// 精品), how many, and the line's amount. Items are detail: the order's
// own Amount is what the figures count.
type OrderItem struct {
	ID       int64  `gorm:"primaryKey" json:"-"`
	OrderID  int64  `gorm:"not null;index" json:"-"`
	Name     string `gorm:"size:128;not null" json:"name"`
	Quantity int    `gorm:"not null;default:1" json:"quantity"`
	Amount   Money  `gorm:"column:amount_fen;type:bigint;not null;default:0" json:"amount"`
}

// maxOrderItems bounds the lines of one order.
const maxOrderItems = 200

// OrderInput records an order. OccurredAt defaults to now.
type OrderInput struct {
	CustomerID int64      `json:"customer_id"`
	Kind       string     `json:"kind"`
	Amount     Money      `json:"amount"`
	OccurredAt *time.Time `json:"occurred_at"`
	AssetID    *int64     `json:"asset_id"`
	// OrderRef is the order's id in the system it comes from. Optional: an
	// order with a reference already stored is not recorded again.
	OrderRef string      `json:"order_ref,omitempty"`
	Items    []OrderItem `json:"items,omitempty"`
	// RefundOf is, for a refund (negative amount), the order_ref of the
	// order it refunds (same customer and kind): the refund then reverses
	// the share of that order's points it is of that order's amount.
	RefundOf string `json:"refund_of,omitempty"`
}

func (in OrderInput) order(now time.Time) (*Order, error) {
	if in.CustomerID <= 0 {
		return nil, Invalid("customer_id", "required")
	}
	if in.Kind != OrderPurchase && in.Kind != OrderService {
		return nil, Invalid("kind", "%q is not purchase or service", in.Kind)
	}
	if f := in.Amount.Fen(); f > MaxMoney || f < -MaxMoney {
		return nil, Invalid("amount", "must be between -999999999999.99 and 999999999999.99")
	}
	at := now
	if in.OccurredAt != nil {
		at = in.OccurredAt.UTC()
	}
	if at.After(now.Add(24 * time.Hour)) {
		return nil, Invalid("occurred_at", "is in the future")
	}
	if in.AssetID != nil && in.Kind != OrderService {
		return nil, Invalid("asset_id", "only service orders name an asset")
	}
	if in.AssetID != nil && in.Amount.Fen() < 0 {
		return nil, Invalid("asset_id", "a refund does not name an asset")
	}
	o := &Order{CustomerID: in.CustomerID, Kind: in.Kind, Amount: in.Amount,
		OccurredAt: at.Truncate(time.Millisecond), AssetID: in.AssetID, Items: []OrderItem{}}
	if ref := strings.TrimSpace(in.OrderRef); ref != "" {
		if utf8.RuneCountInString(ref) > 64 {
			return nil, Invalid("order_ref", "longer than 64 characters")
		}
		o.OrderRef, o.DedupKey = ref, refKey(ref)
	}
	if ref := strings.TrimSpace(in.RefundOf); ref != "" {
		switch {
		case in.Amount.Fen() >= 0:
			return nil, Invalid("refund_of", "only a refund (negative amount) refunds an order")
		case utf8.RuneCountInString(ref) > 64:
			return nil, Invalid("refund_of", "longer than 64 characters")
		}
		o.refundOf = ref
	}
	if len(in.Items) > maxOrderItems {
		return nil, Invalid("items", "at most %d items", maxOrderItems)
	}
	for i, it := range in.Items {
		name := strings.TrimSpace(it.Name)
		switch {
		case name == "":
			return nil, Invalid("items", "item %d: name required", i+1)
		case utf8.RuneCountInString(name) > 128:
			return nil, Invalid("items", "item %d: name longer than 128 characters", i+1)
		case it.Quantity < 0 || it.Quantity > 1_000_000:
			return nil, Invalid("items", "item %d: quantity must be 1-1000000", i+1)
		case it.Amount.Fen() > MaxMoney || it.Amount.Fen() < -MaxMoney:
			return nil, Invalid("items", "item %d: amount out of range", i+1)
		}
		if it.Quantity == 0 {
			it.Quantity = 1
		}
		o.Items = append(o.Items, OrderItem{Name: name, Quantity: it.Quantity, Amount: it.Amount})
	}
	return o, nil
}

// refKey is the dedup key of an order with a reference: one reference is
// one order, whichever customer or channel (CSV, API) it comes with. Hashed
// so that it compares byte for byte on both databases (MySQL's collation
// would fold case and trailing spaces) and fits the column.
func refKey(ref string) *string { return hashKey("ref", ref) }

// RowKey is the dedup key of an imported order without an order_ref: its
// customer, kind, amount, time and asset, and nth, the number of identical
// rows before it in the same file. Re-importing the file (or a prefix of
// it) gives the same keys, while two identical rows in one file, say two
// equal purchases on one day, stay two orders.
func RowKey(o *Order, nth int) string {
	asset := ""
	if o.AssetID != nil {
		asset = strconv.FormatInt(*o.AssetID, 10)
	}
	return *hashKey("row", strconv.FormatInt(o.CustomerID, 10), o.Kind,
		o.Amount.String(), strconv.FormatInt(o.OccurredAt.UnixMilli(), 10), asset, strconv.Itoa(nth))
}

func hashKey(parts ...string) *string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	k := hex.EncodeToString(h.Sum(nil))
	return &k
}

// CreateOrder records an order. A service order with an asset moves the
// asset's next due date to the service date (in loc) plus its interval.
// With an order_ref already stored it records nothing and returns the stored
// order (a retry), or ECONFLICT if that order has another customer, kind or
// amount.
func (s *Store) CreateOrder(ctx context.Context, in OrderInput, loc *time.Location) (*Order, error) {
	o, err := in.order(s.Now())
	if err != nil {
		return nil, err
	}
	compute := s.figureCompute(ctx)
	var out Order
	err = s.tx(ctx, func(tx *gorm.DB) error {
		out = *o // afresh on every attempt: a rolled-back insert may have set ID
		if compute == nil {
			inserted, err := s.createOrder(tx, &out, loc, false)
			if err == nil && inserted {
				err = touchCustomers(tx, out.CreatedAt, out.CustomerID)
			}
			if err != nil || inserted {
				return err
			}
		} else {
			// The refresh's lock on the customer is the order's too.
			l, err := s.lockFigureRow(tx, out.CustomerID)
			if err != nil {
				return err
			}
			inserted, err := s.createOrder(tx, &out, loc, true)
			if err == nil && inserted {
				l.withOrder(&out)
				_, err = s.refreshLocked(tx, l, compute, out.CreatedAt, nil)
			}
			if err != nil || inserted {
				return err
			}
		}
		var prev Order
		if err := tx.Where("dedup_key = ?", *o.DedupKey).Take(&prev).Error; err != nil {
			return err
		}
		out = prev
		if out.CustomerID != o.CustomerID || out.Kind != o.Kind || out.Amount != o.Amount {
			return &Error{Code: ECONFLICT, Field: "order_ref",
				Message: fmt.Sprintf("order_ref: %q is order %d, with another customer, kind or amount", strings.TrimSpace(in.OrderRef), out.ID)}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create order: %w", err)
	}
	if err := loadOrderItems(s.db.WithContext(ctx), []*Order{&out}); err != nil {
		return nil, fmt.Errorf("create order: %w", err)
	}
	return &out, nil
}

// createOrder inserts o unless its dedup key is already stored, and reports
// whether it did. Only an inserted service order moves its asset. It
// locks the customer first, unless the caller has (locked): the orders of
// one customer are recorded one after another, so each one's refresh of
// the figures reads the orders before it.
//
// The order earns its points (a refund reverses them) in the same
// transaction, keyed by the order: exactly once, on every path that
// records an order (API, import).
func (s *Store) createOrder(tx *gorm.DB, o *Order, loc *time.Location, locked bool) (inserted bool, err error) {
	if !locked {
		var ids []int64
		q := tx.Model(&Customer{}).Where("id = ?", o.CustomerID)
		if tx.Dialector.Name() == "mysql" {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.Pluck("id", &ids).Error; err != nil {
			return false, err
		} else if len(ids) == 0 {
			return false, Errorf(ENOTFOUND, "customer %d not found", o.CustomerID)
		}
	}
	var a Asset
	if o.AssetID != nil {
		if err := tx.Take(&a, *o.AssetID).Error; err != nil {
			return false, notFound(err, "asset %d", *o.AssetID)
		}
		if a.CustomerID != o.CustomerID {
			return false, Invalid("asset_id", "asset %d belongs to another customer", a.ID)
		}
	}
	if err := resolveRefund(tx, o); err != nil {
		return false, err
	}
	if o.DedupKey == nil {
		if err := tx.Create(o).Error; err != nil {
			return false, err
		}
	} else {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(o)
		if res.Error != nil {
			return false, res.Error
		}
		if res.RowsAffected == 0 {
			return false, nil
		}
	}
	if err := insertOrderItems(tx, []*Order{o}); err != nil {
		return false, err
	}
	if err := s.earnOrder(tx, o); err != nil {
		return false, err
	}
	return true, moveAsset(tx, o, a, loc)
}

// resolveRefund sets the RefundOfID of a refund sent with refund_of.
func resolveRefund(tx *gorm.DB, o *Order) error {
	if o.refundOf == "" {
		return nil
	}
	var orig Order
	if err := tx.Where("dedup_key = ?", *refKey(o.refundOf)).Take(&orig).Error; err != nil {
		return notFound(err, "refund_of: order %q", o.refundOf)
	}
	if orig.CustomerID != o.CustomerID || orig.Kind != o.Kind || orig.Amount.Fen() <= 0 {
		return Invalid("refund_of", "order %q is not a %s of customer %d", o.refundOf, o.Kind, o.CustomerID)
	}
	o.RefundOfID = &orig.ID
	return nil
}

// insertOrderItems writes the items of freshly inserted orders.
func insertOrderItems(tx *gorm.DB, os []*Order) error {
	var items []OrderItem
	for _, o := range os {
		for _, it := range o.Items {
			it.OrderID = o.ID
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return nil
	}
	return tx.CreateInBatches(&items, 500).Error
}

// loadOrderItems fills the orders' Items (an empty list for none).
func loadOrderItems(db *gorm.DB, os []*Order) error {
	if len(os) == 0 {
		return nil
	}
	ids := make([]int64, len(os))
	byID := make(map[int64]*Order, len(os))
	for i, o := range os {
		ids[i] = o.ID
		byID[o.ID] = o
		o.Items = []OrderItem{}
	}
	var items []OrderItem
	if err := db.Where("order_id IN ?", ids).Order("id").Find(&items).Error; err != nil {
		return err
	}
	for _, it := range items {
		byID[it.OrderID].Items = append(byID[it.OrderID].Items, it)
	}
	return nil
}

// moveAsset records service order o on its asset a (none: nothing to do).
func moveAsset(tx *gorm.DB, o *Order, a Asset, loc *time.Location) error {
	if o.AssetID == nil {
		return nil
	}
	// An older service entered late must not move the due date backwards.
	if a.LastServiceAt != nil && a.LastServiceAt.After(o.OccurredAt) {
		return nil
	}
	up := map[string]any{"last_service_at": o.OccurredAt, "updated_at": o.OccurredAt}
	if a.ServiceIntervalDays > 0 {
		up["next_service_due"] = DateOf(o.OccurredAt, loc).AddDate(0, 0, a.ServiceIntervalDays)
	}
	return tx.Model(&Asset{}).Where("id = ?", a.ID).Updates(up).Error
}

// OrdersBetween returns up to limit orders that occurred in [from, to) with
// id > after, by id (optionally of one kind).
func (s *Store) OrdersBetween(ctx context.Context, from, to time.Time, kind string, after int64, limit int) ([]*Order, error) {
	q := s.db.WithContext(ctx).Where("occurred_at >= ? AND occurred_at < ? AND id > ?", from.UTC(), to.UTC(), after)
	if kind != "" {
		q = q.Where("kind = ?", kind)
	}
	var os []*Order
	if err := q.Order("id").Limit(limit).Find(&os).Error; err != nil {
		return nil, fmt.Errorf("orders between: %w", err)
	}
	return os, nil
}

// HadPurchaseBefore returns which of the customers made a purchase before t.
func (s *Store) HadPurchaseBefore(ctx context.Context, customerIDs []int64, t time.Time) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(customerIDs) == 0 {
		return out, nil
	}
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Order{}).Distinct("customer_id").
		Where("customer_id IN ? AND kind = ? AND occurred_at < ?", customerIDs, OrderPurchase, t.UTC()).Pluck("customer_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("had purchase: %w", err)
	}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// LastOrders returns each customer's latest order time (customers without
// orders are absent).
func (s *Store) LastOrders(ctx context.Context, customerIDs []int64) (map[int64]time.Time, error) {
	out := map[int64]time.Time{}
	if len(customerIDs) == 0 {
		return out, nil
	}
	rows, err := s.db.WithContext(ctx).Model(&Order{}).Select("customer_id, MAX(occurred_at) AS last").
		Where("customer_id IN ?", customerIDs).Group("customer_id").Rows()
	if err != nil {
		return nil, fmt.Errorf("last orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var last anyTime
		if err := rows.Scan(&id, &last); err != nil {
			return nil, fmt.Errorf("last orders: %w", err)
		}
		out[id] = last.t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("last orders: %w", err)
	}
	return out, nil
}

// ordersDedupKey adds orders.dedup_key and its unique index, so that an
// import run twice records each order once. Existing orders keep NULL,
// which never collides.
func ordersDedupKey(tx *gorm.DB) error {
	m := tx.Migrator()
	if !m.HasColumn(&Order{}, "dedup_key") {
		if err := tx.Exec("ALTER TABLE orders ADD COLUMN dedup_key VARCHAR(64) NULL").Error; err != nil {
			return err
		}
	}
	if m.HasIndex(&Order{}, "ux_orders_dedup_key") {
		return nil
	}
	return tx.Exec("CREATE UNIQUE INDEX ux_orders_dedup_key ON orders (dedup_key)").Error
}

// OrderFilter narrows ListOrders. Zero fields match everything; [From, To)
// bounds occurred_at.
type OrderFilter struct {
	CustomerID int64
	Kind       string
	From, To   time.Time
	// Viewer, when set, limits the list to the orders of customers they
	// may see (access.go); nil lists every order (internal callers).
	Viewer *Actor
	Page
}

// ListOrders returns one page of orders, newest first (by occurred_at,
// then id), with their items.
func (s *Store) ListOrders(ctx context.Context, f OrderFilter) ([]*Order, string, error) {
	limit, after, err := f.Page.parse()
	if err != nil {
		return nil, "", err
	}
	if f.Kind != "" && f.Kind != OrderPurchase && f.Kind != OrderService {
		return nil, "", Invalid("kind", "%q is not purchase or service", f.Kind)
	}
	db := s.db.WithContext(ctx)
	q := db.Model(&Order{})
	if f.CustomerID != 0 {
		q = q.Where("customer_id = ?", f.CustomerID)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if !f.From.IsZero() {
		q = q.Where("occurred_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("occurred_at < ?", f.To.UTC())
	}
	if f.Viewer != nil {
		q = s.scopeCustomers(q, *f.Viewer, "customer_id")
	}
	if after > 0 {
		var last Order
		if err := db.Select("id", "occurred_at").Take(&last, after).Error; err != nil {
			return nil, "", Invalid("cursor", "not a cursor from this API")
		}
		q = q.Where("occurred_at < ? OR (occurred_at = ? AND id < ?)", last.OccurredAt, last.OccurredAt, last.ID)
	}
	os, next, err := pageOf(q.Order("occurred_at DESC, id DESC"), limit, func(o *Order) int64 { return o.ID })
	if err == nil {
		err = loadOrderItems(db, os)
	}
	if err != nil {
		return nil, "", fmt.Errorf("list orders: %w", err)
	}
	return os, next, nil
}

// ListOrdersFor lists the orders of a customer the actor may see.
func (s *Store) ListOrdersFor(ctx context.Context, by Actor, f OrderFilter) ([]*Order, string, error) {
	if err := s.SeeCustomer(ctx, by, f.CustomerID); err != nil {
		return nil, "", err
	}
	return s.ListOrders(ctx, f)
}

// ordersExactMoney moves order amounts from the decimal(14,2) column
// amount (a float64 in Go) to amount_fen, a BIGINT of fen, filled exactly
// (ROUND(amount*100): decimal arithmetic on MySQL; SQLite held the decimal
// as a REAL, whose nearest integer is the fen for any amount it could
// hold), and drops amount, so that one column holds the amount. It adds
// order_ref (orders recorded before keep ""), the order_items table and
// the figures index (customer, time, amount), which replaces the
// (customer, time) one it extends.
func ordersExactMoney(tx *gorm.DB) error {
	m := tx.Migrator()
	if !m.HasColumn(&Order{}, "amount_fen") {
		if err := tx.Exec("ALTER TABLE orders ADD COLUMN amount_fen BIGINT NOT NULL DEFAULT 0").Error; err != nil {
			return err
		}
	}
	if m.HasColumn(&Order{}, "amount") {
		fill := "UPDATE orders SET amount_fen = ROUND(amount * 100)"
		if tx.Dialector.Name() == "sqlite" {
			fill = "UPDATE orders SET amount_fen = CAST(ROUND(amount * 100) AS INTEGER)"
		}
		if err := tx.Exec(fill).Error; err != nil {
			return err
		}
		if err := tx.Exec("ALTER TABLE orders DROP COLUMN amount").Error; err != nil {
			return err
		}
	}
	if !m.HasColumn(&Order{}, "order_ref") {
		if err := tx.Exec("ALTER TABLE orders ADD COLUMN order_ref VARCHAR(64) NOT NULL DEFAULT ''").Error; err != nil {
			return err
		}
	}
	if !m.HasIndex(&Order{}, "ix_orders_figures") {
		if err := tx.Exec("CREATE INDEX ix_orders_figures ON orders (customer_id, occurred_at, amount_fen)").Error; err != nil {
			return err
		}
	}
	if m.HasIndex(&Order{}, "ix_orders_customer_time") {
		if err := m.DropIndex(&Order{}, "ix_orders_customer_time"); err != nil {
			return err
		}
	}
	return tx.AutoMigrate(&OrderItem{})
}
