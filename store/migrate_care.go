package store

// careMigrations are the schema steps of the care tables, in order.
func careMigrations() []migration {
	return []migration{
		{"0300_care_runs", autoMigrate(&CareRun{})},
		{"0301_surveys", autoMigrate(&Survey{})},
	}
}
