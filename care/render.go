package care

import (
	"context"

	"github.com/rapport-crm/rapport/store"
)

// Data is what a care text is rendered from. It mirrors templates.Data
// field for field; cmd adapts the templates service to Renderer (as for
// followup), so care does not depend on the template engine's types.
type Data struct {
	Business string
	Customer *store.Customer // cmd maps it with templates.CustomerData
	Asset    *AssetData
	Survey   *SurveyData
	Holiday  *HolidayData
}

// AssetData is the serviced item a maintenance reminder is about.
type AssetData struct{ Name, DueDate string }

// SurveyData is a satisfaction survey (OrderDate) and, for the thank-you, its
// answer.
type SurveyData struct {
	Score     int
	Comment   string
	OrderDate string
}

// HolidayData is the holiday a greeting is for.
type HolidayData struct{ Key, Name string }

// Rendered is a rendered text and the template version it came from.
type Rendered struct {
	Key     string
	Locale  string
	Version int
	Text    string
}

// Renderer renders template key for a locale (zh-CN, en).
type Renderer interface {
	Render(ctx context.Context, key, locale string, d Data) (Rendered, error)
}
