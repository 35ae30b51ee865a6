package store

// outboxMigrations are the schema steps of the outbox tables, in order.
func outboxMigrations() []migration {
	return []migration{
		{"0100_leases", autoMigrate(&Lease{})},
	}
}
