package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"
)

// groupStore opens a migrated store of dialect on a fresh database
// (storetest imports this package, so this test cannot use it) and counts
// the statements it runs, BEGIN and COMMIT aside.
func groupStore(t *testing.T, dialect string) (*Store, *atomic.Int64) {
	t.Helper()
	ctx := context.Background()
	cfg := Config{Driver: SQLite, DSN: filepath.Join(t.TempDir(), "rapport.db")}
	if dialect == MySQL {
		root, err := sql.Open("mysql", serverDSN())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { root.Close() })
		var b [6]byte
		rand.Read(b[:])
		name := "rapport_test_" + hex.EncodeToString(b[:])
		if _, err := root.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
			t.Fatalf("MySQL/MariaDB is required at %s: %v", serverDSN(), err)
		}
		t.Cleanup(func() { root.Exec("DROP DATABASE IF EXISTS " + name) })
		cfg = Config{Driver: MySQL, DSN: serverDSN() + name}
	}
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	n := &atomic.Int64{}
	count := func(*gorm.DB) { n.Add(1) }
	cb := s.db.Callback()
	for _, err := range []error{
		cb.Create().After("gorm:create").Register("test:count", count),
		cb.Query().After("gorm:query").Register("test:count", count),
		cb.Update().After("gorm:update").Register("test:count", count),
		cb.Delete().After("gorm:delete").Register("test:count", count),
		cb.Raw().After("gorm:raw").Register("test:count", count),
		cb.Row().After("gorm:row").Register("test:count", count),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return s, n
}

// A group of redemptions settles each member as it would alone: every
// voucher paid for, a short balance or stock refused with nothing changed,
// a key answered with its first voucher, a reward changed on another
// replica issued as it is now. What the whole group can settle at once
// takes four statements besides BEGIN and COMMIT, however many members.
func TestRedeemGroup(t *testing.T) {
	type member struct {
		customer int    // index into the case's customers
		reward   string // A: 100 points, unlimited; S: 10 points, stock 1; I: inactive
		key      string
	}
	type want struct {
		code   string // "" for a voucher
		sameAs int    // the voucher of that member (-1: a voucher of its own)
		points int64  // what the voucher cost
	}
	tests := []struct {
		name       string
		before     []member // redeemed alone first
		changeA    int64    // another replica sets A's points to this first
		group      []member
		want       []want
		balances   [3]int64 // from 1000, 150, 0
		stock      int64    // S's stock after
		statements int64    // the group's (-1: not checked)
	}{
		{name: "all settle at once",
			group:    []member{{0, "A", ""}, {1, "A", ""}, {0, "A", "k1"}, {0, "S", ""}},
			want:     []want{{"", -1, 100}, {"", -1, 100}, {"", -1, 100}, {"", -1, 10}},
			balances: [3]int64{790, 50, 0}, stock: 0, statements: 5},
		{name: "balance short",
			group:    []member{{0, "A", ""}, {1, "A", ""}, {1, "A", ""}, {2, "A", ""}},
			want:     []want{{"", -1, 100}, {"", -1, 100}, {ECONFLICT, 0, 0}, {ECONFLICT, 0, 0}},
			balances: [3]int64{900, 50, 0}, stock: 1, statements: -1},
		{name: "key twice in the group",
			group:    []member{{0, "A", "tap"}, {0, "A", "tap"}, {1, "A", ""}},
			want:     []want{{"", -1, 100}, {"", 0, 100}, {"", -1, 100}},
			balances: [3]int64{900, 50, 0}, stock: 1, statements: 5},
		{name: "key used before",
			before:   []member{{0, "A", "tap"}},
			group:    []member{{0, "A", "tap"}, {1, "A", ""}},
			want:     []want{{"", -1, 100}, {"", -1, 100}},
			balances: [3]int64{900, 50, 0}, stock: 1, statements: 5},
		{name: "stock short",
			group:    []member{{0, "S", ""}, {1, "S", ""}},
			want:     []want{{"", -1, 10}, {ECONFLICT, 0, 0}},
			balances: [3]int64{990, 150, 0}, stock: 0, statements: -1},
		{name: "inactive reward",
			group:    []member{{0, "I", ""}, {1, "A", ""}},
			want:     []want{{ECONFLICT, 0, 0}, {"", -1, 100}},
			balances: [3]int64{1000, 50, 0}, stock: 1, statements: 4},
		{name: "reward changed elsewhere",
			changeA:  200,
			group:    []member{{0, "A", ""}, {1, "A", ""}},
			want:     []want{{"", -1, 200}, {ECONFLICT, 0, 0}},
			balances: [3]int64{800, 150, 0}, stock: 1, statements: -1},
	}
	for _, d := range []string{SQLite, MySQL} {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			s, statements := groupStore(t, d)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var cs [3]int64
					for i, pts := range []int64{1000, 150, 0} {
						name := fmt.Sprintf("%s %d", tt.name, i)
						c, err := s.CreateCustomer(ctx, CustomerInput{Name: &name})
						if err != nil {
							t.Fatal(err)
						}
						if pts > 0 {
							if _, err := s.AdjustPoints(ctx, SystemActor(), c.ID, PointsAdjustment{Points: pts, Reason: "gift"}); err != nil {
								t.Fatal(err)
							}
						}
						cs[i] = c.ID
					}
					rewards := map[string]*Reward{}
					for name, in := range map[string]RewardInput{
						"A": {Name: ptrTo("A"), Points: ptrTo(int64(100))},
						"S": {Name: ptrTo("S"), Points: ptrTo(int64(10)), Stock: ptrTo(int64(1))},
						"I": {Name: ptrTo("I"), Points: ptrTo(int64(1)), Active: ptrTo(false)},
					} {
						r, err := s.CreateReward(ctx, in)
						if err != nil {
							t.Fatal(err)
						}
						s.rewards.put(r) // as a replica that redeemed them before
						rewards[name] = r
					}
					member := func(m member) *redemption {
						return &redemption{by: SystemActor(), customerID: cs[m.customer], in: Redemption{RewardID: rewards[m.reward].ID, Key: m.key}}
					}
					for _, m := range tt.before {
						if _, err := s.answer(ctx, &redemption{by: SystemActor(), customerID: cs[m.customer], in: Redemption{RewardID: rewards[m.reward].ID, Key: m.key}, alone: true}); err != nil {
							t.Fatal(err)
						}
					}
					if tt.changeA != 0 {
						if err := s.db.Exec("UPDATE rewards SET points = ? WHERE id = ?", tt.changeA, rewards["A"].ID).Error; err != nil {
							t.Fatal(err)
						}
					}
					var group []*redemption
					for _, m := range tt.group {
						group = append(group, member(m))
					}
					statements.Store(0)
					s.writeRedemptions(ctx, group)
					if n := statements.Load(); tt.statements >= 0 && n != tt.statements {
						t.Errorf("the group took %d statements, want %d", n, tt.statements)
					}
					vs := make([]*Voucher, len(group))
					for i, r := range group {
						v, err := s.answer(ctx, r)
						w := tt.want[i]
						switch {
						case w.code != "":
							if !IsCode(err, w.code) {
								t.Errorf("member %d: %v, want %s", i, err, w.code)
							}
						case err != nil:
							t.Errorf("member %d: %v", i, err)
						case w.sameAs >= 0 && (vs[w.sameAs] == nil || v.ID != vs[w.sameAs].ID):
							t.Errorf("member %d: voucher %d, want member %d's", i, v.ID, w.sameAs)
						case v.Points != w.points || v.CustomerID != cs[tt.group[i].customer]:
							t.Errorf("member %d: voucher %+v, want one of customer %d for %d points", i, v, cs[tt.group[i].customer], w.points)
						}
						vs[i] = v
					}
					for i, id := range cs {
						var c Customer
						if err := s.db.Take(&c, id).Error; err != nil {
							t.Fatal(err)
						}
						sum, err := s.PointsSum(ctx, id)
						if err != nil {
							t.Fatal(err)
						}
						if c.Points != tt.balances[i] || sum != c.Points {
							t.Errorf("customer %d: balance %d, ledger sum %d, want %d", i, c.Points, sum, tt.balances[i])
						}
					}
					stock, err := s.Reward(ctx, rewards["S"].ID)
					if err != nil || *stock.Stock != tt.stock {
						t.Errorf("stock %d (%v), want %d", *stock.Stock, err, tt.stock)
					}
				})
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }
