package store_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
)

// A filter from the API never panics the parser, and one that parses
// survives its stored form unchanged (what is saved is what runs).
func FuzzParseSegmentFilter(f *testing.F) {
	for _, s := range []string{`{}`, `{"tier":["A"],"city":"上海"}`, `{"birthday_month":[1,12],"clv_min":"10.5"}`,
		`{"last_order_before":"150d","order_kind":"service"}`, `{"tags_all":["a","b"],"asset_age_min":3}`, `[]`, `{"x":1}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := store.ParseSegmentFilter(raw)
		if err != nil {
			if store.ErrorCode(err) != store.EINVALID {
				t.Fatalf("%q: %v is not invalid", raw, err)
			}
			return
		}
		again, err := store.ParseSegmentFilter([]byte(got.JSON()))
		if err != nil {
			t.Fatalf("%q: stored form %s does not parse: %v", raw, got.JSON(), err)
		}
		if diff := cmp.Diff(got, again, cmp.Comparer(func(a, b store.Money) bool { return a == b })); diff != "" {
			t.Fatalf("%q: stored form differs:\n%s", raw, diff)
		}
	})
}
