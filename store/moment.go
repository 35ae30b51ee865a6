package store

import (
	"bytes"
	"encoding/json"
	"time"
)

// The years a time or date may have. MySQL's DATETIME holds 1000-9999 and
// Go parses RFC 3339 years 0000-9999, but no customer, order, task or token
// lives outside these; a year beyond them is a typo or a probe, answered
// with a 422 naming the field instead of a database error.
const (
	MinYear = 1900
	MaxYear = 2200
)

// checkTime refuses a time outside MinYear-MaxYear, naming the field.
func checkTime(field string, t time.Time) error {
	if y := t.Year(); y < MinYear || y > MaxYear {
		return Invalid(field, "year %d is outside %d-%d", t.Year(), MinYear, MaxYear)
	}
	return nil
}

// CheckTime is checkTime for callers outside the store that take a time or
// date (query parameters, say).
func CheckTime(field string, t time.Time) error { return checkTime(field, t) }

// moment reads a JSON time given as RFC 3339 or, with dates, as a bare
// date (YYYY-MM-DD): people record a service or an order by its day. A
// bare date becomes noon UTC, which falls on that same calendar day in
// every business time zone from UTC-11 to UTC+11 (midnight UTC would be
// the previous evening west of Greenwich).
type moment struct {
	field string
	dates bool
	t     *time.Time
}

func (m *moment) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		m.t = nil
		return nil
	}
	want := "an RFC 3339 time"
	if m.dates {
		want += " or a YYYY-MM-DD date"
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Invalid(m.field, "expected %s", want)
	}
	t, err := time.Parse(time.RFC3339, s)
	if d, derr := time.Parse(time.DateOnly, s); err != nil && m.dates && derr == nil {
		t, err = d.Add(12*time.Hour), nil
	}
	if err != nil {
		return Invalid(m.field, "%q is not %s", s, want)
	}
	if err := checkTime(m.field, t); err != nil {
		return err
	}
	m.t = &t
	return nil
}

// strictUnmarshal is json.Unmarshal refusing unknown fields, as the API's
// decoder does (a custom UnmarshalJSON would otherwise lose that).
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// UnmarshalJSON accepts last_service_at as a time or a date.
func (in *AssetInput) UnmarshalJSON(b []byte) error {
	type fields AssetInput
	aux := struct {
		*fields
		LastServiceAt moment `json:"last_service_at"`
	}{fields: (*fields)(in), LastServiceAt: moment{field: "last_service_at", dates: true}}
	if err := strictUnmarshal(b, &aux); err != nil {
		return err
	}
	in.LastServiceAt = aux.LastServiceAt.t
	return nil
}

// UnmarshalJSON accepts occurred_at as a time or a date.
func (in *OrderInput) UnmarshalJSON(b []byte) error {
	type fields OrderInput
	aux := struct {
		*fields
		OccurredAt moment `json:"occurred_at"`
	}{fields: (*fields)(in), OccurredAt: moment{field: "occurred_at", dates: true}}
	if err := strictUnmarshal(b, &aux); err != nil {
		return err
	}
	in.OccurredAt = aux.OccurredAt.t
	return nil
}
