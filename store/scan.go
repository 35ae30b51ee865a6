package store

import (
	"fmt"
	"strconv"
	"time"
)

// Column scanners for the raw reads on the hot paths (audience.go), which
// skip GORM's reflection.

// anyTime scans a time column in raw queries: MySQL gives a time.Time,
// SQLite (in aggregates and raw scans) may give the stored text. ok, when
// set, records whether the value was non-NULL.
type anyTime struct {
	t  time.Time
	ok *bool
}

func (t *anyTime) Scan(v any) error {
	if t.ok != nil {
		*t.ok = v != nil
	}
	switch x := v.(type) {
	case time.Time:
		t.t = x.UTC()
		return nil
	case string:
		return t.parse(x)
	case []byte:
		return t.parse(string(x))
	case nil:
		t.t = time.Time{}
		return nil
	}
	return fmt.Errorf("scan time: unsupported %T", v)
}

func (t *anyTime) parse(s string) error {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if x, err := time.Parse(layout, s); err == nil {
			t.t = x.UTC()
			return nil
		}
	}
	return fmt.Errorf("scan time: %q", s)
}

// intCol and strCol scan the audience's columns as the drivers give them
// (int64, []byte, string). database/sql would turn an int64 into an *int by
// formatting and parsing it, and fill named string types by reflection:
// a third of a million-customer dry run went there. ok, when set, records
// whether the value was non-NULL (NULL leaves the target alone).
type intCol[T ~int | ~int64] struct {
	p  *T
	ok *bool
}

func (c intCol[T]) Scan(v any) error {
	if c.ok != nil {
		*c.ok = v != nil
	}
	switch x := v.(type) {
	case int64:
		*c.p = T(x)
	case []byte:
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return fmt.Errorf("scan int: %w", err)
		}
		*c.p = T(n)
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return fmt.Errorf("scan int: %w", err)
		}
		*c.p = T(n)
	case nil:
	default:
		return fmt.Errorf("scan int: unsupported %T", v)
	}
	return nil
}

// strCol scans a string column; with words set, each distinct value is
// allocated once per query (tier, stage, locale: a few values each).
type strCol[T ~string] struct {
	p     *T
	words interned
}

// interned maps a value to its one shared copy.
type interned map[string]string

func (c strCol[T]) Scan(v any) error {
	switch x := v.(type) {
	case []byte:
		if c.words == nil {
			*c.p = T(x)
			return nil
		}
		w, ok := c.words[string(x)] // no allocation for the lookup
		if !ok {
			w = string(x)
			if len(c.words) < 64 {
				c.words[w] = w
			}
		}
		*c.p = T(w)
	case string:
		*c.p = T(x)
	case nil:
		*c.p = ""
	default:
		return fmt.Errorf("scan string: unsupported %T", v)
	}
	return nil
}
