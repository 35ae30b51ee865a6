package store

import "gorm.io/gorm"

// careMigrations are the schema steps of the care tables, in order.
func careMigrations() []migration {
	return []migration{
		{"0300_care_runs", autoMigrate(&CareRun{})},
		{"0301_surveys", autoMigrate(&Survey{})},
	}
}

// identitiesAudienceIndex replaces the customer_id index of identities by
// one that also covers the columns care reads (see Identity).
func identitiesAudienceIndex(tx *gorm.DB) error {
	m := tx.Migrator()
	if !m.HasIndex(&Identity{}, "ix_identities_audience") {
		if err := m.CreateIndex(&Identity{}, "ix_identities_audience"); err != nil {
			return err
		}
	}
	if m.HasIndex(&Identity{}, "idx_identities_customer_id") {
		return m.DropIndex(&Identity{}, "idx_identities_customer_id")
	}
	return nil
}
