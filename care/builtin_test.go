package care

import (
	"context"
	"strings"
	"testing"

	"github.com/rapport-crm/rapport/store"
)

func TestBuiltin(t *testing.T) {
	c := &store.Customer{Name: "Ada"}
	for _, key := range []string{"birthday", "holiday", "maintenance", "survey", "survey_thanks", "winback"} {
		for _, loc := range []string{store.LocaleZH, store.LocaleEN} {
			r, err := Builtin().Render(context.Background(), key, loc, Data{Customer: c, Holiday: &HolidayData{Name: "Spring"},
				Asset: &AssetData{Name: "Car", DueDate: "2027-03-04"}, Survey: &SurveyData{Score: 4}})
			if err != nil || r.Text == "" || r.Key != key || r.Locale != loc {
				t.Errorf("%s/%s: %+v %v", key, loc, r, err)
			}
			if key != "survey_thanks" && !strings.Contains(r.Text, "Ada") {
				t.Errorf("%s/%s: %q lacks the name", key, loc, r.Text)
			}
		}
	}
	if _, err := Builtin().Render(context.Background(), "nope", "en", Data{}); err == nil {
		t.Error("unknown key rendered")
	}
}
