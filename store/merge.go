package store

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// mergeTables lists the tables whose rows follow a customer into a merge:
// every table with a customer_id column that is not special-cased below.
// Tables that do not exist (yet) are skipped, so a package adding a table
// joins in by adding its name here.
func mergeTables() []string {
	return []string{
		"identities", "messages", "orders", "assets",
		"tasks", "survey_responses", "care_deliveries", "care_items", "care_occurrences",
		"customer_changes", "points_entries", "vouchers",
	}
}

// Merge methods: how the phone that joined two profiles was proved.
const (
	// MergeTelegramContact: the sender shared their own contact on
	// Telegram, which Telegram verified.
	MergeTelegramContact = "telegram_contact"
	// MergeCode: the sender echoed a code sent to the other profile.
	MergeCode = "code"
	// MergeStaff: a staff member confirmed it (a phone call).
	MergeStaff = "staff"
)

// CustomerMerge records one merge: MergedID (now gone) was folded into
// KeptID because both are the person with Phone, proved by Method.
type CustomerMerge struct {
	ID         int64  `gorm:"primaryKey" json:"id"`
	KeptID     int64  `gorm:"not null;index" json:"kept_id"`
	MergedID   int64  `gorm:"not null" json:"merged_id"`
	MergedName string `gorm:"size:128;not null;default:''" json:"merged_name"`
	Phone      string `gorm:"size:32;not null;default:''" json:"phone"`
	Method     string `gorm:"size:24;not null" json:"method"`
	// ByStaffID is the staff member who approved; nil for proofs in chat.
	ByStaffID *int64    `json:"by_staff_id,omitempty"`
	ClaimID   *int64    `json:"claim_id,omitempty"`
	CreatedAt time.Time `json:"at"`
}

// CustomerMerges lists the merges into a customer, oldest first.
func (s *Store) CustomerMerges(ctx context.Context, customerID int64) ([]CustomerMerge, error) {
	var out []CustomerMerge
	if err := s.db.WithContext(ctx).Where("kept_id = ?", customerID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("customer merges: %w", err)
	}
	return out, nil
}

// mergeProof is why two customers are merged.
type mergeProof struct {
	Phone   string // canonical; the kept customer has it on record afterwards
	Method  string
	By      *int64 // staff
	ClaimID *int64
}

// mergeCustomers folds two customers proved to be one person into one,
// inside tx. The oldest (lowest id) is kept; the other's identities,
// conversation, orders, assets, tags, tasks, survey answers and phone
// claims move to it, blank fields are filled from it, points add up, and an
// opt-out anywhere stays an opt-out. The kept customer ends with the proved
// phone on record. Only proofs call this: ProvePhone, VerifyPhoneCode,
// ApprovePhoneClaim.
func (s *Store) mergeCustomers(tx *gorm.DB, a, b int64, p mergeProof) (keptID, goneID int64, err error) {
	var both []Customer
	if err := s.forUpdate(tx).Where("id IN ?", []int64{a, b}).Order("id").Find(&both).Error; err != nil {
		return 0, 0, err
	}
	if a == b || len(both) != 2 {
		return 0, 0, Errorf(ENOTFOUND, "customers %d and %d not found", a, b)
	}
	keep, gone := both[0], both[1] // lowest id: the oldest profile wins
	was := keep
	absorb(&keep, &gone)
	if err := moveCustomerRows(tx, keep.ID, gone.ID); err != nil {
		return 0, 0, err
	}
	if err := mergeStats(tx, keep.ID, gone.ID, s.Now()); err != nil {
		return 0, 0, err
	}
	if gone.ExternalRef != nil && keep.ExternalRef != nil && *gone.ExternalRef == *keep.ExternalRef {
		// Moved to keep by absorb; free the unique key first.
		if err := tx.Model(&Customer{}).Where("id = ?", gone.ID).Update("external_ref", nil).Error; err != nil {
			return 0, 0, err
		}
	}
	// Gone first: it may hold the phone key the kept one takes.
	if err := tx.Delete(&Customer{}, gone.ID).Error; err != nil {
		return 0, 0, err
	}
	phone := p.Phone
	keep.Phone, keep.PhoneKey = phone, &phone
	keep.UpdatedAt = s.Now().Truncate(time.Millisecond)
	err = tx.Model(&Customer{}).Where("id = ?", keep.ID).Select(
		"phone", "phone_key", "name", "email", "birth_month", "birth_day", "birth_year", "gender", "company",
		"owner_staff_id", "points", "opt_out", "external_ref", "last_inbound_at", "updated_at",
		"city", "region", "tier_pinned_at", "tier_pinned_by", "stage_pinned_at", "stage_pinned_by",
	).Updates(&keep).Error
	if err != nil {
		return 0, 0, err
	}
	// A pin the kept customer takes over moves its tier or stage, in the
	// history like any change.
	var carried []Change
	reason := "pinned on merged customer " + strconv.FormatInt(gone.ID, 10)
	if keep.Tier != was.Tier {
		carried = append(carried, Change{CustomerID: keep.ID, Field: FieldTier, To: string(keep.Tier), Reason: reason})
	}
	if keep.Stage != was.Stage {
		carried = append(carried, Change{CustomerID: keep.ID, Field: FieldStage, To: string(keep.Stage), Reason: reason})
	}
	if _, err := s.applyChanges(tx, carried, changeOpts{at: keep.UpdatedAt, override: true}); err != nil {
		return 0, 0, err
	}
	rec := CustomerMerge{KeptID: keep.ID, MergedID: gone.ID, MergedName: gone.Name, Phone: phone, Method: p.Method,
		ByStaffID: p.By, ClaimID: p.ClaimID, CreatedAt: keep.UpdatedAt}
	if err := tx.Create(&rec).Error; err != nil {
		return 0, 0, err
	}
	// Earlier merges into the gone profile now belong to the kept one.
	if err := tx.Model(&CustomerMerge{}).Where("kept_id = ?", gone.ID).Update("kept_id", keep.ID).Error; err != nil {
		return 0, 0, err
	}
	if err := s.movePhoneClaims(tx, keep.ID, gone.ID, rec.CreatedAt); err != nil {
		return 0, 0, err
	}
	if err := mergeConversations(tx, keep.ID, gone.ID, rec.CreatedAt); err != nil {
		return 0, 0, err
	}
	return keep.ID, gone.ID, nil
}

// absorb fills keep's blanks from gone and combines what adds up.
func absorb(keep, gone *Customer) {
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&keep.Name, gone.Name)
	fill(&keep.Email, gone.Email)
	fill(&keep.Gender, gone.Gender)
	fill(&keep.Company, gone.Company)
	if keep.Birthday.IsZero() {
		keep.Birthday = gone.Birthday
	}
	keep.OwnerStaffID = cmp.Or(keep.OwnerStaffID, gone.OwnerStaffID)
	keep.ExternalRef = cmp.Or(keep.ExternalRef, gone.ExternalRef)
	if after(gone.LastInboundAt, keep.LastInboundAt) {
		keep.LastInboundAt = gone.LastInboundAt
	}
	// The tier and stage are computed again from the merged orders (the
	// merge touches the kept customer); a pin carries over.
	keep.Points += gone.Points
	keep.OptOut = keep.OptOut || gone.OptOut
	fill(&keep.City, gone.City)
	fill(&keep.Region, gone.Region)
	if keep.TierPinnedAt == nil && gone.TierPinnedAt != nil {
		keep.Tier, keep.TierPinnedAt, keep.TierPinnedBy = gone.Tier, gone.TierPinnedAt, gone.TierPinnedBy
	}
	if keep.StagePinnedAt == nil && gone.StagePinnedAt != nil {
		keep.Stage, keep.StagePinnedAt, keep.StagePinnedBy = gone.Stage, gone.StagePinnedAt, gone.StagePinnedBy
	}
}

// moveCustomerRows re-points every row of gone to keep.
func moveCustomerRows(tx *gorm.DB, keep, gone int64) error {
	m := tx.Migrator()
	for _, t := range mergeTables() {
		if !m.HasTable(t) || !m.HasColumn(t, "customer_id") {
			continue
		}
		if err := tx.Table(t).Where("customer_id = ?", gone).Update("customer_id", keep).Error; err != nil {
			return fmt.Errorf("move %s: %w", t, err)
		}
	}
	// Tags are a set: union them rather than collide on the primary key.
	var tags []string
	if err := tx.Model(&customerTag{}).Where("customer_id = ?", gone).Pluck("tag", &tags).Error; err != nil {
		return err
	}
	if len(tags) > 0 {
		sort.Strings(tags)
		rows := make([]customerTag, len(tags))
		for i, t := range tags {
			rows[i] = customerTag{CustomerID: keep, Tag: t}
		}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error; err != nil {
			return err
		}
		if err := tx.Where("customer_id = ?", gone).Delete(&customerTag{}).Error; err != nil {
			return err
		}
	}
	return nil
}

// mergeStats folds gone's figures into keep's: the event columns (the
// latest staff contact and survey score) move, the rest is recomputed
// from the merged orders, which the touch asks for.
func mergeStats(tx *gorm.DB, keep, gone int64, now time.Time) error {
	var rows []CustomerStats
	if err := tx.Where("customer_id IN ?", []int64{keep, gone}).Find(&rows).Error; err != nil {
		return err
	}
	var k, g CustomerStats
	for _, r := range rows {
		if r.CustomerID == keep {
			k = r
		} else {
			g = r
		}
	}
	if g.CustomerID != 0 {
		up := map[string]any{}
		if after(g.LastStaffContactAt, k.LastStaffContactAt) {
			up["last_staff_contact_at"] = g.LastStaffContactAt
		}
		if g.LastScore != nil && after(g.LastScoreAt, k.LastScoreAt) {
			up["last_score"], up["last_score_at"] = *g.LastScore, g.LastScoreAt
		}
		if len(up) > 0 {
			if err := noteStats(tx, keep, up); err != nil {
				return err
			}
		}
		if err := tx.Where("customer_id = ?", gone).Delete(&CustomerStats{}).Error; err != nil {
			return err
		}
	}
	if err := tx.Where("customer_id = ?", gone).Delete(&customerTouch{}).Error; err != nil {
		return err
	}
	return touchCustomers(tx, now, keep)
}
