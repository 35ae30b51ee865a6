package care

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseScore: survey replies come straight from customers' chats.
func FuzzParseScore(f *testing.F) {
	for _, s := range []string{"4", "5，很好", "2分 太慢", "３", "45", "sv:12:3", "", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		score, comment, ok := parseScore(in)
		if !ok {
			if score != 0 || comment != "" {
				t.Fatalf("rejected %q but returned %d %q", in, score, comment)
			}
		} else if score < 1 || score > 5 || (utf8.ValidString(in) && !utf8.ValidString(comment)) || !strings.Contains(in, comment) {
			t.Fatalf("parseScore(%q) = %d %q", in, score, comment)
		}
		if id, n, ok := parseCallback(in); ok && (id <= 0 || n < 1 || n > 5) {
			t.Fatalf("parseCallback(%q) = %d %d", in, id, n)
		}
	})
}
