package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// TestRecordArrivalConcurrent: many senders, some new, each message
// delivered twice at once (a platform retry racing the original). Every
// message is stored once, exactly one delivery of each is new, and each
// sender is one customer.
func TestRecordArrivalConcurrent(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) { recordConcurrent(t, d) })
	}
}

// recordConcurrent delivers every message twice through two replicas on
// one database: their groups overlap, and on MySQL their INSERTs can
// deadlock on the dedup key's gaps (retried).
func recordConcurrent(t *testing.T, dialect string) {
	cfg := storetest.Config(t, dialect)
	replicas := []*store.Store{storetest.OpenConfig(t, cfg), storetest.OpenConfig(t, cfg)}
	s := replicas[0]
	ctx := context.Background()
	const senders, perSender = 40, 10
	var mu sync.Mutex
	fresh := map[string]int{}
	customers := map[string]map[int64]bool{}
	var wg sync.WaitGroup
	for i := range senders * perSender {
		sender := fmt.Sprint("u", i%senders)
		ext := fmt.Sprint("update-", i)
		for copy := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, id, dup, err := replicas[(i+copy)%2].RecordArrival(ctx, store.Arrival{
					Contact: store.Contact{Channel: store.ChannelTelegram, ExternalID: sender, DisplayName: sender},
					In:      store.Inbound{Channel: store.ChannelTelegram, DedupKey: ext, ChatID: sender, Text: "hi " + ext},
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if !dup {
					fresh[ext]++
				}
				if m == nil || m.ID == 0 || *m.DedupKey != ext || id.ExternalID != sender || *m.CustomerID != id.CustomerID {
					t.Errorf("%s: message %+v, identity %+v", ext, m, id)
					return
				}
				if customers[sender] == nil {
					customers[sender] = map[int64]bool{}
				}
				customers[sender][id.CustomerID] = true
			}()
		}
	}
	wg.Wait()
	for i := range senders * perSender {
		if ext := fmt.Sprint("update-", i); fresh[ext] != 1 {
			t.Errorf("%s new %d times, want 1", ext, fresh[ext])
		}
	}
	for sender, ids := range customers {
		if len(ids) != 1 {
			t.Errorf("sender %s is %d customers", sender, len(ids))
		}
		id, err := s.IdentityByExternal(ctx, store.ChannelTelegram, sender)
		if err != nil {
			t.Fatal(err)
		}
		if id.LastInboundAt == nil {
			t.Errorf("sender %s: last_inbound_at not set", sender)
		}
		if c, err := s.CustomerByID(ctx, id.CustomerID); err != nil || c.LastInboundAt == nil {
			t.Errorf("sender %s: customer %+v, %v; want its last_inbound_at set", sender, c, err)
		}
		ms, _, err := s.ListMessages(ctx, id.CustomerID, store.Page{Limit: 100})
		if err != nil || len(ms) != perSender {
			t.Errorf("sender %s: %d messages, %v; want %d", sender, len(ms), err, perSender)
		}
	}
}

// TestRecordArrivalReadBackMiss: a row the group wrote but cannot read
// back at once (on MariaDB a concurrent copy's insert can be invisible for
// a moment after it was waited for) is written and read again, not
// reported as lost; the message is stored once and is new.
func TestRecordArrivalReadBackMiss(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			misses := 0
			s := storetest.Open(t, d, store.WithArrivalReadHook(func(db *gorm.DB) {
				if misses < 2 { // the row vanishes twice before it stays
					misses++
					if err := db.Exec("DELETE FROM messages WHERE external_id = ?", "lost-1").Error; err != nil {
						t.Error(err)
					}
				}
			}))
			ctx := context.Background()
			m, _, dup, err := s.RecordArrival(ctx, store.Arrival{
				Contact: store.Contact{Channel: store.ChannelTelegram, ExternalID: "u1", DisplayName: "u1"},
				In:      store.Inbound{Channel: store.ChannelTelegram, DedupKey: "lost-1", ChatID: "u1", Text: "hi"},
			})
			if err != nil || dup || m == nil || m.ID == 0 {
				t.Fatalf("RecordArrival: message %+v, dup %v, err %v; want a new stored message", m, dup, err)
			}
			ms, _, err := s.ListMessages(ctx, *m.CustomerID, store.Page{Limit: 10})
			if err != nil || len(ms) != 1 || ms[0].ID != m.ID {
				t.Errorf("stored messages %+v, %v; want the one message %d", ms, err, m.ID)
			}
		})
	}
}

// TestRecordArrivalBadNeighbour: a message the database refuses fails on
// its own; the messages written in the same group are stored.
func TestRecordArrivalBadNeighbour(t *testing.T) {
	s := storetest.Open(t, store.MySQL) // SQLite keeps any length
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 30)
	for i := range errs {
		chat := fmt.Sprint("c", i)
		if i == 7 {
			chat = strings.Repeat("x", 200) // longer than chat_id's 128
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _, errs[i] = s.RecordArrival(ctx, store.Arrival{
				Contact: store.Contact{Channel: store.ChannelWeChat, ExternalID: fmt.Sprint("o", i)},
				In:      store.Inbound{Channel: store.ChannelWeChat, DedupKey: fmt.Sprint("msg-", i), ChatID: chat, Text: "你好"},
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 7) {
			t.Errorf("message %d: %v", i, err)
		}
	}
}

// TestRecordArrivalKnownOnly: a leaving event from an unknown account
// creates nobody.
func TestRecordArrivalKnownOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, _, _, err := s.RecordArrival(ctx, store.Arrival{
			Contact:   store.Contact{Channel: store.ChannelWeChat, ExternalID: "oGone"},
			KnownOnly: true,
			In:        store.Inbound{Channel: store.ChannelWeChat, DedupKey: "ev-1", ChatID: "oGone", Kind: "event", Text: "unsubscribe"},
		})
		if !store.IsCode(err, store.ENOTFOUND) {
			t.Fatalf("err = %v, want not found", err)
		}
		if _, err := s.IdentityByExternal(ctx, store.ChannelWeChat, "oGone"); !store.IsCode(err, store.ENOTFOUND) {
			t.Errorf("identity created: %v", err)
		}
	})
}

// TestRecordArrivalFirstContactRace: two replicas receive the first
// messages of the same new senders at once. Each sender becomes one
// customer, whichever replica created it.
func TestRecordArrivalFirstContactRace(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			cfg := storetest.Config(t, d)
			replicas := []*store.Store{storetest.OpenConfig(t, cfg), storetest.OpenConfig(t, cfg)}
			ctx := context.Background()
			const senders = 40
			var mu sync.Mutex
			customer := map[string]map[int64]bool{}
			var wg sync.WaitGroup
			for i := range senders * 2 {
				s := replicas[i%2]
				sender := fmt.Sprint("new-", i%senders)
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, id, _, err := s.RecordArrival(ctx, store.Arrival{
						Contact: store.Contact{Channel: store.ChannelWeChat, ExternalID: sender, Source: "wechat:qrscene:expo"},
						In:      store.Inbound{Channel: store.ChannelWeChat, DedupKey: fmt.Sprint("ev-", i), ChatID: sender, Kind: "event", Text: "subscribe"},
					})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if customer[sender] == nil {
						customer[sender] = map[int64]bool{}
					}
					customer[sender][id.CustomerID] = true
					mu.Unlock()
				}()
			}
			wg.Wait()
			for sender, ids := range customer {
				if len(ids) != 1 {
					t.Errorf("%s is %d customers", sender, len(ids))
				}
				for cid := range ids {
					c, err := replicas[0].CustomerByID(ctx, cid)
					if err != nil {
						t.Fatal(err)
					}
					if c.Source != "wechat:qrscene:expo" || c.ExternalRef != nil {
						t.Errorf("%s: source %q, external_ref %v", sender, c.Source, c.ExternalRef)
					}
				}
			}
			if len(customer) != senders {
				t.Errorf("%d senders recorded, want %d", len(customer), senders)
			}
		})
	}
}

// TestRecordArrivalLinger: right after a group ends, the writer that finds
// the queue empty waits for the senders that follow instead of writing the
// first of them alone (one group of 32, not a lone row and the rest); after
// a quiet moment a message is written at once.
func TestRecordArrivalLinger(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			var mu sync.Mutex
			groups := 0
			count := store.WithArrivalReadHook(func(*gorm.DB) { mu.Lock(); groups++; mu.Unlock() })
			// The wait is long enough that only the 32nd arrival ends it.
			s := storetest.Open(t, d, count, store.WithArrivalLinger(time.Minute, time.Minute))
			ctx := context.Background()
			arrive := func(i int) {
				u := fmt.Sprint("u", i%4)
				_, _, _, err := s.RecordArrival(ctx, store.Arrival{
					Contact: store.Contact{Channel: store.ChannelTelegram, ExternalID: u, DisplayName: u},
					In:      store.Inbound{Channel: store.ChannelTelegram, DedupKey: fmt.Sprint("linger-", i), ChatID: u, Text: "hi"},
				})
				if err != nil {
					t.Error(err)
				}
			}
			arrive(0) // nothing before it: written at once
			var wg sync.WaitGroup
			for i := range 32 {
				wg.Add(1)
				go func() { defer wg.Done(); arrive(1 + i) }()
			}
			wg.Wait()
			if groups != 2 {
				t.Errorf("%d groups written, want 2 (one message, then the 32 that followed it)", groups)
			}

			// Quiet: nothing ended within the window, so no waiting.
			q := storetest.Open(t, d, store.WithArrivalLinger(time.Minute, time.Nanosecond))
			start := time.Now()
			for i := range 2 {
				if _, _, _, err := q.RecordArrival(ctx, store.Arrival{
					Contact: store.Contact{Channel: store.ChannelTelegram, ExternalID: "q"},
					In:      store.Inbound{Channel: store.ChannelTelegram, DedupKey: fmt.Sprint("quiet-", i), ChatID: "q", Text: "hi"},
				}); err != nil {
					t.Fatal(err)
				}
			}
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("two messages one after the other took %v", took)
			}
		})
	}
}
