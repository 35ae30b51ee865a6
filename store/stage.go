package store

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Every change of a customer's lifecycle stage or tier, from anywhere (a
// recompute, an order, a pin, a care workflow), goes through applyChanges:
// it locks the customers, skips a pinned value (unless the change is the
// pin itself) and a value already there, writes the new values and one
// history row per change. A change made twice (a resumed recompute, two
// replicas) finds its value already there the second time and records
// nothing: history is written only when the stored value differs.

// The fields a Change moves.
const (
	FieldStage = "stage"
	FieldTier  = "tier"
)

// Change is one move of a customer's stage or tier.
type Change struct {
	CustomerID int64
	Field      string // FieldStage or FieldTier
	// From is the value the caller saw ("" = whatever it is now): a change
	// whose customer has moved on since is dropped.
	From   string
	To     string
	Reason string
	// WonBack marks a return from at-risk or churned (the figures count
	// it: CustomerStats.WonBack).
	WonBack bool
}

// CustomerChange is one change in a customer's stage or tier history;
// reports build funnels from it, care reacts to it (ChangesTo).
type CustomerChange struct {
	ID         int64     `gorm:"primaryKey" json:"id"`
	CustomerID int64     `gorm:"not null;index" json:"customer_id"`
	Field      string    `gorm:"size:8;not null;index:ix_customer_changes_to,priority:1" json:"field"`
	From       string    `gorm:"column:from_value;size:16;not null;default:''" json:"from"`
	To         string    `gorm:"column:to_value;size:16;not null;index:ix_customer_changes_to,priority:2" json:"to"`
	At         time.Time `gorm:"not null;index:ix_customer_changes_to,priority:3" json:"at"`
	Reason     string    `gorm:"size:128;not null;default:''" json:"reason"`
	ByStaffID  *int64    `json:"by_staff_id,omitempty"`
	RunID      *int64    `json:"-"`
}

func (CustomerChange) TableName() string { return "customer_changes" }

// changeOpts say how applyChanges records a batch.
type changeOpts struct {
	at    time.Time
	by    *int64 // the staff member, for pins
	runID *int64
	// override: the change is a pin or an unpin, which pins do not stop.
	override bool
	// locked: the caller holds the lock on these customers and read their
	// values under it (a refresh); they are not read again.
	locked map[int64]*current
}

// current is a customer's stage and tier as applyChanges reads them.
type current struct {
	tier, stage       string
	tierPin, stagePin bool
}

// applyChanges makes the changes that still apply (see the file comment)
// and returns them with From set to the value each replaced.
func (s *Store) applyChanges(tx *gorm.DB, cs []Change, o changeOpts) ([]Change, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	ids := make([]int64, 0, len(cs))
	seen := map[int64]bool{}
	for _, c := range cs {
		if !seen[c.CustomerID] {
			seen[c.CustomerID] = true
			ids = append(ids, c.CustomerID)
		}
	}
	cur := o.locked
	if cur == nil {
		var err error
		if cur, err = s.lockCurrent(tx, ids); err != nil {
			return nil, err
		}
	}
	var done []Change
	for _, c := range cs {
		cu, ok := cur[c.CustomerID]
		if !ok {
			continue // gone (merged) meanwhile
		}
		value, pinned := &cu.stage, cu.stagePin
		if c.Field == FieldTier {
			value, pinned = &cu.tier, cu.tierPin
		}
		if (pinned && !o.override) || (c.From != "" && c.From != *value) || c.To == *value {
			continue
		}
		c.From, *value = *value, c.To
		done = append(done, c)
	}
	if len(done) == 0 {
		return nil, nil
	}
	at := o.at.UTC().Truncate(time.Millisecond)
	if at.IsZero() {
		at = s.Now().Truncate(time.Millisecond)
	}
	// One UPDATE per distinct set of new values: a customer whose tier and
	// stage both move is written once.
	type values struct{ tier, stage string }
	next := map[int64]*values{}
	for _, c := range done {
		v := next[c.CustomerID]
		if v == nil {
			v = &values{}
			next[c.CustomerID] = v
		}
		if c.Field == FieldTier {
			v.tier = c.To
		} else {
			v.stage = c.To
		}
	}
	groups := map[values][]int64{}
	for id, v := range next {
		groups[*v] = append(groups[*v], id)
	}
	for v, ids := range groups {
		set := map[string]any{"updated_at": at}
		if v.tier != "" {
			set["tier"] = v.tier
		}
		if v.stage != "" {
			set["stage"] = v.stage
		}
		slices.Sort(ids)
		for start := 0; start < len(ids); start += 1000 {
			part := ids[start:min(start+1000, len(ids))]
			if err := tx.Model(&Customer{}).Where("id IN ?", part).Updates(set).Error; err != nil {
				return nil, err
			}
		}
	}
	return done, s.insertChanges(tx, done, at, o)
}

// lockCurrent reads (and on MySQL locks) the customers' tier, stage and
// pins.
func (s *Store) lockCurrent(tx *gorm.DB, ids []int64) (map[int64]*current, error) {
	out := make(map[int64]*current, len(ids))
	lock := ""
	if s.dialect == MySQL {
		lock = " FOR UPDATE"
	}
	for start := 0; start < len(ids); start += 1000 {
		part := ids[start:min(start+1000, len(ids))]
		rows, err := tx.Raw("SELECT id, tier, stage, tier_pinned_at, stage_pinned_at FROM customers WHERE id IN ?"+lock, part).Rows()
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			cu := &current{}
			var tierAt, stageAt anyTime
			tierAt.ok, stageAt.ok = &cu.tierPin, &cu.stagePin
			if err := rows.Scan(intCol[int64]{&id, nil}, strCol[string]{&cu.tier, nil}, strCol[string]{&cu.stage, nil}, &tierAt, &stageAt); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = cu
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// insertChanges writes the history rows of done, in multi-row INSERTs.
func (s *Store) insertChanges(tx *gorm.DB, done []Change, at time.Time, o changeOpts) error {
	const per = 500
	var sb strings.Builder
	for start := 0; start < len(done); start += per {
		part := done[start:min(start+per, len(done))]
		sb.Reset()
		sb.WriteString("INSERT INTO customer_changes (customer_id, field, from_value, to_value, at, reason, by_staff_id, run_id) VALUES ")
		args := make([]any, 0, 8*len(part))
		for i, c := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, c.CustomerID, c.Field, c.From, c.To, at, CutRunes(c.Reason, 128), o.by, o.runID)
		}
		if err := execBatch(tx, sb.String(), args); err != nil {
			return err
		}
	}
	return nil
}

// ListStageChanges returns one page of a customer's stage changes, oldest
// first.
func (s *Store) ListStageChanges(ctx context.Context, customerID int64, p Page) ([]*CustomerChange, string, error) {
	limit, after, err := p.parse()
	if err != nil {
		return nil, "", err
	}
	q := s.db.WithContext(ctx).Model(&CustomerChange{}).
		Where("customer_id = ? AND field = ? AND id > ?", customerID, FieldStage, after).Order("id")
	out, next, err := pageOf(q, limit, func(c *CustomerChange) int64 { return c.ID })
	if err != nil {
		return nil, "", fmt.Errorf("stage changes: %w", err)
	}
	return out, next, nil
}

// ListStageChangesFor lists the stage changes of a customer the actor may
// see.
func (s *Store) ListStageChangesFor(ctx context.Context, by Actor, customerID int64, p Page) ([]*CustomerChange, string, error) {
	if err := s.SeeCustomer(ctx, by, customerID); err != nil {
		return nil, "", err
	}
	return s.ListStageChanges(ctx, customerID, p)
}

// ChangesTo returns up to limit changes of field (FieldStage, FieldTier)
// to value made in [from, until), by id after `after`: "who became at-risk
// today", "who was promoted to A this week", from one index range.
func (s *Store) ChangesTo(ctx context.Context, field, value string, from, until time.Time, after int64, limit int) ([]CustomerChange, error) {
	var out []CustomerChange
	err := s.db.WithContext(ctx).Where("field = ? AND to_value = ? AND at >= ? AND at < ? AND id > ?", field, value, from.UTC(), until.UTC(), after).
		Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("changes to %s %s: %w", field, value, err)
	}
	return out, nil
}

// Pin is a tier or stage a request sets by hand: absent leaves it alone,
// a value pins it (every recompute keeps it), null unpins it (back to the
// computed value at once).
type Pin[T ~string] struct {
	Set   bool // present in the request
	Value *T   // nil with Set: null, unpin
}

// PinTo pins v.
func PinTo[T ~string](v T) Pin[T] { return Pin[T]{Set: true, Value: &v} }

// Unpin returns to the computed value.
func Unpin[T ~string]() Pin[T] { return Pin[T]{Set: true} }

// UnmarshalJSON reads a string (pin) or null (unpin).
func (p *Pin[T]) UnmarshalJSON(b []byte) error {
	p.Set, p.Value = true, nil
	if string(b) == "null" {
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string", Type: reflect.TypeFor[string]()}
	}
	t := T(v)
	p.Value = &t
	return nil
}

// normalize checks a pin's value: tiers A, B, C in any case; the stages.
func (p *Pin[T]) normalize(field string) error {
	if !p.Set || p.Value == nil {
		return nil
	}
	v := strings.TrimSpace(string(*p.Value))
	switch field {
	case FieldTier:
		v = strings.ToUpper(v)
		if v != string(TierA) && v != string(TierB) && v != string(TierC) {
			return Invalid("tier", "%q is not A, B or C (or null to unpin)", string(*p.Value))
		}
	case FieldStage:
		if !ValidStage(Stage(v)) {
			return Invalid("stage", "%q is not potential, new, active, at-risk or churned (or null to unpin)", string(*p.Value))
		}
	}
	t := T(v)
	p.Value = &t
	return nil
}

// applyPins pins or unpins c's tier and stage as in asks, recording who
// (by: a staff member, or nil for a token of no one) and, for a value that
// changes, a history row. Unpinning returns to the value the figures last
// computed (C and potential before any).
func (s *Store) applyPins(tx *gorm.DB, id int64, tier Pin[Tier], stage Pin[Stage], by *int64) error {
	if !tier.Set && !stage.Set {
		return nil
	}
	if err := tier.normalize(FieldTier); err != nil {
		return err
	}
	if err := stage.normalize(FieldStage); err != nil {
		return err
	}
	now := s.Now().Truncate(time.Millisecond)
	var computed CustomerStats
	if err := tx.Select("tier_computed", "stage_computed").Where("customer_id = ?", id).
		Limit(1).Find(&computed).Error; err != nil {
		return err
	}
	if computed.TierComputed == "" {
		computed.TierComputed, computed.StageComputed = TierC, StagePotential
	}
	reason := "pinned"
	if by != nil {
		reason = "pinned by staff " + strconv.FormatInt(*by, 10)
	}
	var cs []Change
	set := map[string]any{}
	if tier.Set {
		if tier.Value != nil {
			set["tier_pinned_at"], set["tier_pinned_by"] = now, by
			cs = append(cs, Change{CustomerID: id, Field: FieldTier, To: string(*tier.Value), Reason: reason})
		} else {
			set["tier_pinned_at"], set["tier_pinned_by"] = nil, nil
			cs = append(cs, Change{CustomerID: id, Field: FieldTier, To: string(computed.TierComputed), Reason: "unpinned"})
		}
	}
	if stage.Set {
		if stage.Value != nil {
			set["stage_pinned_at"], set["stage_pinned_by"] = now, by
			cs = append(cs, Change{CustomerID: id, Field: FieldStage, To: string(*stage.Value), Reason: reason})
		} else {
			set["stage_pinned_at"], set["stage_pinned_by"] = nil, nil
			cs = append(cs, Change{CustomerID: id, Field: FieldStage, To: string(computed.StageComputed), Reason: "unpinned"})
		}
	}
	if _, err := s.applyChanges(tx, cs, changeOpts{at: now, by: by, override: true}); err != nil {
		return err
	}
	return tx.Model(&Customer{}).Where("id = ?", id).Updates(set).Error
}
