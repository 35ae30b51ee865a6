package care

import (
	"context"
	"strings"
	"testing"

	"github.com/rapport-crm/rapport/render"
)

// fakeText renders "key|locale|name|extra": enough to see which template,
// locale and data a message was built from.
type fakeText struct{}

func (fakeText) Render(_ context.Context, key, locale string, d render.Data) (render.Rendered, error) {
	if key == "survey_buttons" {
		return render.Rendered{Key: key, Locale: locale, Version: 1, Text: "1 " + locale + "\n2\n3\n4\n5"}, nil
	}
	parts := []string{key, locale, d.Customer.Name}
	switch {
	case d.Holiday != nil:
		parts = append(parts, d.Holiday.Name)
	case d.Asset != nil:
		parts = append(parts, d.Asset.Name+"@"+d.Asset.DueDate.Format("2006-01-02"))
	case d.Extra["day"] != "":
		parts = append(parts, "day"+d.Extra["day"])
	}
	return render.Rendered{Key: key, Locale: locale, Version: 1, Text: strings.Join(parts, "|")}, nil
}

func testRenderer(t testing.TB) render.Renderer { return fakeText{} }
