package store

import (
	"strings"
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

// One number however it is written: canonical E.164, read in the store's
// region when it has no country code.
func TestCanonicalPhone(t *testing.T) {
	tests := []struct{ in, region, want string }{
		{"+86 138 0013 8000", "CN", "+8613800138000"},
		{"13800138000", "CN", "+8613800138000"},
		{"138-0013-8000", "CN", "+8613800138000"},
		{"１３８００１３８０００", "CN", "+8613800138000"}, // full-width digits from a Chinese keyboard
		{"１３８-００１３-８０００", "CN", "+8613800138000"},
		{"(138) 0013.8000", "CN", "+8613800138000"},
		{"0086 138 0013 8000", "CN", "+8613800138000"},
		{"8613800138000", "CN", "+8613800138000"},
		{"+8613800138000", "HK", "+8613800138000"},
		{"(010) 1234 5678", "CN", "+861012345678"},
		{"9123 4567", "HK", "+85291234567"},
		{"+1 415 555 2671", "CN", "+14155552671"},
		{"", "CN", ""},
		{"  ", "CN", ""},
	}
	for _, tt := range tests {
		got, err := CanonicalPhone(tt.in, tt.region)
		if err != nil || got != tt.want {
			t.Errorf("CanonicalPhone(%q, %s) = %q, %v; want %q", tt.in, tt.region, got, err, tt.want)
		}
	}
	for _, bad := range []string{"abc", "12", "1380013800", "138001380001", "++86123456", "86-12a45678", "13800138000 ext. 12", strings.Repeat("1", 80)} {
		if got, err := CanonicalPhone(bad, "CN"); err == nil {
			t.Errorf("CanonicalPhone(%q) = %q, accepted", bad, got)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{"+8613800138000": "138****8000", "+861012345678": "101***5678", "+85291234567": "****4567", "+4930123": "***23"} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
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

// FuzzCanonicalPhone: /phone input never panics, and an accepted number
// is its own canonical form.
func FuzzCanonicalPhone(f *testing.F) {
	for _, s := range []string{"13800138000", "+86 138-0013-8000", "(010) 6552.8888", "", "+", "12", "１３８００１３８０００", "+8613800138000x", "tel:+8613800138000", "0086 138"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := CanonicalPhone(s, "CN")
		if err != nil || p == "" {
			return
		}
		again, err := CanonicalPhone(p, "US")
		if err != nil || again != p {
			t.Errorf("%q → %q → %q, %v", s, p, again, err)
		}
		_ = MaskPhone(p)
	})
}
