package store

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/width"
)

// Birthday is a month and day with an optional year (0 = unknown). Stored as
// three columns so "whose birthday is today" is an index range, not a scan.
type Birthday struct {
	Month int `gorm:"column:birth_month;not null;default:0;index:ix_customers_birthday,priority:1"`
	Day   int `gorm:"column:birth_day;not null;default:0;index:ix_customers_birthday,priority:2"`
	Year  int `gorm:"column:birth_year;not null;default:0"`
}

// IsZero reports an unknown birthday.
func (b Birthday) IsZero() bool { return b.Month == 0 }

// String renders YYYY-MM-DD, MM-DD, or "" when unknown.
func (b Birthday) String() string {
	switch {
	case b.Month == 0:
		return ""
	case b.Year == 0:
		return fmt.Sprintf("%02d-%02d", b.Month, b.Day)
	default:
		return fmt.Sprintf("%04d-%02d-%02d", b.Year, b.Month, b.Day)
	}
}

// birthdayForms turns the ways people write a date in chat into
// YYYY-MM-DD / MM-DD: 1990年5月17日, 5月17号, 05/17, 1990.05.17.
var birthdayForms = strings.NewReplacer("年", "-", "月", "-", "日", "", "号", "", "/", "-", ".", "-")

// ParseBirthday accepts YYYY-MM-DD or MM-DD (also written 1990年5月17日,
// 5月17日, 05/17 or 1990.05.17, in full-width digits too); "" is the unknown
// birthday. Feb 29 without a year is allowed (a leap-day birthday).
func ParseBirthday(in string, now time.Time) (Birthday, error) {
	in = strings.TrimSpace(in)
	s := birthdayForms.Replace(width.Narrow.String(in))
	if s == "" {
		return Birthday{}, nil
	}
	parts := strings.Split(s, "-")
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || p == "" || p[0] == '+' {
			return Birthday{}, fmt.Errorf("%q is not YYYY-MM-DD or MM-DD", in)
		}
		nums[i] = n
	}
	var b Birthday
	switch len(nums) {
	case 2:
		b = Birthday{Month: nums[0], Day: nums[1]}
	case 3:
		if len(parts[0]) != 4 {
			return Birthday{}, fmt.Errorf("%q is not YYYY-MM-DD or MM-DD", in)
		}
		b = Birthday{Year: nums[0], Month: nums[1], Day: nums[2]}
	default:
		return Birthday{}, fmt.Errorf("%q is not YYYY-MM-DD or MM-DD", in)
	}
	if b.Month < 1 || b.Month > 12 {
		return Birthday{}, fmt.Errorf("%q: month must be 1-12", in)
	}
	year := b.Year
	if year == 0 {
		year = 2000 // a leap year, so 02-29 is a valid month-day
	} else if b.Year < 1900 || b.Year > now.Year() {
		return Birthday{}, fmt.Errorf("%q: year must be between 1900 and %d", in, now.Year())
	}
	t := time.Date(year, time.Month(b.Month), b.Day, 0, 0, 0, 0, time.UTC)
	if b.Day < 1 || t.Month() != time.Month(b.Month) {
		return Birthday{}, fmt.Errorf("%q is not a calendar date", in)
	}
	if b.Year != 0 && t.After(now) {
		return Birthday{}, fmt.Errorf("%q is in the future", in)
	}
	return b, nil
}

// MarshalJSON renders the birthday as a string, or null when unknown.
func (b Birthday) MarshalJSON() ([]byte, error) {
	if b.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(b.String())
}
