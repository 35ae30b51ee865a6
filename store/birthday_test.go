package store

import (
	"testing"
	"time"
)

func TestParseBirthday(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"", "", false},
		{"03-15", "03-15", false},
		{"3-5", "03-05", false},
		{"02-29", "02-29", false},
		{"1990-03-15", "1990-03-15", false},
		{"2000-02-29", "2000-02-29", false},
		{"2001-02-29", "", true},
		{"13-01", "", true},
		{"00-10", "", true},
		{"04-31", "", true},
		{"1850-01-01", "", true},
		{"2030-01-01", "", true},
		{"2026-12-01", "", true}, // future
		{"abc", "", true},
		{"1990/03/15", "1990-03-15", false},
		{"1990年3月15日", "1990-03-15", false},
		{"3月15日", "03-15", false},
		{"3月15号", "03-15", false},
		{"０３－１５", "03-15", false}, // full-width
		{"1990.03.15", "1990-03-15", false},
		{"3月", "", true},
		{"三月十五", "", true},
		{"90-03-15", "", true},
		{"+1-01", "", true},
		{"1990-03-15-01", "", true},
	}
	for _, tt := range tests {
		got, err := ParseBirthday(tt.in, now)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseBirthday(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got.String() != tt.want {
			t.Errorf("ParseBirthday(%q) = %q, want %q", tt.in, got.String(), tt.want)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+86 138-0013 8000", "+8613800138000"},
		{"１３８ ００１３ ８０００", "13800138000"}, // full-width digits from a Chinese keyboard
		{"(010) 1234.5678", "01012345678"},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := NormalizePhone(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"abc", "12", "++86123456", "86-12a45678"} {
		if _, err := NormalizePhone(bad); err == nil {
			t.Errorf("NormalizePhone(%q) accepted", bad)
		}
	}
}

// FuzzParseBirthday: what customers type after /birthday never panics, and
// an accepted birthday prints back to text that parses to itself.
func FuzzParseBirthday(f *testing.F) {
	for _, s := range []string{"05-17", "1990-05-17", "02-29", "2000-02-29", "1999-02-29", "13-01", "00-00", "+1-2", "-05-17", "1990-5-7", "٠٥-١٧", " 12-31 ", "2026-11-23"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBirthday(s, now)
		if err != nil || b.IsZero() {
			return
		}
		again, err := ParseBirthday(b.String(), now)
		if err != nil || again != b {
			t.Errorf("%q → %v → %q → %v, %v", s, b, b.String(), again, err)
		}
	})
}

// FuzzNormalizePhone: /phone input never panics, and normalising twice
// changes nothing.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"13800138000", "+86 138-0013-8000", "(010) 6552.8888", "", "+", "12", "１３８００１３８０００", "+8613800138000x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := NormalizePhone(s)
		if err != nil {
			return
		}
		again, err := NormalizePhone(p)
		if err != nil || again != p {
			t.Errorf("%q → %q → %q, %v", s, p, again, err)
		}
	})
}
