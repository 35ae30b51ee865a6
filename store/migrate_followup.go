package store

import "gorm.io/gorm"

// followupMigrations are the schema steps of the followup tables, in order.
func followupMigrations() []migration {
	return []migration{
		{"0500_tasks", autoMigrate(&Task{}, &TaskEvent{})},
		{"0501_staff_bindings", autoMigrate(&BindingCode{}, &bindAttempt{})},
		{"0502_messages_provider_index", providerIndex},
	}
}

// providerIndex lets a staff member's Telegram reply-to (the platform id of
// the relayed message) find the relayed message.
func providerIndex(tx *gorm.DB) error {
	if tx.Migrator().HasIndex(&Message{}, "ix_messages_channel_provider") {
		return nil
	}
	return tx.Exec("CREATE INDEX ix_messages_channel_provider ON messages (channel, provider_msg_id)").Error
}

// dropProviderIndex: the lookups by provider id go through the recipient's
// index instead (TaskOfStaffMessage by staff_id, sentTo by the chat's
// customer or staff member). Kept, the index cost the dispatcher one entry
// move per message sent, about a third of the database's work per send.
func dropProviderIndex(tx *gorm.DB) error {
	if !tx.Migrator().HasIndex(&Message{}, "ix_messages_channel_provider") {
		return nil
	}
	return tx.Migrator().DropIndex(&Message{}, "ix_messages_channel_provider")
}
