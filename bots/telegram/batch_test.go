package telegram_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/telegram/telegramtest"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// factsHook is a hook that reads the facts the router reads for a batch.
type factsHook hookFunc

func (f factsHook) HandleChat(ctx context.Context, ev *store.ChatEvent) (bool, error) {
	return f(ctx, ev)
}

func (factsHook) ReadsChatFacts() {}

// TestBatchFacts: messages taken as one batch get the facts read for it
// only while nothing processed before them in the batch can have changed
// them. A customer's second message must see the complaint its first one
// opened; a command (which may merge customers or act on tasks) ends the
// batch's facts for everything behind it.
func TestBatchFacts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		type seen struct{ Facts, Complaint bool }
		var mu sync.Mutex
		got := map[string]seen{}
		started, release := make(chan struct{}), make(chan struct{})
		hook := factsHook(func(ctx context.Context, ev *store.ChatEvent) (bool, error) {
			text := ev.Message.Text
			if text == "hold" {
				close(started)
				<-release // the rest queue up behind it
				return false, nil
			}
			open := (*store.Task)(nil)
			if ev.Facts != nil {
				open = ev.Facts.OpenComplaint
			} else {
				var err error
				if open, err = s.OpenComplaintTask(ctx, ev.Identity.CustomerID); err != nil {
					return false, err
				}
			}
			mu.Lock()
			got[text] = seen{Facts: ev.Facts != nil, Complaint: open != nil}
			mu.Unlock()
			if strings.HasPrefix(text, "complain") {
				_, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: ev.Identity.CustomerID, Kind: store.TaskComplaint, Title: text})
				return false, err
			}
			return false, nil
		})
		h := setup(t, s, telegramtest.New(t), setupOpts{hooks: []bots.Hook{hook}, workers: 1})
		h.post(textUpdate(1, 10, "hold"), nil)
		<-started
		for i, m := range []struct {
			user int64
			text string
		}{{20, "complain 20"}, {20, "again 20"}, {30, "plain 30"}, {40, "/whatever"}, {50, "plain 50"}} {
			if rec := h.post(textUpdate(int64(2+i), m.user, m.text), nil); rec.Code != 200 {
				t.Fatalf("%s: %d", m.text, rec.Code)
			}
		}
		close(release)
		want := map[string]seen{
			"complain 20": {Facts: true},
			"again 20":    {Facts: false, Complaint: true},
			"plain 30":    {Facts: true},
			"/whatever":   {},
			"plain 50":    {},
		}
		telegramtest.WaitFor(t, "every message through the hook", 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) == len(want)
		})
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("what the hook saw (-want +got):\n%s", diff)
		}
	})
}

// TestNotifyOnlyWhenQueued: the dispatcher is woken (a query for it) only
// by a message that queued a reply.
func TestNotifyOnlyWhenQueued(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		var notified atomic.Int64
		f := telegramtest.New(t)
		h := setup(t, s, f, setupOpts{notify: func() { notified.Add(1) }})
		processed := func(n int) func() bool {
			return func() bool {
				ms := h.messages(t, h.customerOf(t, 61).ID)
				in := 0
				for _, m := range ms {
					if m.Direction == store.DirectionIn && m.Status == store.StatusProcessed {
						in++
					}
				}
				return in == n
			}
		}
		for i := range 3 {
			h.post(textUpdate(int64(1+i), 61, "just saying"), nil)
		}
		telegramtest.WaitFor(t, "three messages processed", 10*time.Second, processed(3))
		if n := notified.Load(); n != 0 {
			t.Errorf("dispatcher woken %d times by messages that queued nothing", n)
		}
		h.post(textUpdate(4, 61, "/start"), nil)
		telegramtest.WaitFor(t, "the welcome sent", 10*time.Second, func() bool { return len(f.SentTo("61")) == 1 })
		if n := notified.Load(); n != 1 {
			t.Errorf("dispatcher woken %d times by one welcome, want 1", n)
		}
	})
}
