package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// APIToken is a bearer token for the admin API. Only its SHA-256 is stored:
// tokens are 256-bit random, so a fast hash is enough and lookups stay O(1).
type APIToken struct {
	ID         int64      `gorm:"primaryKey" json:"id"`
	Name       string     `gorm:"size:128;not null" json:"name"`
	Role       Role       `gorm:"size:16;not null" json:"role"`
	StaffID    *int64     `json:"staff_id,omitempty"`
	Hash       string     `gorm:"size:64;not null;uniqueIndex" json:"-"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
}

// Principal is who is calling the API.
type Principal struct {
	TokenID int64
	Role    Role
	StaffID *int64
}

// TokenInput creates a token.
type TokenInput struct {
	Name    string `json:"name"`
	Role    Role   `json:"role"`
	StaffID *int64 `json:"staff_id"`
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
	if in.StaffID != nil {
		if _, err := s.StaffByID(ctx, *in.StaffID); err != nil {
			if IsCode(err, ENOTFOUND) {
				return "", nil, Invalid("staff_id", "staff %d does not exist", *in.StaffID)
			}
			return "", nil, err
		}
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("create token: %w", err)
	}
	plain := "rpt_" + base64.RawURLEncoding.EncodeToString(b[:])
	t := &APIToken{Name: in.Name, Role: in.Role, StaffID: in.StaffID, Hash: hashToken(plain)}
	if err := s.db.WithContext(ctx).Create(t).Error; err != nil {
		return "", nil, fmt.Errorf("create token: %w", err)
	}
	return plain, t, nil
}

// EnsureToken registers a known plaintext token (the config's bootstrap
// token) if it is not there yet.
func (s *Store) EnsureToken(ctx context.Context, name, plain string, role Role) error {
	if len(plain) < 16 {
		return Invalid("admin.bootstrap_token", "must be at least 16 characters")
	}
	t := &APIToken{Name: name, Role: role, Hash: hashToken(plain)}
	err := s.db.WithContext(ctx).Create(t).Error
	if err != nil && !isDuplicate(err) {
		return fmt.Errorf("ensure token: %w", err)
	}
	return nil
}

// Authenticate resolves a bearer token.
func (s *Store) Authenticate(ctx context.Context, plain string) (*Principal, error) {
	if plain == "" {
		return nil, Errorf(EUNAUTHORIZED, "missing bearer token")
	}
	var t APIToken
	if err := s.db.WithContext(ctx).Where("hash = ?", hashToken(plain)).Take(&t).Error; err != nil {
		if IsCode(notFound(err, "token"), ENOTFOUND) {
			return nil, Errorf(EUNAUTHORIZED, "invalid bearer token")
		}
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	return &Principal{TokenID: t.ID, Role: t.Role, StaffID: t.StaffID}, nil
}
