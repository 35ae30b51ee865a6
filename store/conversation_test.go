package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

var dedup atomic.Int64

// write records an inbound message from a chat account as intake and the
// router do (stored, then marked processed) and returns its customer id.
func write(t *testing.T, s *store.Store, channel, account, text string) int64 {
	t.Helper()
	id, m := arriveIn(t, s, channel, account, text)
	if err := s.MarkProcessed(context.Background(), []int64{m}); err != nil {
		t.Fatal(err)
	}
	return id
}

func arriveIn(t *testing.T, s *store.Store, channel, account, text string) (customerID, messageID int64) {
	t.Helper()
	m, id, _, err := s.RecordArrival(context.Background(), store.Arrival{
		Contact: store.Contact{Channel: channel, ExternalID: account, DisplayName: "U" + account},
		In:      store.Inbound{Channel: channel, DedupKey: fmt.Sprint("d", dedup.Add(1)), ChatID: account, Kind: "text", Text: text},
	})
	if err != nil {
		t.Fatal(err)
	}
	return id.CustomerID, m.ID
}

// inboxOf lists the inbox as by sees it: customer id and unread count.
func inboxOf(t *testing.T, s *store.Store, f store.ConversationFilter) [][2]int64 {
	t.Helper()
	cs, _, err := s.ListConversations(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	out := [][2]int64{}
	for _, c := range cs {
		out = append(out, [2]int64{c.CustomerID, int64(c.Unread)})
	}
	return out
}

func TestConversationsFollowMessages(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			clock := storetest.NewClock(time.Date(2027, 1, 1, 1, 0, 0, 0, time.UTC))
			s := storetest.Open(t, d, store.WithClock(clock.Now))
			agent := mustStaff(t, s, "Li", store.RoleAgent)
			asAgent := store.ActorStaff(agent, store.ViaAPI)
			admin := store.Actor{Role: store.RoleAdmin, Via: store.ViaAPI}

			a := write(t, s, "telegram", "1", "hello")
			clock.Advance(time.Minute)
			b := write(t, s, "webchat", "w2", "anyone there?")
			clock.Advance(time.Minute)
			write(t, s, "telegram", "1", "still waiting")
			// A chat command is the bot's to answer: it owes nobody a reply.
			c := write(t, s, "telegram", "3", "/start")

			// Oldest first, with unread counts.
			if diff := cmp.Diff([][2]int64{{a, 2}, {b, 1}}, inboxOf(t, s, store.ConversationFilter{Viewer: admin})); diff != "" {
				t.Errorf("waiting (-want +got):\n%s", diff)
			}
			if got := inboxOf(t, s, store.ConversationFilter{Viewer: admin, Channel: "webchat"}); len(got) != 1 || got[0][0] != b {
				t.Errorf("webchat filter = %v", got)
			}
			if got := inboxOf(t, s, store.ConversationFilter{Viewer: admin, View: store.ViewAll}); len(got) != 3 || got[0][0] != c {
				t.Errorf("all, newest first = %v", got)
			}
			counts, err := s.CountInbox(ctx, admin)
			if err != nil || *counts != (store.InboxCounts{Waiting: 2, Unassigned: 2, Unread: 3}) {
				t.Errorf("counts = %+v %v", counts, err)
			}

			// Agents see only their customers' conversations.
			if got := inboxOf(t, s, store.ConversationFilter{Viewer: asAgent}); len(got) != 0 {
				t.Errorf("agent sees %v", got)
			}
			if _, err := s.UpdateConversation(ctx, asAgent, a, store.ConversationUpdate{AssigneeID: &agent.ID}); !store.IsCode(err, store.ENOTFOUND) {
				t.Errorf("agent took an unseen conversation: %v", err)
			}
			if _, err := s.UpdateConversation(ctx, admin, a, store.ConversationUpdate{AssigneeID: &agent.ID}); !store.IsCode(err, store.EINVALID) {
				t.Errorf("assigned to an agent who cannot see the customer: %v", err)
			}
			if _, err := s.UpdateCustomer(ctx, a, store.CustomerInput{OwnerStaffID: &agent.ID}); err != nil {
				t.Fatal(err)
			}
			conv, err := s.UpdateConversation(ctx, asAgent, a, store.ConversationUpdate{AssigneeID: &agent.ID, Read: true})
			if err != nil || conv.AssigneeName != "Li" || conv.Unread != 0 || conv.WaitingSince == nil {
				t.Fatalf("take = %+v %v", conv, err)
			}
			if got := inboxOf(t, s, store.ConversationFilter{Viewer: asAgent, Assignee: "me"}); len(got) != 1 || got[0][0] != a {
				t.Errorf("mine = %v", got)
			}

			// The agent's reply ends the wait; a new message starts it again.
			if _, err := s.SendToCustomerBy(ctx, asAgent, a, "hi, how can I help?"); err != nil {
				t.Fatal(err)
			}
			conv, _ = s.ConversationFor(ctx, asAgent, a)
			if conv.WaitingSince != nil || conv.LastReplyBy == nil || *conv.LastReplyBy != agent.ID || conv.LastDirection != "out" {
				t.Errorf("after the reply: %+v", conv)
			}
			clock.Advance(time.Minute)
			write(t, s, "telegram", "1", "thanks")
			conv, _ = s.ConversationFor(ctx, asAgent, a)
			if conv.WaitingSince == nil || !conv.WaitingSince.Equal(clock.Now().Truncate(time.Millisecond)) || conv.Unread != 1 || conv.LastPreview != "thanks" {
				t.Errorf("after the next message: %+v", conv)
			}

			// Resolved leaves the queue; the customer's next words reopen it.
			resolved := store.ConversationResolved
			if _, err := s.UpdateConversation(ctx, asAgent, a, store.ConversationUpdate{Status: &resolved}); err != nil {
				t.Fatal(err)
			}
			if got := inboxOf(t, s, store.ConversationFilter{Viewer: admin}); len(got) != 1 || got[0][0] != b {
				t.Errorf("after resolving: %v", got)
			}
			write(t, s, "telegram", "1", "one more thing")
			conv, _ = s.ConversationFor(ctx, admin, a)
			if conv.Status != store.ConversationOpen || conv.WaitingSince == nil {
				t.Errorf("after reopening: %+v", conv)
			}

			// Bad input names the field.
			bad := "closed"
			if _, err := s.UpdateConversation(ctx, admin, a, store.ConversationUpdate{Status: &bad}); !store.IsCode(err, store.EINVALID) {
				t.Errorf("bad status: %v", err)
			}
			if _, _, err := s.ListConversations(ctx, store.ConversationFilter{Viewer: admin, View: "later"}); !store.IsCode(err, store.EINVALID) {
				t.Errorf("bad view: %v", err)
			}
		})
	}
}

// TestConversationsUnderConcurrentIntake: many customers writing at once
// (the intake writes them in groups), their messages marked processed by
// two replicas at once, each twice: every message counts exactly once.
func TestConversationsUnderConcurrentIntake(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		const customers, each = 12, 5
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ids []int64
		for i := 0; i < customers; i++ {
			for j := 0; j < each; j++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, m := arriveIn(t, s, "telegram", fmt.Sprint(900+i), fmt.Sprint("message ", j))
					mu.Lock()
					ids = append(ids, m)
					mu.Unlock()
				}()
			}
		}
		wg.Wait()
		for r := 0; r < 4; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.MarkProcessed(context.Background(), ids); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got := inboxOf(t, s, store.ConversationFilter{Viewer: store.SystemActor(), Page: store.Page{Limit: 100}})
		if len(got) != customers {
			t.Fatalf("%d conversations, want %d", len(got), customers)
		}
		for _, c := range got {
			if c[1] != each {
				t.Errorf("customer %d: unread %d, want %d", c[0], c[1], each)
			}
		}
	})
}

func TestQuickReplies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		str := func(v string) *string { return &v }
		by := store.SystemActor()
		if _, err := s.CreateQuickReply(ctx, by, store.QuickReplyInput{Title: str("营业时间")}); !store.IsCode(err, store.EINVALID) {
			t.Errorf("without body: %v", err)
		}
		if _, err := s.CreateQuickReply(ctx, by, store.QuickReplyInput{Title: str("x"), Body: str("y"), Shortcut: str("a b")}); !store.IsCode(err, store.EINVALID) {
			t.Errorf("bad shortcut: %v", err)
		}
		q, err := s.CreateQuickReply(ctx, by, store.QuickReplyInput{Title: str("营业时间"), Body: str("每天 9:00-21:00"), Shortcut: str("hours")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateQuickReply(ctx, q.ID, store.QuickReplyInput{Body: str("每天 8:00-22:00")}); err != nil {
			t.Fatal(err)
		}
		all, err := s.ListQuickReplies(ctx)
		if err != nil || len(all) != 1 || all[0].Body != "每天 8:00-22:00" || all[0].Shortcut != "hours" {
			t.Errorf("list = %+v %v", all, err)
		}
		if err := s.DeleteQuickReply(ctx, q.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteQuickReply(ctx, q.ID); !store.IsCode(err, store.ENOTFOUND) {
			t.Errorf("deleted twice: %v", err)
		}
	})
}

// TestConversationCreatedMeanwhile: a customer's first message being
// processed, an agent's reply and an assignment, all at once, each find no
// conversation yet and each make it; the ones that lose the race to create
// it take the winner's instead of failing (at READ COMMITTED a missing row
// is not locked, so the loser's INSERT meets the winner's).
func TestConversationCreatedMeanwhile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ann := mustStaff(t, s, "Ann", store.RoleManager)
		by := store.ActorStaff(ann, "api")
		const customers = 30
		var wg sync.WaitGroup
		for i := range customers {
			cid, m := arriveIn(t, s, "telegram", fmt.Sprint(7700+i), "hello")
			wg.Add(3)
			go func() {
				defer wg.Done()
				if err := s.MarkProcessed(ctx, []int64{m}); err != nil {
					t.Errorf("processed: %v", err)
				}
			}()
			go func() {
				defer wg.Done()
				if _, err := s.SendToCustomerBy(ctx, by, cid, "hi there"); err != nil {
					t.Errorf("reply: %v", err)
				}
			}()
			go func() {
				defer wg.Done()
				if _, err := s.UpdateConversation(ctx, by, cid, store.ConversationUpdate{AssigneeID: &ann.ID}); err != nil {
					t.Errorf("assign: %v", err)
				}
			}()
		}
		wg.Wait()
		got := inboxOf(t, s, store.ConversationFilter{Viewer: store.SystemActor(), View: "all", Page: store.Page{Limit: 100}})
		if len(got) != customers {
			t.Fatalf("%d conversations, want %d", len(got), customers)
		}
	})
}
