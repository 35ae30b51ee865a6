package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// authErr is the message Authenticate refuses plain with, "" when it
// accepts it.
func authErr(t *testing.T, s *store.Store, plain string) string {
	t.Helper()
	_, err := s.Authenticate(context.Background(), plain)
	if err == nil {
		return ""
	}
	if !store.IsCode(err, store.EUNAUTHORIZED) {
		t.Fatalf("authenticate: %v", err)
	}
	return store.ErrorMessage(err)
}

// A revoked token is refused at once by every process on the database; a
// list shows it with its times and never its secret.
func TestRevokeTokenEveryReplica(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			cfg := storetest.Config(t, d)
			a, b := storetest.OpenConfig(t, cfg), storetest.OpenConfig(t, cfg)
			plain, tok, err := a.CreateToken(ctx, store.TokenInput{Name: "laptop", Role: store.RoleManager})
			if err != nil {
				t.Fatal(err)
			}
			if msg := authErr(t, b, plain); msg != "" {
				t.Fatalf("fresh token refused: %s", msg)
			}
			if err := a.RevokeToken(ctx, tok.ID); err != nil {
				t.Fatal(err)
			}
			for _, s := range []*store.Store{a, b} {
				if msg := authErr(t, s, plain); msg != "token revoked" {
					t.Errorf("revoked token: %q", msg)
				}
			}
			if err := a.RevokeToken(ctx, tok.ID); err != nil {
				t.Errorf("revoking twice: %v", err)
			}
			if err := a.RevokeToken(ctx, tok.ID+100); !store.IsCode(err, store.ENOTFOUND) {
				t.Errorf("revoking a missing token: %v", err)
			}
			ts, next, err := b.ListTokens(ctx, store.Page{})
			if err != nil || len(ts) != 1 || next != "" {
				t.Fatalf("list: %v %q %v", ts, next, err)
			}
			if ts[0].RevokedAt == nil || ts[0].LastUsedAt == nil || ts[0].Name != "laptop" {
				t.Errorf("listed token: %+v", ts[0])
			}
			js, _ := json.Marshal(ts[0])
			for _, secret := range []string{plain, ts[0].Hash, `"hash"`} {
				if strings.Contains(string(js), secret) {
					t.Errorf("listed token shows its secret: %s", js)
				}
			}
		})
	}
}

func TestListTokensPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, n := range []string{"a", "b", "c"} {
			if _, _, err := s.CreateToken(ctx, store.TokenInput{Name: n, Role: store.RoleAgent}); err != nil {
				t.Fatal(err)
			}
		}
		var names []string
		p := store.Page{Limit: 2}
		for {
			ts, next, err := s.ListTokens(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range ts {
				names = append(names, tk.Name)
			}
			if next == "" {
				break
			}
			p.Cursor = next
		}
		if strings.Join(names, ",") != "a,b,c" {
			t.Errorf("pages: %v", names)
		}
	})
}

func TestTokenExpiry(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			clock := storetest.NewClock(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC))
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			byTTL, _, err := s.CreateToken(ctx, store.TokenInput{Name: "day", Role: store.RoleAgent, TTLDays: ptr(1)})
			if err != nil {
				t.Fatal(err)
			}
			at := clock.Now().Add(2 * time.Hour)
			byTime, tk, err := s.CreateToken(ctx, store.TokenInput{Name: "two hours", Role: store.RoleAgent, ExpiresAt: &at})
			if err != nil || tk.ExpiresAt == nil || !tk.ExpiresAt.Equal(at) {
				t.Fatalf("create: %+v %v", tk, err)
			}
			clock.Advance(2*time.Hour - time.Second)
			if authErr(t, s, byTime) != "" || authErr(t, s, byTTL) != "" {
				t.Fatal("refused before expiry")
			}
			clock.Advance(time.Second)
			if msg := authErr(t, s, byTime); msg != "token expired" {
				t.Errorf("expires_at reached: %q", msg)
			}
			clock.Advance(22 * time.Hour)
			if msg := authErr(t, s, byTTL); msg != "token expired" {
				t.Errorf("ttl_days passed: %q", msg)
			}

			past := clock.Now().Add(-time.Minute)
			far := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
			for name, in := range map[string]store.TokenInput{
				"expires_at":  {ExpiresAt: &past},
				"ttl_days":    {TTLDays: ptr(0)},
				"ttl_days ":   {TTLDays: ptr(store.MaxTokenTTLDays + 1)},
				"ttl_days  ":  {TTLDays: ptr(1), ExpiresAt: &at},
				"expires_at ": {ExpiresAt: &far},
			} {
				in.Name, in.Role = "bad", store.RoleAgent
				_, _, err := s.CreateToken(ctx, in)
				var se *store.Error
				if !store.IsCode(err, store.EINVALID) || !asError(err, &se) || se.Field != strings.TrimSpace(name) {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
}

// last_used_at is kept within a minute without a write per request.
func TestTokenLastUsed(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			t0 := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
			clock := storetest.NewClock(t0)
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			plain, _, err := s.CreateToken(ctx, store.TokenInput{Name: "x", Role: store.RoleAgent})
			if err != nil {
				t.Fatal(err)
			}
			lastUsed := func() time.Time {
				ts, _, err := s.ListTokens(ctx, store.Page{})
				if err != nil || len(ts) != 1 || ts[0].LastUsedAt == nil {
					t.Fatalf("last_used_at: %+v %v", ts, err)
				}
				return ts[0].LastUsedAt.UTC()
			}
			for _, step := range []struct {
				advance time.Duration
				want    time.Time
			}{
				{0, t0},
				{30 * time.Second, t0}, // within the minute: no write
				{31 * time.Second, t0.Add(61 * time.Second)}, // past it
			} {
				clock.Advance(step.advance)
				if msg := authErr(t, s, plain); msg != "" {
					t.Fatal(msg)
				}
				if got := lastUsed(); !got.Equal(step.want) {
					t.Errorf("at %v: last_used_at %v, want %v", clock.Now(), got, step.want)
				}
			}
		})
	}
}

// A deactivated staff member's tokens stop working (and work again when
// they are reactivated); a token never carries more than its staff
// member's current role.
func TestTokenOfInactiveStaff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ann := mustStaff(t, s, "Ann", store.RoleManager)
		plain, _, err := s.CreateToken(ctx, store.TokenInput{Name: "ann", Role: store.RoleManager, StaffID: &ann.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateStaff(ctx, ann.ID, store.StaffUpdate{Active: ptr(false)}, store.Actor{Role: store.RoleAdmin, Via: store.ViaAPI}); err != nil {
			t.Fatal(err)
		}
		if msg := authErr(t, s, plain); msg == "" {
			t.Error("deactivated staff member's token accepted")
		}
		if _, _, err := s.CreateToken(ctx, store.TokenInput{Name: "again", Role: store.RoleAgent, StaffID: &ann.ID}); !store.IsCode(err, store.EINVALID) {
			t.Errorf("token for inactive staff: %v", err)
		}
		if _, err := s.UpdateStaff(ctx, ann.ID, store.StaffUpdate{Active: ptr(true), Role: ptr(store.RoleAgent)}, store.Actor{Role: store.RoleAdmin, Via: store.ViaAPI}); err != nil {
			t.Fatal(err)
		}
		p, err := s.Authenticate(ctx, plain)
		if err != nil || p.Role != store.RoleAgent {
			t.Errorf("reactivated, demoted to agent: %+v %v", p, err)
		}
	})
}

// The configured bootstrap token replaces the previous one; a revoked one
// stays revoked while its value is configured.
func TestBootstrapTokenRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const old, fresh = "old-bootstrap-token-0001", "new-bootstrap-token-0002"
		other, _, err := s.CreateToken(ctx, store.TokenInput{Name: "ci", Role: store.RoleAdmin})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // a restart with the same value changes nothing
			if err := s.EnsureToken(ctx, "bootstrap", old, store.RoleAdmin); err != nil {
				t.Fatal(err)
			}
			if msg := authErr(t, s, old); msg != "" {
				t.Fatal(msg)
			}
		}
		if err := s.EnsureToken(ctx, "bootstrap", fresh, store.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		if msg := authErr(t, s, old); msg != "token revoked" {
			t.Errorf("previous bootstrap token: %q", msg)
		}
		if authErr(t, s, fresh) != "" || authErr(t, s, other) != "" {
			t.Error("new bootstrap token or another admin token refused")
		}
		ts, _, _ := s.ListTokens(ctx, store.Page{})
		var id int64
		for _, tk := range ts {
			if tk.Bootstrap && tk.RevokedAt == nil {
				id = tk.ID
			}
		}
		if err := s.RevokeToken(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := s.EnsureToken(ctx, "bootstrap", fresh, store.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		if msg := authErr(t, s, fresh); msg != "token revoked" {
			t.Errorf("revoked bootstrap token after a restart: %q", msg)
		}
	})
}

// The bootstrap token of a release-8 database is the bootstrap token: the
// first start with a new value revokes it.
func TestBootstrapTokenFromRelease8(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			cfg := storetest.Config(t, dialect)
			loadDump(t, cfg, "testdata/release8."+dialect+".sql")
			s, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.EnsureToken(ctx, "bootstrap", "rotated-admin-token-0003", store.RoleAdmin); err != nil {
				t.Fatal(err)
			}
			if msg := authErr(t, s, "previous-release-admin-token"); msg != "token revoked" {
				t.Errorf("release-8 bootstrap token after rotation: %q", msg)
			}
		})
	}
}
