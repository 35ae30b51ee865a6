package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Tier is the ABC customer tier.
type Tier string

const (
	TierA Tier = "A"
	TierB Tier = "B"
	TierC Tier = "C"
)

// Stage is the lifecycle stage.
type Stage string

const (
	StagePotential Stage = "potential"
	StageNew       Stage = "new"
	StageActive    Stage = "active"
	StageAtRisk    Stage = "at-risk"
	StageChurned   Stage = "churned"
)

// Locales a customer can have; templates exist in each.
const (
	LocaleZH = "zh-CN"
	LocaleEN = "en"
)

// Customer is one person, however many chat identities they use.
type Customer struct {
	ID int64 `gorm:"primaryKey" json:"id"`
	// Name, Phone and LastInboundAt have no index (migration 0032): the
	// list's search (name LIKE '%q%' OR phone ...) cannot use one, a number
	// on record is found by PhoneKey, and nothing searches by the last.
	Name string `gorm:"size:128;not null;default:''" json:"name"`
	// Phone is canonical E.164 (+8613800138000), or "" when unknown.
	Phone string `gorm:"size:32;not null;default:''" json:"phone"`
	// PhoneKey is Phone while the phone is on record for this customer
	// (entered by staff, the API or an import, or proved in chat) and NULL
	// while it is merely claimed in chat. It is unique: one customer per
	// number on record, and an unproved claim neither blocks a number nor
	// is found by it.
	PhoneKey *string  `gorm:"size:32;uniqueIndex" json:"-"`
	Email    string   `gorm:"size:254;not null;default:''" json:"email"`
	Birthday Birthday `gorm:"embedded" json:"birthday"`
	Gender   string   `gorm:"size:16;not null;default:''" json:"gender"`
	Company  string   `gorm:"size:128;not null;default:''" json:"company"`
	Source   string   `gorm:"size:128;not null;default:''" json:"source"`
	Tier     Tier     `gorm:"size:1;not null;default:'C';index:ix_customers_tier_city,priority:1" json:"tier"`
	Stage    Stage    `gorm:"size:16;not null;default:'potential';index" json:"stage"`
	// Segment counts read (tier, city, opt_out) and (opt_out) alone,
	// without the rows: opted-out customers are never members.
	OptOut        bool       `gorm:"not null;default:false;index:ix_customers_tier_city,priority:3;index:ix_customers_opt_out" json:"opt_out"`
	OwnerStaffID  *int64     `gorm:"index" json:"owner_staff_id"`
	Points        int64      `gorm:"not null;default:0" json:"points"`
	Locale        string     `gorm:"size:16;not null;default:'zh-CN'" json:"locale"`
	ExternalRef   *string    `gorm:"size:64;uniqueIndex" json:"external_ref,omitempty"`
	LastInboundAt *time.Time `json:"last_inbound_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	// City and Region are where the customer is (segments by place).
	// (tier, city, opt_out) serves segments by both, the common case.
	City   string `gorm:"size:64;not null;default:'';index;index:ix_customers_tier_city,priority:2" json:"city"`
	Region string `gorm:"size:64;not null;default:''" json:"region"`
	// District is the part of the city (segments by place).
	District string `gorm:"size:64;not null;default:''" json:"district"`
	// OptOutAt is when the customer last opted out (campaign results count
	// the opt-outs a campaign caused).
	OptOutAt *time.Time `json:"opt_out_at,omitempty"`
	// A pinned tier or stage was set by hand (when, by which staff member:
	// nil for a token of no one) and every recompute keeps it.
	TierPinnedAt  *time.Time `json:"tier_pinned_at,omitempty"`
	TierPinnedBy  *int64     `json:"tier_pinned_by,omitempty"`
	StagePinnedAt *time.Time `json:"stage_pinned_at,omitempty"`
	StagePinnedBy *int64     `json:"stage_pinned_by,omitempty"`

	// PhoneVerified reports PhoneKey set: the phone is on record, not just
	// claimed.
	PhoneVerified bool       `gorm:"-" json:"phone_verified"`
	Tags          []string   `gorm:"-" json:"tags"`
	Identities    []Identity `gorm:"-" json:"identities"`
	TierPinned    bool       `gorm:"-" json:"tier_pinned"`
	StagePinned   bool       `gorm:"-" json:"stage_pinned"`
	// The figures (customer_stats), as the API shows them.
	Stats        *Stats   `gorm:"-" json:"stats"`
	RFM          *RFM     `gorm:"-" json:"rfm"`
	CLV          Money    `gorm:"-" json:"clv"`
	ChurnRisk    int      `gorm:"-" json:"churn_risk"`
	ChurnReasons []string `gorm:"-" json:"churn_reasons"`
}

// Stats are a customer's figures in the API: orders and spend in the
// window (default 12 months) and over their lifetime, and what they did
// last.
type Stats struct {
	Orders              int        `json:"orders"`
	Spend               Money      `json:"spend"`
	PreviousOrders      int        `json:"previous_orders"`
	LifetimeOrders      int        `json:"lifetime_orders"`
	LifetimeSpend       Money      `json:"lifetime_spend"`
	FirstOrderAt        *time.Time `json:"first_order_at"`
	LastOrderAt         *time.Time `json:"last_order_at"`
	AvgOrderValue       Money      `json:"avg_order_value"`
	TypicalIntervalDays *float64   `json:"typical_interval_days"`
	LastInboundAt       *time.Time `json:"last_inbound_at"`
	LastStaffContactAt  *time.Time `json:"last_staff_contact_at"`
	LastScore           *int       `json:"last_score"`
	OpenComplaints      int        `json:"open_complaints"`
	WonBack             int        `json:"won_back"`
	ComputedAt          *time.Time `json:"computed_at"`
}

// RFM is a customer's recency, frequency and monetary scores (1-5) and
// their segment (RFMSegments).
type RFM struct {
	R       int    `json:"r"`
	F       int    `json:"f"`
	M       int    `json:"m"`
	Segment string `json:"segment"`
}

// RFMSegment names one of the eight RFM segments.
type RFMSegment struct{ Key, Chinese, English string }

// RFMSegments are the segments, from R, F and M each above (high) or not
// above (low) its median: important_* have high M, *_value high R and F,
// *_keep low R and high F, *_develop high R and low F, *_retain low R and F.
var RFMSegments = []RFMSegment{
	{"important_value", "重要价值客户", "Important value"},
	{"important_keep", "重要保持客户", "Important to keep"},
	{"important_develop", "重要发展客户", "Important to develop"},
	{"important_retain", "重要挽留客户", "Important to retain"},
	{"general_value", "一般价值客户", "General value"},
	{"general_keep", "一般保持客户", "General to keep"},
	{"general_develop", "一般发展客户", "General to develop"},
	{"general_retain", "一般挽留客户", "General to retain"},
}

// ValidRFMSegment reports whether key is an RFM segment key.
func ValidRFMSegment(key string) bool {
	return slices.ContainsFunc(RFMSegments, func(s RFMSegment) bool { return s.Key == key })
}

// setStats shows st (nil: none yet) as the customer's figures.
func (c *Customer) setStats(st *CustomerStats) {
	c.TierPinned, c.StagePinned = c.TierPinnedAt != nil, c.StagePinnedAt != nil
	if st == nil {
		st = &CustomerStats{}
	}
	c.Stats = &Stats{
		Orders: st.Orders, Spend: st.Spend, PreviousOrders: st.PrevOrders, LifetimeOrders: st.LifetimeOrders,
		LifetimeSpend: st.LifetimeSpend, FirstOrderAt: st.FirstOrderAt, LastOrderAt: st.LastOrderAt,
		AvgOrderValue: st.AvgOrder, LastInboundAt: c.LastInboundAt, LastStaffContactAt: st.LastStaffContactAt,
		LastScore: st.LastScore, OpenComplaints: st.OpenComplaints, WonBack: st.WonBack,
	}
	if st.IntervalSecs > 0 {
		d := math.Round(float64(st.IntervalSecs)/86400*10) / 10
		c.Stats.TypicalIntervalDays = &d
	}
	if st.FiguresAt.Unix() > 0 {
		at := st.FiguresAt
		c.Stats.ComputedAt = &at
	}
	c.RFM = nil
	if st.R > 0 {
		c.RFM = &RFM{R: st.R, F: st.F, M: st.M, Segment: st.Segment}
	}
	c.CLV, c.ChurnRisk, c.ChurnReasons = st.CLV, st.ChurnRisk, st.Reasons()
}

// customerTag is one tag on one customer; a table of its own so that
// segments by tag use an index.
type customerTag struct {
	CustomerID int64  `gorm:"primaryKey;autoIncrement:false"`
	Tag        string `gorm:"primaryKey;size:64;index"`
}

func (customerTag) TableName() string { return "customer_tags" }

// CustomerInput is what a caller may set on a customer. Nil pointers are
// left alone (on update) or defaulted (on create).
type CustomerInput struct {
	Name         *string    `json:"name"`
	Phone        *string    `json:"phone"`
	Email        *string    `json:"email"`
	Birthday     *string    `json:"birthday"`
	Gender       *string    `json:"gender"`
	Company      *string    `json:"company"`
	Source       *string    `json:"source"`
	Tier         Pin[Tier]  `json:"tier"`
	Stage        Pin[Stage] `json:"stage"`
	OptOut       *bool      `json:"opt_out"`
	OwnerStaffID *int64     `json:"owner_staff_id"` // 0 clears
	Points       *int64     `json:"points"`
	Locale       *string    `json:"locale"`
	Tags         *[]string  `json:"tags"`
	ExternalRef  *string    `json:"external_ref"`
	City         *string    `json:"city"`
	Region       *string    `json:"region"`
	District     *string    `json:"district"`
	// Identities are attached on create only.
	Identities []IdentityRef `json:"identities"`
	// By is who pins a tier or stage (the API caller); nil: no one.
	By *Actor `json:"-"`
}

// apply validates in and copies it onto c. Every field is checked before any
// is set, so a bad field leaves c untouched. Its callers are staff, the API
// and imports, so a phone it sets is on record (keyed); phones from chat go
// through ClaimPhone and ProvePhone. region reads numbers without a
// country code.
func (in CustomerInput) apply(c *Customer, now time.Time, region string) (tags []string, setTags bool, err error) {
	next := *c
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		if utf8.RuneCountInString(n) > 128 {
			return nil, false, Invalid("name", "longer than 128 characters")
		}
		next.Name = n
	}
	if in.Phone != nil {
		p, err := CanonicalPhone(*in.Phone, region)
		if err != nil {
			return nil, false, Invalid("phone", "%v", err)
		}
		next.Phone, next.PhoneKey = p, nil
		if p != "" {
			next.PhoneKey = &p
		}
	}
	if in.Email != nil {
		e := strings.ToLower(strings.TrimSpace(*in.Email))
		if e != "" {
			a, err := mail.ParseAddress(e)
			if err != nil || a.Address != e || len(e) > 254 {
				return nil, false, Invalid("email", "%q is not an email address", *in.Email)
			}
		}
		next.Email = e
	}
	if in.Birthday != nil {
		b, err := ParseBirthday(*in.Birthday, now)
		if err != nil {
			return nil, false, Invalid("birthday", "%v", err)
		}
		next.Birthday = b
	}
	if in.Gender != nil {
		g := strings.ToLower(strings.TrimSpace(*in.Gender))
		if !slices.Contains([]string{"", "male", "female", "other"}, g) {
			return nil, false, Invalid("gender", "%q is not male, female or other", *in.Gender)
		}
		next.Gender = g
	}
	if in.Company != nil {
		v := strings.TrimSpace(*in.Company)
		if utf8.RuneCountInString(v) > 128 {
			return nil, false, Invalid("company", "longer than 128 characters")
		}
		next.Company = v
	}
	if in.Source != nil {
		v := strings.TrimSpace(*in.Source)
		if v == "" || len(v) > 128 {
			return nil, false, Invalid("source", "must be 1-128 characters")
		}
		next.Source = v
	}
	// A tier or stage is pinned (or unpinned) by applyPins, after the
	// other fields are saved; here it is only checked.
	if err := in.Tier.normalize(FieldTier); err != nil {
		return nil, false, err
	}
	if err := in.Stage.normalize(FieldStage); err != nil {
		return nil, false, err
	}
	for _, f := range []struct {
		key string
		v   *string
		dst *string
	}{{"city", in.City, &next.City}, {"region", in.Region, &next.Region}, {"district", in.District, &next.District}} {
		if f.v == nil {
			continue
		}
		v := strings.TrimSpace(*f.v)
		if utf8.RuneCountInString(v) > 64 {
			return nil, false, Invalid(f.key, "longer than 64 characters")
		}
		*f.dst = v
	}
	if in.OptOut != nil {
		if *in.OptOut && !c.OptOut {
			t := now.UTC().Truncate(time.Millisecond)
			next.OptOutAt = &t
		}
		next.OptOut = *in.OptOut
	}
	if in.OwnerStaffID != nil {
		if *in.OwnerStaffID < 0 {
			return nil, false, Invalid("owner_staff_id", "must be a staff id")
		} else if *in.OwnerStaffID == 0 {
			next.OwnerStaffID = nil
		} else {
			id := *in.OwnerStaffID
			next.OwnerStaffID = &id
		}
	}
	if in.Points != nil {
		// The balance is the ledger's (points.go): only entries move it.
		return nil, false, Invalid("points", "read-only: the points ledger's balance; POST /customers/{id}/points/adjustments changes it")
	}
	if in.Locale != nil {
		l := normalizeLocale(*in.Locale)
		if l == "" {
			return nil, false, Invalid("locale", "%q is not zh-CN or en", *in.Locale)
		}
		next.Locale = l
	}
	if in.ExternalRef != nil {
		v := strings.TrimSpace(*in.ExternalRef)
		if len(v) > 64 {
			return nil, false, Invalid("external_ref", "longer than 64 characters")
		}
		if v == "" {
			next.ExternalRef = nil
		} else {
			next.ExternalRef = &v
		}
	}
	if in.Tags != nil {
		tags, err = normalizeTags(*in.Tags)
		if err != nil {
			return nil, false, err
		}
		setTags = true
	}
	*c = next
	return tags, setTags, nil
}

// by is the staff member who pins, if any.
func (in CustomerInput) by() *int64 {
	if in.By == nil {
		return nil
	}
	return in.By.StaffID
}

// ValidStage reports whether s is a lifecycle stage.
func ValidStage(s Stage) bool {
	return slices.Contains([]Stage{StagePotential, StageNew, StageActive, StageAtRisk, StageChurned}, s)
}

func normalizeLocale(s string) string {
	switch strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", "-")) {
	case "zh", "zh-cn", "zh-hans", "zh-hans-cn":
		return LocaleZH
	case "en", "en-us", "en-gb":
		return LocaleEN
	}
	return ""
}

func normalizeTags(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, t := range in {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if utf8.RuneCountInString(t) > 64 {
			return nil, Invalid("tags", "tag %q is longer than 64 characters", t)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) > 50 {
		return nil, Invalid("tags", "at most 50 tags")
	}
	return out, nil
}

// CreateCustomer validates and inserts a customer. Source defaults to "api".
func (s *Store) CreateCustomer(ctx context.Context, in CustomerInput) (*Customer, error) {
	c := &Customer{Tier: TierC, Stage: StagePotential, Locale: LocaleZH, Source: "api"}
	tags, _, err := in.apply(c, s.Now(), s.phoneRegion)
	if err != nil {
		return nil, err
	}
	for _, r := range in.Identities {
		if err := r.validate(); err != nil {
			return nil, err
		}
	}
	if c.Name == "" && c.Phone == "" {
		return nil, Invalid("name", "a customer needs a name or a phone")
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if err := checkOwner(tx, c.OwnerStaffID); err != nil {
			return err
		}
		if err := checkPhoneFree(tx, c); err != nil {
			return err
		}
		if err := tx.Create(c).Error; err != nil {
			return customerConflict(tx, c, err)
		}
		if err := insertIdentities(tx, c.ID, in.Identities); err != nil {
			return err
		}
		if err := setTags(tx, c.ID, tags); err != nil {
			return err
		}
		return s.applyPins(tx, c.ID, in.Tier, in.Stage, in.by())
	})
	if err != nil {
		return nil, fmt.Errorf("create customer: %w", err)
	}
	return s.CustomerByID(ctx, c.ID)
}

// UpdateCustomer applies a partial update.
func (s *Store) UpdateCustomer(ctx context.Context, id int64, in CustomerInput) (*Customer, error) {
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if len(in.Identities) > 0 {
			return Invalid("identities", "identities are set on create or by chat, not by update")
		}
		var c Customer
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).First(&c, id).Error; err != nil {
			return notFound(err, "customer %d", id)
		}
		tags, set, err := in.apply(&c, s.Now(), s.phoneRegion)
		if err != nil {
			return err
		}
		if in.OwnerStaffID != nil {
			if err := checkOwner(tx, c.OwnerStaffID); err != nil {
				return err
			}
		}
		if err := checkPhoneFree(tx, &c); err != nil {
			return err
		}
		if err := tx.Save(&c).Error; err != nil {
			return customerConflict(tx, &c, err)
		}
		if set {
			if err := setTags(tx, id, tags); err != nil {
				return err
			}
		}
		return s.applyPins(tx, id, in.Tier, in.Stage, in.by())
	})
	if err != nil {
		return nil, fmt.Errorf("update customer: %w", err)
	}
	return s.CustomerByID(ctx, id)
}

// checkPhoneFree refuses a phone on record for another customer (409):
// one customer per number. The unique key is the last word; this names the
// other customer for the caller.
func checkPhoneFree(tx *gorm.DB, c *Customer) error {
	if c.PhoneKey == nil {
		return nil
	}
	var other []int64
	if err := tx.Model(&Customer{}).Where("phone_key = ? AND id <> ?", *c.PhoneKey, c.ID).Limit(1).Pluck("id", &other).Error; err != nil {
		return err
	}
	if len(other) > 0 {
		return phoneTaken(*c.PhoneKey, other[0])
	}
	return nil
}

func phoneTaken(phone string, holder int64) error {
	return &Error{Code: ECONFLICT, Field: "phone", Message: fmt.Sprintf("phone: %s is on record for customer %d", phone, holder)}
}

// customerConflict explains a failed insert or update of c: a unique key
// taken meanwhile (phone or external_ref) is a 409 naming it.
func customerConflict(tx *gorm.DB, c *Customer, err error) error {
	if !isDuplicate(err) {
		return err
	}
	if c.PhoneKey != nil {
		var other []int64
		if tx.Model(&Customer{}).Where("phone_key = ? AND id <> ?", *c.PhoneKey, c.ID).Limit(1).Pluck("id", &other).Error == nil && len(other) > 0 {
			return phoneTaken(*c.PhoneKey, other[0])
		}
	}
	return &Error{Code: ECONFLICT, Field: "external_ref", Message: fmt.Sprintf("a customer with external_ref %q exists", deref(c.ExternalRef))}
}

func checkOwner(tx *gorm.DB, id *int64) error {
	if id == nil {
		return nil
	}
	var n int64
	if err := tx.Model(&Staff{}).Where("id = ?", *id).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return Invalid("owner_staff_id", "staff %d does not exist", *id)
	}
	return nil
}

func setTags(tx *gorm.DB, customerID int64, tags []string) error {
	if tags == nil {
		return nil
	}
	if err := tx.Where("customer_id = ?", customerID).Delete(&customerTag{}).Error; err != nil {
		return err
	}
	if len(tags) == 0 {
		return nil
	}
	rows := make([]customerTag, len(tags))
	for i, t := range tags {
		rows[i] = customerTag{CustomerID: customerID, Tag: t}
	}
	return tx.Create(&rows).Error
}

// CustomerByID loads one customer with tags and identities.
func (s *Store) CustomerByID(ctx context.Context, id int64) (*Customer, error) {
	db := s.db.WithContext(ctx)
	var c Customer
	if err := db.First(&c, id).Error; err != nil {
		return nil, fmt.Errorf("customer: %w", notFound(err, "customer %d", id))
	}
	if err := loadCustomerDetails(db, []*Customer{&c}); err != nil {
		return nil, fmt.Errorf("customer: %w", err)
	}
	return &c, nil
}

func loadCustomerDetails(db *gorm.DB, cs []*Customer) error {
	if len(cs) == 0 {
		return nil
	}
	ids := make([]int64, len(cs))
	byID := make(map[int64]*Customer, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
		byID[c.ID] = c
		c.Tags = []string{}
		c.Identities = []Identity{}
		c.PhoneVerified = c.PhoneKey != nil
	}
	var tags []customerTag
	if err := db.Where("customer_id IN ?", ids).Order("tag").Find(&tags).Error; err != nil {
		return err
	}
	for _, t := range tags {
		byID[t.CustomerID].Tags = append(byID[t.CustomerID].Tags, t.Tag)
	}
	var idents []Identity
	if err := db.Where("customer_id IN ?", ids).Order("id").Find(&idents).Error; err != nil {
		return err
	}
	for _, i := range idents {
		byID[i.CustomerID].Identities = append(byID[i.CustomerID].Identities, i)
	}
	return loadStats(db, cs, byID, ids)
}

// CustomerCard is what a staff member sees about a task's customer.
type CustomerCard struct {
	Customer *Customer
	// Recent are the last messages of the conversation, oldest first.
	Recent []*Message
	// SurveyScore is the latest answered survey score, if any.
	SurveyScore *int
	OpenTasks   int64
}

// CustomerCard loads a customer's card with the last n messages.
func (s *Store) CustomerCard(ctx context.Context, customerID int64, n int) (*CustomerCard, error) {
	c, err := s.CustomerByID(ctx, customerID)
	if err != nil {
		return nil, err
	}
	db := s.db.WithContext(ctx)
	card := &CustomerCard{Customer: c}
	if err := db.Where("customer_id = ? AND staff_id IS NULL", customerID).Order("created_at DESC, id DESC").Limit(n).Find(&card.Recent).Error; err != nil {
		return nil, fmt.Errorf("customer card: %w", err)
	}
	slices.Reverse(card.Recent)
	var sv Survey
	err = db.Where("customer_id = ? AND score IS NOT NULL", customerID).Order("answered_at DESC, id DESC").Take(&sv).Error
	if err == nil {
		card.SurveyScore = sv.Score
	} else if !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("customer card: %w", err)
	}
	if err := db.Model(&Task{}).Where("customer_id = ? AND status = ?", customerID, TaskOpen).Count(&card.OpenTasks).Error; err != nil {
		return nil, fmt.Errorf("customer card: %w", err)
	}
	return card, nil
}
