package store

// templateMigrations are the schema steps of the template tables, in order.
func templateMigrations() []migration {
	return []migration{
		{"0301_templates", autoMigrate(&TemplateVersion{}, &TemplateHead{}, &TemplateAudit{}, &TemplateDraft{})},
	}
}
