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
		{"1990/03/15", "", true},
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
