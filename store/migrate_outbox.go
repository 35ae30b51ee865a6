package store

import "gorm.io/gorm"

// outboxMigrations are the schema steps of the outbox tables, in order.
func outboxMigrations() []migration {
	return []migration{
		{"0100_leases", autoMigrate(&Lease{})},
		{"0101_outbox_in_place", outboxInPlace},
	}
}

// outboxInPlace moves the outbox to claims that change no status (see
// ClaimOutbox) and to fixed-width columns for what the dispatcher writes,
// so that InnoDB updates a delivering row in place. Run it with every
// replica stopped: a process of the earlier version marks claims with
// status "sending", which this version no longer reads.
func outboxInPlace(tx *gorm.DB) error {
	// Rows claimed the old way go back to the queue, as any lapsed claim.
	if err := tx.Exec("UPDATE messages SET status = ?, claimed_by = '', lease_until = ? WHERE status = ?",
		StatusQueued, unset(), StatusSending).Error; err != nil {
		return err
	}
	if tx.Dialector.Name() != MySQL {
		return nil // SQLite stores every value at its own length anyway
	}
	for _, q := range []string{
		"UPDATE messages SET claimed_by = '' WHERE CHAR_LENGTH(claimed_by) > 24",
		"UPDATE messages SET provider_msg_id = LEFT(provider_msg_id, 24) WHERE CHAR_LENGTH(provider_msg_id) > 24",
		"ALTER TABLE messages MODIFY status CHAR(9) NOT NULL, MODIFY claimed_by CHAR(24) NOT NULL DEFAULT '', MODIFY provider_msg_id CHAR(24) NOT NULL DEFAULT ''",
	} {
		if err := tx.Exec(q).Error; err != nil {
			return err
		}
	}
	return nil
}
