package store

import (
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
)

// Money is an exact amount in fen (分, 1/100 yuan). It is a struct rather
// than an integer type so that a bare number (Amount: 20) does not compile:
// 20 would silently mean 20 fen. Make one with Fen or ParseMoney.
//
// In JSON it is a number with exactly two decimals (1280.5 yuan is
// 1280.50), read back from a number or a string by its decimal text, never
// through a float. In the database it is a BIGINT of fen.
type Money struct{ fen int64 }

// MaxMoney bounds an amount either way: 999,999,999,999.99 (the old
// decimal(14,2) column's range).
const MaxMoney = 99_999_999_999_999

// Fen is n fen.
func Fen(n int64) Money { return Money{n} }

// Fen is the amount in fen.
func (m Money) Fen() int64 { return m.fen }

// IsZero reports a zero amount.
func (m Money) IsZero() bool { return m.fen == 0 }

// String is the amount with two decimals: "1280.50", "-3.00".
func (m Money) String() string {
	n, sign := m.fen, ""
	if n < 0 {
		n, sign = -n, "-"
	}
	return fmt.Sprintf("%s%d.%02d", sign, n/100, n%100)
}

// ParseMoney reads a decimal amount exactly: an optional sign, digits, and
// at most two decimals that are not zero (12.5, 12.50 and 12.500 are all
// 1250 fen; 12.505 is refused). No exponent, no thousands separators. The
// error names field.
func ParseMoney(field, s string) (Money, error) {
	v := strings.TrimSpace(s)
	neg := false
	switch {
	case strings.HasPrefix(v, "-"):
		neg, v = true, v[1:]
	case strings.HasPrefix(v, "+"):
		v = v[1:]
	}
	whole, frac, _ := strings.Cut(v, ".")
	if (whole == "" && frac == "") || !allDigits(whole) || !allDigits(frac) {
		return Money{}, Invalid(field, "%q is not an amount (like 1280.50)", s)
	}
	if t := strings.TrimRight(frac, "0"); len(t) > 2 {
		return Money{}, Invalid(field, "%q has more than two decimals", s)
	}
	frac = (frac + "00")[:2]
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 12 {
		return Money{}, Invalid(field, "%q is beyond ±999999999999.99", s)
	}
	if whole == "" {
		whole = "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n > MaxMoney {
		return Money{}, Invalid(field, "%q is beyond ±999999999999.99", s)
	}
	if neg {
		n = -n
	}
	return Money{n}, nil
}

// allDigits reports whether s is ASCII digits only ("" is).
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MarshalJSON writes the amount as a JSON number with two decimals.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalJSON reads a JSON number or a string holding one, exactly; an
// amount it refuses is a 422 naming "amount".
func (m *Money) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		u, err := strconv.Unquote(s)
		if err != nil {
			return Invalid("amount", "%s is not an amount", s)
		}
		s = u
	}
	v, err := ParseMoney("amount", s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Value stores the amount as its fen.
func (m Money) Value() (driver.Value, error) { return m.fen, nil }

// Scan reads fen from the database.
func (m *Money) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		m.fen = v
	case []byte:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return fmt.Errorf("money: %q is not fen", v)
		}
		m.fen = n
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("money: %q is not fen", v)
		}
		m.fen = n
	case nil:
		m.fen = 0
	default:
		return fmt.Errorf("money: cannot scan %T", src)
	}
	return nil
}
