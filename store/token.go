package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// APIToken is a bearer token for the admin API. Only its SHA-256 is stored:
// tokens are 256-bit random, so a fast hash is enough and lookups stay O(1).
// Revocation and expiry are columns, not process state, so every replica
// refuses a revoked token at once.
type APIToken struct {
	ID      int64  `gorm:"primaryKey" json:"id"`
	Name    string `gorm:"size:128;not null" json:"name"`
	Role    Role   `gorm:"size:16;not null" json:"role"`
	StaffID *int64 `json:"staff_id"`
	Hash    string `gorm:"size:64;not null;uniqueIndex" json:"-"`
	// Bootstrap marks the token made from admin.bootstrap_token: a new
	// configured value revokes the previous one.
	Bootstrap  bool       `gorm:"not null;default:false" json:"bootstrap"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	CreatedAt  time.Time  `json:"created_at"`
}

// Principal is who is calling the API.
type Principal struct {
	TokenID int64
	// SessionID is set instead of TokenID for a staff member signed in
	// to the console (AuthenticateSession).
	SessionID int64
	Role      Role
	StaffID   *int64
}

// Token limits.
const (
	// MaxTokenTTLDays bounds ttl_days (ten years).
	MaxTokenTTLDays = 3650
	// lastUsedEvery is how stale last_used_at may get: refreshing it on
	// every request would add a write to every API call.
	lastUsedEvery = time.Minute
)

// TokenInput creates a token. ExpiresAt and TTLDays are optional and
// exclusive; without either the token does not expire.
type TokenInput struct {
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	StaffID   *int64     `json:"staff_id"`
	ExpiresAt *time.Time `json:"expires_at"`
	TTLDays   *int       `json:"ttl_days"`
}

// UnmarshalJSON reads expires_at strictly as RFC 3339, so a bad one is a
// 422 naming the field rather than a parse error.
func (in *TokenInput) UnmarshalJSON(b []byte) error {
	type fields TokenInput
	aux := struct {
		*fields
		ExpiresAt moment `json:"expires_at"`
	}{fields: (*fields)(in), ExpiresAt: moment{field: "expires_at"}}
	if err := strictUnmarshal(b, &aux); err != nil {
		return err
	}
	in.ExpiresAt = aux.ExpiresAt.t
	return nil
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// CreateToken makes a new random token and returns its plaintext once.
func (s *Store) CreateToken(ctx context.Context, in TokenInput) (string, *APIToken, error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 128 {
		return "", nil, Invalid("name", "must be 1-128 characters")
	}
	if !ValidRole(in.Role) {
		return "", nil, Invalid("role", "%q is not admin, manager or agent", in.Role)
	}
	now := s.Now().Truncate(time.Millisecond)
	var expires *time.Time
	switch {
	case in.ExpiresAt != nil && in.TTLDays != nil:
		return "", nil, Invalid("ttl_days", "give expires_at or ttl_days, not both")
	case in.ExpiresAt != nil:
		if err := checkTime("expires_at", *in.ExpiresAt); err != nil {
			return "", nil, err
		}
		if !in.ExpiresAt.After(now) {
			return "", nil, Invalid("expires_at", "must be in the future")
		}
		t := in.ExpiresAt.UTC().Truncate(time.Millisecond)
		expires = &t
	case in.TTLDays != nil:
		if *in.TTLDays < 1 || *in.TTLDays > MaxTokenTTLDays {
			return "", nil, Invalid("ttl_days", "must be 1-%d", MaxTokenTTLDays)
		}
		t := now.AddDate(0, 0, *in.TTLDays)
		expires = &t
	}
	if in.StaffID != nil {
		st, err := s.StaffByID(ctx, *in.StaffID)
		if IsCode(err, ENOTFOUND) {
			return "", nil, Invalid("staff_id", "staff %d does not exist", *in.StaffID)
		} else if err != nil {
			return "", nil, err
		}
		if !st.Active {
			return "", nil, Invalid("staff_id", "staff %d is not active", *in.StaffID)
		}
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("create token: %w", err)
	}
	plain := "rpt_" + base64.RawURLEncoding.EncodeToString(b[:])
	t := &APIToken{Name: in.Name, Role: in.Role, StaffID: in.StaffID, Hash: hashToken(plain), ExpiresAt: expires, CreatedAt: now}
	if err := s.db.WithContext(ctx).Create(t).Error; err != nil {
		return "", nil, fmt.Errorf("create token: %w", err)
	}
	return plain, t, nil
}

// EnsureToken makes plain (the config's admin.bootstrap_token) the one
// bootstrap token: it is registered if new, and every other bootstrap token
// is revoked, so rotating the configured value retires the old one. A
// bootstrap token an admin revoked stays revoked; configure a new value.
func (s *Store) EnsureToken(ctx context.Context, name, plain string, role Role) error {
	if len(plain) < 16 {
		return Invalid("admin.bootstrap_token", "must be at least 16 characters")
	}
	hash := hashToken(plain)
	now := s.Now().Truncate(time.Millisecond)
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var t APIToken
		err := tx.Where("hash = ?", hash).Take(&t).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			t = APIToken{Name: name, Role: role, Hash: hash, Bootstrap: true, CreatedAt: now}
			if err := tx.Create(&t).Error; err != nil {
				return err // a duplicate: another replica starting; it does the same
			}
		case err != nil:
			return err
		case !t.Bootstrap:
			if err := tx.Model(&APIToken{}).Where("id = ?", t.ID).Update("bootstrap", true).Error; err != nil {
				return err
			}
		}
		return tx.Model(&APIToken{}).Where("bootstrap = ? AND id <> ? AND revoked_at IS NULL", true, t.ID).
			Update("revoked_at", now).Error
	})
	if err != nil && !isDuplicate(err) {
		return fmt.Errorf("ensure token: %w", err)
	}
	return nil
}

// Authenticate resolves a bearer token: unknown, revoked and expired
// tokens, and tokens of deactivated staff, are refused. One query reads the
// token and its staff member's active flag and role; a staff member's token
// never carries more than their current role.
func (s *Store) Authenticate(ctx context.Context, plain string) (*Principal, error) {
	if plain == "" {
		return nil, Errorf(EUNAUTHORIZED, "missing bearer token")
	}
	var row struct {
		APIToken
		StaffActive *bool
		StaffRole   *Role
	}
	// A prepared statement: every API request runs this one query.
	err := s.scan.WithContext(ctx).Model(&APIToken{}).
		Select("api_tokens.*, staff.active AS staff_active, staff.role AS staff_role").
		Joins("LEFT JOIN staff ON staff.id = api_tokens.staff_id").
		Where("api_tokens.hash = ?", hashToken(plain)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, Errorf(EUNAUTHORIZED, "invalid bearer token")
	} else if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	now := s.Now()
	t := row.APIToken
	switch {
	case t.RevokedAt != nil:
		return nil, Errorf(EUNAUTHORIZED, "token revoked")
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return nil, Errorf(EUNAUTHORIZED, "token expired")
	case t.StaffID != nil && (row.StaffActive == nil || !*row.StaffActive):
		return nil, Errorf(EUNAUTHORIZED, "token of a deactivated staff member")
	}
	role := t.Role
	if row.StaffRole != nil && roleRank(*row.StaffRole) < roleRank(role) {
		role = *row.StaffRole
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= lastUsedEvery {
		// Conditional, so concurrent requests on any replica write once a
		// minute at most. Bookkeeping: a failure does not refuse the caller.
		cut := now.Add(-lastUsedEvery)
		s.db.WithContext(ctx).Model(&APIToken{}).Where("id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", t.ID, cut).
			Update("last_used_at", now.Truncate(time.Millisecond))
	}
	return &Principal{TokenID: t.ID, Role: role, StaffID: t.StaffID}, nil
}

// roleRank orders roles by power; unknown roles rank lowest.
func roleRank(r Role) int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleManager:
		return 2
	case RoleAgent:
		return 1
	}
	return 0
}

// ListTokens returns tokens by id, a page at a time, revoked and expired
// ones included (their times say so). Never their secret.
func (s *Store) ListTokens(ctx context.Context, p Page) ([]*APIToken, string, error) {
	limit, after, err := p.parse()
	if err != nil {
		return nil, "", err
	}
	ts, next, err := pageOf(s.db.WithContext(ctx).Where("id > ?", after).Order("id"), limit, func(r *APIToken) int64 { return r.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list tokens: %w", err)
	}
	return ts, next, nil
}

// RevokeToken revokes a token; revoking a revoked token changes nothing.
func (s *Store) RevokeToken(ctx context.Context, id int64) error {
	db := s.db.WithContext(ctx)
	res := db.Model(&APIToken{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", s.Now().Truncate(time.Millisecond))
	if res.Error != nil {
		return fmt.Errorf("revoke token: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		var n int64
		if err := db.Model(&APIToken{}).Where("id = ?", id).Count(&n).Error; err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		if n == 0 {
			return Errorf(ENOTFOUND, "token %d not found", id)
		}
	}
	return nil
}
