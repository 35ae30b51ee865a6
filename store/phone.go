package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// DefaultPhoneRegion is the region a number without a country code is read
// in unless config.yaml's phone_region says otherwise.
const DefaultPhoneRegion = "CN"

// maxPhoneInput bounds what is handed to the parser (it caps at 250 itself;
// no phone number is anywhere near this long).
const maxPhoneInput = 64

// WithPhoneRegion sets the region (ISO 3166-1 code such as "CN" or "HK")
// that phone numbers without a country code are read in. Check it with
// ValidPhoneRegion first; an unknown region makes every such number invalid.
func WithPhoneRegion(region string) Option {
	return func(s *Store) { s.phoneRegion = strings.ToUpper(strings.TrimSpace(region)) }
}

// ValidPhoneRegion reports whether the phone number rules know region.
func ValidPhoneRegion(region string) bool {
	return phonenumbers.GetSupportedRegions()[strings.ToUpper(strings.TrimSpace(region))]
}

// CanonicalPhone returns the one E.164 form (+8613800138000) of a phone
// number however it was written: spaces, dashes, dots, brackets, a 00 or +
// prefix, full-width digits. A number without a country code is read in
// region. Blank input is "" and no error; anything that is not a valid
// number for its country (by libphonenumber's rules) is an error.
func CanonicalPhone(raw, region string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", nil
	}
	if len(s) > maxPhoneInput {
		return "", fmt.Errorf("longer than %d characters", maxPhoneInput)
	}
	if p, ok := cnMobile(s, region); ok {
		return p, nil
	}
	return parsePhone(s, region)
}

// parsePhone is CanonicalPhone by libphonenumber's rules, for a trimmed
// number of at most maxPhoneInput bytes.
func parsePhone(s, region string) (string, error) {
	n, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", fmt.Errorf("%q is not a valid phone number", s)
	}
	if n.GetExtension() != "" {
		// A switchboard's extension would let many customers share one number.
		return "", fmt.Errorf("%q has an extension; give the direct number", s)
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// cnMobile is CanonicalPhone's short cut for what most numbers in a
// Chinese customer file are: a mainland mobile number written plainly, 11
// digits (read in region CN) or +86 and 11 digits, maybe grouped by spaces
// or dashes. It gives libphonenumber's answer without its parse (regexes:
// ~20 µs a number, most of an import's CPU); ok is false for anything else,
// which the library reads. The ranges are the library's CN mobile pattern,
// 1740[0-5]\d{6}|1(?:[38]\d|4[57]|[59][0-35-9]|6[25-7]|7[0-35-8])\d{8}: no
// other CN pattern has 11 digits starting with 1, and none of the prefixes
// the library strips first (0, 00, 1[12]xx, 179xx) is a mobile range.
// TestCNMobile holds it to the library for every 5-digit prefix, and
// FuzzCNMobile for anything typed.
func cnMobile(s, region string) (string, bool) {
	var buf [14]byte
	b := append(buf[:0], "+86"...)
	i := 0
	if len(s) >= 3 && s[:3] == "+86" {
		i = 3
	} else if region != "CN" {
		return "", false
	}
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if len(b) == len(buf) {
				return "", false
			}
			b = append(b, c)
		case c == ' ' || c == '-':
		default:
			return "", false
		}
	}
	if len(b) != len(buf) || !cnMobileRange(b[3:]) {
		return "", false
	}
	return string(b), true
}

// cnMobileRange reports whether the 11 digits d are in a CN mobile range.
func cnMobileRange(d []byte) bool {
	if d[0] != '1' {
		return false
	}
	c := d[2]
	switch d[1] {
	case '3', '8':
		return true
	case '4':
		return c == '5' || c == '7'
	case '5', '9':
		return c != '4'
	case '6':
		return c == '2' || (c >= '5' && c <= '7')
	case '7':
		return c != '4' && c != '9' || c == '4' && d[3] == '0' && d[4] <= '5'
	}
	return false
}

// CanonicalPhone is CanonicalPhone in the store's region.
func (s *Store) CanonicalPhone(raw string) (string, error) {
	return CanonicalPhone(raw, s.phoneRegion)
}

// MaskPhone shows a canonical number the way a code message may name it:
// its national number with the middle hidden, 138****8000.
func MaskPhone(canonical string) string {
	nsn := strings.TrimPrefix(canonical, "+")
	if n, err := phonenumbers.Parse(canonical, ""); err == nil {
		nsn = phonenumbers.GetNationalSignificantNumber(n)
	}
	head, tail := 3, 4
	switch {
	case len(nsn) < 6:
		head, tail = 0, min(2, len(nsn))
	case len(nsn) < 9:
		head = 0
	}
	return nsn[:head] + strings.Repeat("*", len(nsn)-head-tail) + nsn[len(nsn)-tail:]
}

// phonePrefixes are the stored phone prefixes a search term (digits only,
// maybe with a leading +) can match: as typed with a + and, without one,
// after the region's country code.
func (s *Store) phonePrefixes(q string) []string {
	digits := strings.TrimPrefix(q, "+")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return nil
	}
	if strings.HasPrefix(q, "+") {
		return []string{q}
	}
	out := []string{"+" + digits}
	if cc := phonenumbers.GetCountryCodeForRegion(s.phoneRegion); cc != 0 {
		out = append(out, fmt.Sprintf("+%d%s", cc, strings.TrimPrefix(digits, "0")))
	}
	return out
}

// phoneRegionSetting carries the store's phone region into migration steps
// (gorm statement settings: a step gets only the database handle).
const phoneRegionSetting = "rapport:phone_region"

// phoneKeyBatch is how many customers one step of phoneKeys reads and
// updates (one UPDATE ... CASE statement).
const phoneKeyBatch = 500

// reportPhoneKeys is the kv entry where phoneKeys leaves its report.
const reportPhoneKeys = "report:phone_keys"

// PhoneKeyReport is what the migration to canonical phones found: numbers
// it could not read (left as they were, not on record) and customers whose
// number an older customer already had on record (their phone stays, not
// on record, and a ClaimDuplicate claim asks staff to decide). Samples are
// capped; the counts are not.
type PhoneKeyReport struct {
	At         time.Time        `json:"at"`
	Checked    int              `json:"checked"`
	Keyed      int              `json:"keyed"`
	Duplicates int              `json:"duplicates"`
	Invalid    int              `json:"invalid"`
	Samples    []PhoneKeySample `json:"samples"`
}

// PhoneKeySample is one customer the migration could not put on record.
type PhoneKeySample struct {
	CustomerID int64  `json:"customer_id"`
	Phone      string `json:"phone"`
	// KeptBy is the older customer that has the number on record; 0 for
	// an unreadable number.
	KeptBy int64 `json:"kept_by,omitempty"`
}

const maxPhoneKeySamples = 100

// phoneKeys is the migration to canonical phones: every stored phone is
// rewritten in E.164 and put on record (PhoneKey), oldest customer first.
// Customers whose canonical phone an older one already has are not merged
// — that needs proof — they keep the phone unkeyed and get a ClaimDuplicate
// claim for staff. Unreadable numbers are left as they are. It reads in
// batches and is safe to run again.
func phoneKeys(tx *gorm.DB) error {
	region := DefaultPhoneRegion
	if v, ok := tx.Get(phoneRegionSetting); ok {
		region = v.(string)
	}
	if err := tx.AutoMigrate(&Customer{}, &PhoneClaim{}, &CustomerMerge{}); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	rep := PhoneKeyReport{At: now, Samples: []PhoneKeySample{}}
	sample := func(x PhoneKeySample) {
		if len(rep.Samples) < maxPhoneKeySamples {
			rep.Samples = append(rep.Samples, x)
		}
	}
	var last int64
	for {
		var rows []struct {
			ID    int64
			Phone string
		}
		if err := tx.Model(&Customer{}).Select("id", "phone").Where("id > ? AND phone <> '' AND phone_key IS NULL", last).
			Order("id").Limit(phoneKeyBatch).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			break
		}
		last = rows[len(rows)-1].ID
		canon := make(map[int64]string, len(rows))
		var phones []string
		for _, r := range rows {
			if p, err := CanonicalPhone(r.Phone, region); err == nil && p != "" {
				canon[r.ID] = p
				phones = append(phones, p)
			}
		}
		holder := map[string]int64{}
		if len(phones) > 0 {
			var held []struct {
				ID       int64
				PhoneKey string
			}
			if err := tx.Model(&Customer{}).Select("id", "phone_key").Where("phone_key IN ?", phones).Scan(&held).Error; err != nil {
				return err
			}
			for _, h := range held {
				holder[h.PhoneKey] = h.ID
			}
		}
		var setPhone, setKey []any
		var ids []int64
		var dups []PhoneClaim
		for _, r := range rows {
			rep.Checked++
			p, ok := canon[r.ID]
			if !ok {
				rep.Invalid++
				sample(PhoneKeySample{CustomerID: r.ID, Phone: r.Phone})
				continue
			}
			ids = append(ids, r.ID)
			setPhone = append(setPhone, r.ID, p)
			if h, taken := holder[p]; taken {
				rep.Duplicates++
				sample(PhoneKeySample{CustomerID: r.ID, Phone: p, KeptBy: h})
				dups = append(dups, PhoneClaim{ClaimantID: r.ID, TargetID: h, Phone: p, Method: ClaimDuplicate, Status: ClaimPending, CreatedAt: now, UpdatedAt: now})
				continue
			}
			holder[p] = r.ID
			setKey = append(setKey, r.ID, p)
			rep.Keyed++
		}
		if len(ids) > 0 {
			sql := "UPDATE customers SET phone = CASE id" + strings.Repeat(" WHEN ? THEN ?", len(setPhone)/2) + " END"
			args := slices.Clone(setPhone)
			if len(setKey) > 0 {
				sql += ", phone_key = CASE id" + strings.Repeat(" WHEN ? THEN ?", len(setKey)/2) + " ELSE phone_key END"
				args = append(args, setKey...)
			}
			if err := tx.Exec(sql+" WHERE id IN ?", append(args, ids)...).Error; err != nil {
				return err
			}
		}
		if err := addDuplicateClaims(tx, dups); err != nil {
			return err
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	return tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"value", "updated_at"}),
	}).Create(&kvEntry{Name: reportPhoneKeys, Value: string(b), UpdatedAt: now}).Error
}

// addDuplicateClaims records the duplicates the migration found, once
// however often it runs.
func addDuplicateClaims(tx *gorm.DB, dups []PhoneClaim) error {
	if len(dups) == 0 {
		return nil
	}
	ids := make([]int64, len(dups))
	for i, d := range dups {
		ids[i] = d.ClaimantID
	}
	var have []int64
	if err := tx.Model(&PhoneClaim{}).Where("method = ? AND claimant_id IN ?", ClaimDuplicate, ids).Pluck("claimant_id", &have).Error; err != nil {
		return err
	}
	fresh := slices.DeleteFunc(dups, func(d PhoneClaim) bool { return slices.Contains(have, d.ClaimantID) })
	if len(fresh) == 0 {
		return nil
	}
	return tx.Create(&fresh).Error
}

// PhoneKeyReport returns what the migration to canonical phones found, or
// nil on a database it never had to convert.
func (s *Store) PhoneKeyReport(ctx context.Context) (*PhoneKeyReport, error) {
	v, ok, err := s.KVGet(ctx, reportPhoneKeys)
	if err != nil || !ok {
		return nil, err
	}
	var rep PhoneKeyReport
	if err := json.Unmarshal([]byte(v), &rep); err != nil {
		return nil, fmt.Errorf("phone key report: %w", err)
	}
	return &rep, nil
}
