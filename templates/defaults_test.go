package templates

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

var shanghai = mustZone("Asia/Shanghai")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// TestDefaultsRender renders every shipped text with and without the
// optional fields, in both locales, through Render.
func TestDefaultsRender(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	svc := New(s, Config{BusinessName: "安心家电", Location: shanghai})
	ctx := context.Background()
	for _, key := range Keys() {
		for _, locale := range locales {
			for _, full := range []bool{true, false} {
				d := sample(key, locale, full)
				r, err := svc.Render(ctx, key, locale, d)
				if err != nil {
					t.Errorf("%s %s full=%v: %v", key, locale, full, err)
					continue
				}
				if r.Version != 1 || r.Key != key || r.Locale != locale {
					t.Errorf("%s %s: rendered %+v", key, locale, r)
				}
				if strings.TrimSpace(r.Text) == "" || strings.Contains(r.Text, "<no value>") || strings.Contains(r.Text, "%!") {
					t.Errorf("%s %s full=%v: bad text %q", key, locale, full, r.Text)
				}
				if n := utf8.RuneCountInString(r.Text); n > TelegramLimit {
					t.Errorf("%s %s: %d characters", key, locale, n)
				}
				if _, _, err := svc.check(key, locale, svc.defaults[ref(key, locale)]); err != nil {
					t.Errorf("%s %s: shipped text fails its own validation: %v", key, locale, err)
				}
				if testing.Verbose() {
					t.Logf("%s %s full=%v:\n%s", key, locale, full, r.Text)
				}
			}
		}
	}
}
