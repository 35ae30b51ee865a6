package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func TestKV(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			clock := storetest.NewClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			ctx := context.Background()
			get := func(key string) (string, bool) {
				t.Helper()
				v, ok, err := s.KVGet(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				return v, ok
			}
			if _, ok := get("a"); ok {
				t.Fatal("absent key found")
			}
			if err := s.KVSet(ctx, "a", "1", time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := s.KVSet(ctx, "a", "2", time.Minute); err != nil {
				t.Fatal(err)
			}
			if v, ok := get("a"); !ok || v != "2" {
				t.Fatalf("get a = %q, %v; want 2", v, ok)
			}
			if added, err := s.KVAdd(ctx, "a", "3", time.Minute); err != nil || added {
				t.Fatalf("add over a live key = %v, %v; want false", added, err)
			}
			clock.Advance(time.Minute + time.Millisecond)
			if _, ok := get("a"); ok {
				t.Fatal("expired key found")
			}
			if added, err := s.KVAdd(ctx, "a", "3", 0); err != nil || !added {
				t.Fatalf("add over an expired key = %v, %v; want true", added, err)
			}
			clock.Advance(24 * 365 * time.Hour)
			if v, ok := get("a"); !ok || v != "3" {
				t.Fatalf("get a = %q, %v; want 3 (no expiry)", v, ok)
			}
			stale := "2"
			if gone, err := s.KVDelete(ctx, "a", &stale); err != nil || gone {
				t.Fatalf("delete-if-stale = %v, %v; want nothing removed", gone, err)
			}
			cur := "3"
			if gone, err := s.KVDelete(ctx, "a", &cur); err != nil || !gone {
				t.Fatalf("delete-if-current = %v, %v; want removed", gone, err)
			}
			if _, err := s.KVAdd(ctx, "", "x", 0); !store.IsCode(err, store.EINVALID) {
				t.Fatalf("empty key: %v", err)
			}
		})
	}
}

// TestKVAddOneWinner: replicas racing to add a key agree on one value.
func TestKVAddOneWinner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.KVAdd(ctx, "secret", string(rune('a'+i)), 0)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d replicas added the key; want 1", wins)
		}
	})
}

// TestKVPurgeExpired: expired keys are removed once past a minute's grace;
// live and permanent ones stay.
func TestKVPurgeExpired(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			clock := storetest.NewClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			ctx := context.Background()
			for key, ttl := range map[string]time.Duration{"short": time.Second, "long": time.Hour, "forever": 0} {
				if _, err := s.KVAdd(ctx, key, "v", ttl); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(30 * time.Second)
			if n, err := s.KVPurgeExpired(ctx); err != nil || n != 0 {
				t.Fatalf("purge within the grace = %d, %v; want 0", n, err)
			}
			clock.Advance(time.Minute)
			if n, err := s.KVPurgeExpired(ctx); err != nil || n != 1 {
				t.Fatalf("purge = %d, %v; want 1", n, err)
			}
			for _, key := range []string{"long", "forever"} {
				if _, ok, err := s.KVGet(ctx, key); err != nil || !ok {
					t.Errorf("%s gone after purge: %v", key, err)
				}
			}
			if added, err := s.KVAdd(ctx, "short", "again", time.Second); err != nil || !added {
				t.Errorf("add after purge = %v, %v", added, err)
			}
		})
	}
}
