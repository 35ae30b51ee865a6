package store

// kvMigrations are the schema steps of the shared key/value table.
func kvMigrations() []migration {
	return []migration{
		{"0700_kv", autoMigrate(&kvEntry{})},
	}
}
