package store

import (
	"fmt"
	"time"
)

// The columns of a customer as the import writes and reads them, past
// GORM (import.go).

// customerCols are a customer's columns, in the order of dest and values.
// TestCustomerCols holds them to the model's.
const customerCols = "id, name, phone, phone_key, email, birth_month, birth_day, birth_year, gender, company, source, " +
	"tier, stage, opt_out, owner_staff_id, points, locale, external_ref, last_inbound_at, created_at, updated_at, " +
	"city, region, district, opt_out_at, tier_pinned_at, tier_pinned_by, stage_pinned_at, stage_pinned_by"

// dest are the scan targets of customerCols, into c. A nullable column
// gets a new pointer each row (or nil), so that c can be copied after.
func (c *Customer) dest() []any {
	return []any{intCol[int64]{&c.ID, nil}, &c.Name, &c.Phone, nullCol[string]{&c.PhoneKey}, &c.Email,
		intCol[int]{&c.Birthday.Month, nil}, intCol[int]{&c.Birthday.Day, nil}, intCol[int]{&c.Birthday.Year, nil},
		&c.Gender, &c.Company, &c.Source, strCol[Tier]{&c.Tier, nil}, strCol[Stage]{&c.Stage, nil}, &c.OptOut,
		nullCol[int64]{&c.OwnerStaffID}, intCol[int64]{&c.Points, nil}, &c.Locale, nullCol[string]{&c.ExternalRef},
		nullCol[time.Time]{&c.LastInboundAt}, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt}, &c.City, &c.Region, &c.District,
		nullCol[time.Time]{&c.OptOutAt}, nullCol[time.Time]{&c.TierPinnedAt}, nullCol[int64]{&c.TierPinnedBy},
		nullCol[time.Time]{&c.StagePinnedAt}, nullCol[int64]{&c.StagePinnedBy}}
}

// values are c's values of customerCols, without its id.
func (c *Customer) values() []any {
	return []any{c.Name, c.Phone, orNull(c.PhoneKey), c.Email, c.Birthday.Month, c.Birthday.Day, c.Birthday.Year,
		c.Gender, c.Company, c.Source, string(c.Tier), string(c.Stage), c.OptOut, orNull(c.OwnerStaffID), c.Points,
		c.Locale, orNull(c.ExternalRef), orNull(c.LastInboundAt), c.CreatedAt, c.UpdatedAt, c.City, c.Region, c.District,
		orNull(c.OptOutAt), orNull(c.TierPinnedAt), orNull(c.TierPinnedBy), orNull(c.StagePinnedAt), orNull(c.StagePinnedBy)}
}

// orNull is *p, or NULL for nil.
func orNull[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// nullCol scans a nullable column into a new *T (nil for NULL).
type nullCol[T any] struct{ p **T }

func (c nullCol[T]) Scan(v any) error {
	if v == nil {
		*c.p = nil
		return nil
	}
	x := new(T)
	var err error
	switch p := any(x).(type) {
	case *time.Time:
		err = timeCol{p}.Scan(v)
	case *int64:
		err = intCol[int64]{p, nil}.Scan(v)
	case *string:
		err = strCol[string]{p, nil}.Scan(v)
	default:
		err = fmt.Errorf("scan: unsupported %T", x)
	}
	*c.p = x
	return err
}

// timeCol scans a time column as either driver gives it.
type timeCol struct{ p *time.Time }

func (c timeCol) Scan(v any) error {
	var t anyTime
	err := t.Scan(v)
	*c.p = t.t
	return err
}
