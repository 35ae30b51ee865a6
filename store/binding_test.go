package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func TestBindingCodes(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			clock := storetest.NewClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			ann := mustStaff(t, s, "Ann", store.RoleAgent)
			bind := func(account, code string) (*store.Staff, error) {
				return s.RedeemBindingCode(ctx, store.BindRequest{Channel: "telegram", ExternalID: account, Code: code})
			}

			// Expiry: valid for 15 minutes.
			code, exp, err := s.CreateBindingCode(ctx, ann.ID, store.SystemActor())
			if err != nil || len(code) != 8 || !exp.Equal(clock.Now().Add(15*time.Minute)) {
				t.Fatalf("code %q %v %v", code, exp, err)
			}
			clock.Advance(15*time.Minute + time.Second)
			if _, err := bind("u1", code); !errors.Is(err, store.ErrBindBadCode) {
				t.Errorf("expired code: %v", err)
			}

			// Single use, even when two accounts race with the same code.
			code, _, _ = s.CreateBindingCode(ctx, ann.ID, store.SystemActor())
			var wg sync.WaitGroup
			wins := make([]bool, 4)
			for i := range wins {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, err := bind(fmt.Sprint("race", i), strings.ToLower(code))
					wins[i] = err == nil && st.ID == ann.ID
				}()
			}
			wg.Wait()
			n := 0
			for _, w := range wins {
				if w {
					n++
				}
			}
			if n != 1 {
				t.Errorf("code used %d times, want 1", n)
			}
			// A new code replaces the unused old one.
			old, _, _ := s.CreateBindingCode(ctx, ann.ID, store.SystemActor())
			fresh, _, _ := s.CreateBindingCode(ctx, ann.ID, store.SystemActor())
			if _, err := bind("u2", old); !errors.Is(err, store.ErrBindBadCode) {
				t.Errorf("replaced code: %v", err)
			}
			if st, err := bind("u2", fresh); err != nil || st.ID != ann.ID {
				t.Fatalf("fresh code: %v %v", st, err)
			}
			if got, _ := s.StaffByIdentity(ctx, "telegram", "u2"); got == nil || got.ID != ann.ID {
				t.Errorf("bound staff: %+v", got)
			}

			// Per staff: a few codes an hour.
			clock.Advance(time.Hour)
			for i := 0; i < store.BindingCodesPerHour; i++ {
				if _, _, err := s.CreateBindingCode(ctx, ann.ID, store.SystemActor()); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := s.CreateBindingCode(ctx, ann.ID, store.SystemActor()); !store.IsCode(err, store.ECONFLICT) {
				t.Errorf("code flood: %v", err)
			}

			// Per chat account: after a few wrong codes even a right one is
			// refused for the hour; the failures are stored, not in memory.
			clock.Advance(time.Hour)
			right, _, _ := s.CreateBindingCode(ctx, ann.ID, store.SystemActor())
			for i := 0; i < store.BindFailuresPerHour; i++ {
				if _, err := bind("mallory", fmt.Sprintf("WRONG%03d", i)); !errors.Is(err, store.ErrBindBadCode) {
					t.Fatalf("guess %d: %v", i, err)
				}
			}
			if _, err := bind("mallory", right); !errors.Is(err, store.ErrBindThrottled) {
				t.Errorf("throttled account: %v", err)
			}
			// Another account, and the same one an hour later, may bind.
			if _, err := bind("mallory", "X"); !errors.Is(err, store.ErrBindThrottled) {
				t.Errorf("still throttled: %v", err)
			}
			clock.Advance(time.Hour + time.Minute)
			right, _, _ = s.CreateBindingCode(ctx, ann.ID, store.SystemActor())
			if _, err := bind("mallory", right); err != nil {
				t.Errorf("after an hour: %v", err)
			}

			// Inactive staff get no codes and their bindings stop counting.
			if _, err := s.UpdateStaff(ctx, ann.ID, store.StaffUpdate{Active: ptr(false)}, store.Actor{Role: store.RoleManager, Via: store.ViaAPI}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.CreateBindingCode(ctx, ann.ID, store.SystemActor()); !store.IsCode(err, store.EINVALID) {
				t.Errorf("inactive code: %v", err)
			}
			if got, _ := s.StaffByIdentity(ctx, "telegram", "u2"); got != nil {
				t.Errorf("inactive staff still bound: %+v", got)
			}
			if _, err := s.UpdateStaff(ctx, ann.ID, store.StaffUpdate{Role: ptr(store.RoleManager)}, store.Actor{Role: store.RoleManager, Via: store.ViaAPI}); !store.IsCode(err, store.EFORBIDDEN) {
				t.Errorf("manager changes role: %v", err)
			}
		})
	}
}

// One chat account redeeming two staff members' codes at once: at READ
// COMMITTED neither sees a binding of the account, and both create one;
// the loser must run again and rebind the account, not fail on the
// unique key.
func TestBindSameAccountAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for round := range 10 {
			var codes []string
			for _, name := range []string{"Ann", "Bob"} {
				st := mustStaff(t, s, fmt.Sprint(name, round), store.RoleAgent)
				code, _, err := s.CreateBindingCode(ctx, st.ID, store.SystemActor())
				if err != nil {
					t.Fatal(err)
				}
				codes = append(codes, code)
			}
			account := fmt.Sprint("both", round)
			var wg sync.WaitGroup
			for _, code := range codes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := s.RedeemBindingCode(ctx, store.BindRequest{Channel: "telegram", ExternalID: account, Code: code}); err != nil {
						t.Errorf("round %d: bind: %v", round, err)
					}
				}()
			}
			wg.Wait()
			if st, err := s.StaffByIdentity(ctx, "telegram", account); err != nil || st == nil {
				t.Errorf("round %d: bound to %+v (%v)", round, st, err)
			}
		}
	})
}
