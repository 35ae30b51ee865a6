package store

import (
	"bytes"
	"encoding/json"
	"time"
)

// moment reads a JSON time given as RFC 3339 or as a bare date
// (YYYY-MM-DD): people record a service or an order by its day. A bare date
// becomes noon UTC, which falls on that same calendar day in every business
// time zone from UTC-11 to UTC+11 (midnight UTC would be the previous
// evening west of Greenwich).
type moment struct {
	field string
	t     *time.Time
}

func (m *moment) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		m.t = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Invalid(m.field, "expected an RFC 3339 time or a YYYY-MM-DD date")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		m.t = &t
		return nil
	}
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		return Invalid(m.field, "%q is neither an RFC 3339 time nor a YYYY-MM-DD date", s)
	}
	d = d.Add(12 * time.Hour)
	m.t = &d
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
	}{fields: (*fields)(in), LastServiceAt: moment{field: "last_service_at"}}
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
	}{fields: (*fields)(in), OccurredAt: moment{field: "occurred_at"}}
	if err := strictUnmarshal(b, &aux); err != nil {
		return err
	}
	in.OccurredAt = aux.OccurredAt.t
	return nil
}
