package store

import (
	"context"
	"fmt"
	"sort"

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
	}
}

// SetPhone saves a customer's phone number (chat /phone) and merges every
// other customer with the same phone into one profile. The oldest customer
// is kept; the others' identities, conversation, orders, assets, tags,
// tasks and survey answers move to it, blank fields are filled from them,
// points add up, and an opt-out anywhere stays an opt-out. It returns the
// kept customer and the ids that were merged into it.
func (s *Store) SetPhone(ctx context.Context, customerID int64, raw string) (*Customer, []int64, error) {
	phone, err := NormalizePhone(raw)
	if err != nil {
		return nil, nil, Invalid("phone", "%v", err)
	}
	if phone == "" {
		return nil, nil, Invalid("phone", "must not be empty")
	}
	var keepID int64
	var merged []int64
	err = s.tx(ctx, func(tx *gorm.DB) error {
		merged = nil
		var cur Customer
		if err := tx.Take(&cur, customerID).Error; err != nil {
			return notFound(err, "customer %d not found", customerID)
		}
		var all []Customer
		if err := tx.Where("phone = ? OR id = ?", phone, customerID).Order("id").Find(&all).Error; err != nil {
			return err
		}
		keep := all[0] // lowest id: the oldest profile wins
		keep.Phone = phone
		for _, gone := range all[1:] {
			absorb(&keep, &gone)
			if err := moveCustomerRows(tx, keep.ID, gone.ID); err != nil {
				return err
			}
			if gone.ExternalRef != nil && keep.ExternalRef != nil && *gone.ExternalRef == *keep.ExternalRef {
				// Moved to keep by absorb; free the unique key first.
				if err := tx.Model(&Customer{}).Where("id = ?", gone.ID).Update("external_ref", nil).Error; err != nil {
					return err
				}
			}
			if err := tx.Delete(&Customer{}, gone.ID).Error; err != nil {
				return err
			}
			merged = append(merged, gone.ID)
		}
		keepID = keep.ID
		return tx.Model(&Customer{}).Where("id = ?", keep.ID).Select(
			"phone", "name", "email", "birth_month", "birth_day", "birth_year", "gender", "company",
			"owner_staff_id", "points", "opt_out", "external_ref", "last_inbound_at", "tier", "updated_at",
		).Updates(&keep).Error
	})
	if err != nil {
		return nil, nil, fmt.Errorf("set phone: %w", err)
	}
	c, err := s.Customer(ctx, keepID)
	if err != nil {
		return nil, nil, err
	}
	return c, merged, nil
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
	if keep.OwnerStaffID == nil {
		keep.OwnerStaffID = gone.OwnerStaffID
	}
	if keep.ExternalRef == nil {
		keep.ExternalRef = gone.ExternalRef
	}
	if after(gone.LastInboundAt, keep.LastInboundAt) {
		keep.LastInboundAt = gone.LastInboundAt
	}
	if gone.Tier != "" && gone.Tier < keep.Tier { // A is best
		keep.Tier = gone.Tier
	}
	keep.Points += gone.Points
	keep.OptOut = keep.OptOut || gone.OptOut
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
