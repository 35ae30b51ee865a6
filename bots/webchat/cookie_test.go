package webchat

import (
	"strings"
	"testing"
)

// FuzzVisitorCookie: a browser's cookie is attacker-controlled. Whatever
// it holds, verify never panics and only accepts exactly what sign made.
func FuzzVisitorCookie(f *testing.F) {
	c := &Channel{secret: []byte("0123456789abcdef0123456789abcdef")}
	good := c.sign("0123456789abcdef0123456789abcdef")
	for _, s := range []string{good, good + "x", strings.ToUpper(good), "", ".", "0123456789abcdef0123456789abcdef.", "x.y.z", good[:40]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		id := c.verify(v)
		if id == "" {
			return
		}
		if c.sign(id) != v || !validID(id) {
			t.Errorf("verify(%q) accepted visitor %q", v, id)
		}
	})
}

// FuzzCursor: the SSE/poll cursor comes from the browser; parsing never
// panics and what it accepts formats back to itself.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"1767225600000.42", "0.0", "", ".", "-1.2", "1.-2", "99999999999999999999.1", "1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := parseCursor(s)
		if !ok {
			return
		}
		if again, ok := parseCursor(formatCursor(c)); !ok || again != c {
			t.Errorf("%q → %+v → %q → %+v", s, c, formatCursor(c), again)
		}
	})
}
