package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// sentMessage enqueues one outbound message to openid and completes it as
// sent with the provider id, as the dispatcher does.
func sentMessage(t *testing.T, s *store.Store, openid, providerID string) (*store.Message, *store.Identity) {
	t.Helper()
	ctx := context.Background()
	id, err := s.ResolveIdentity(ctx, store.Contact{Channel: store.ChannelWeChat, ExternalID: openid})
	if err != nil {
		t.Fatal(err)
	}
	cid, iid := id.CustomerID, id.ID
	if _, err := s.Enqueue(ctx, []store.Outbound{{
		CustomerID: &cid, IdentityID: &iid, Channel: store.ChannelWeChat, ChatID: openid,
		Text: "生日快乐", Workflow: "birthday", IdempotencyKey: "test:" + providerID,
	}}); err != nil {
		t.Fatal(err)
	}
	ms, err := s.ClaimOutbox(ctx, store.ChannelWeChat, 10, 0)
	if err != nil || len(ms) != 1 {
		t.Fatalf("claimed %d rows: %v", len(ms), err)
	}
	d := store.Delivery{ID: ms[0].ID, ClaimedBy: ms[0].ClaimedBy, Status: store.StatusSent, ProviderMsgID: providerID, Attempted: true}
	if err := s.CompleteOutbox(ctx, []store.Delivery{d}); err != nil {
		t.Fatal(err)
	}
	return ms[0], id
}

func TestMarkUndelivered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m1, id := sentMessage(t, s, "oA", "tpl:1001")
		m2, _ := sentMessage(t, s, "oA", "tpl:1002")
		report := func(msgID, chat string, unreachable bool) store.Undelivered {
			return store.Undelivered{Channel: store.ChannelWeChat, ChatID: chat, ProviderMsgID: msgID,
				Reason: fmt.Sprintf("wechat: failed %s", msgID), Unreachable: unreachable}
		}
		for _, c := range []struct {
			name        string
			u           store.Undelivered
			wantChanged bool
			wantCode    string
		}{
			{"unknown provider id", report("tpl:9999", "oA", true), false, store.ENOTFOUND},
			{"another chat", report("tpl:1001", "oB", true), false, store.ENOTFOUND},
			{"no provider id", report("", "oA", true), false, store.EINVALID},
			{"failed", report("tpl:1001", "oA", false), true, ""},
			{"failed again", report("tpl:1001", "oA", false), false, ""},
			{"blocked", report("tpl:1002", "oA", true), true, ""},
		} {
			changed, err := s.MarkUndelivered(ctx, c.u)
			if changed != c.wantChanged || store.ErrorCode(err) != c.wantCode {
				t.Errorf("%s: changed %v, err %v; want %v, code %q", c.name, changed, err, c.wantChanged, c.wantCode)
			}
		}
		for _, c := range []struct {
			m      *store.Message
			reason string
		}{{m1, "wechat: failed tpl:1001"}, {m2, "wechat: failed tpl:1002"}} {
			got, err := s.MessageByID(ctx, c.m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != store.StatusFailed || got.Reason != c.reason {
				t.Errorf("message %d: %s %q; want failed %q", got.ID, got.Status, got.Reason, c.reason)
			}
		}
		got, err := s.IdentityByExternal(ctx, store.ChannelWeChat, "oA")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != id.ID || !got.Unreachable || got.UnreachableReason != "wechat: failed tpl:1002" {
			t.Fatalf("identity unreachable %v %q; want true with the block's reason", got.Unreachable, got.UnreachableReason)
		}

		// A report delivered again after the customer came back leaves
		// them reachable.
		if err := s.SetIdentityReachable(ctx, id.ID, true, ""); err != nil {
			t.Fatal(err)
		}
		if changed, err := s.MarkUndelivered(ctx, report("tpl:1002", "oA", true)); changed || err != nil {
			t.Fatalf("repeated report: changed %v, %v", changed, err)
		}
		if got, _ := s.IdentityByExternal(ctx, store.ChannelWeChat, "oA"); got.Unreachable {
			t.Fatal("a repeated report made the identity unreachable again")
		}
	})
}

// TestMarkUndeliveredStaff: a template message to a staff member's WeChat
// account is found through the staff member, not a customer.
func TestMarkUndeliveredStaff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ann := mustStaff(t, s, "Ann", store.RoleAgent)
		code, _, err := s.CreateBindingCode(ctx, ann.ID, store.SystemActor())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.RedeemBindingCode(ctx, store.BindRequest{Channel: store.ChannelWeChat, ExternalID: "oStaff", Code: code}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Enqueue(ctx, []store.Outbound{{StaffID: &ann.ID, Channel: store.ChannelWeChat, ChatID: "oStaff", Text: "新任务", IdempotencyKey: "task:1:new"}}); err != nil {
			t.Fatal(err)
		}
		ms, err := s.ClaimOutbox(ctx, store.ChannelWeChat, 10, time.Minute)
		if err != nil || len(ms) != 1 {
			t.Fatalf("claimed %d rows: %v", len(ms), err)
		}
		if err := s.CompleteOutbox(ctx, []store.Delivery{{ID: ms[0].ID, ClaimedBy: ms[0].ClaimedBy, Status: store.StatusSent, ProviderMsgID: "tpl:42", Attempted: true}}); err != nil {
			t.Fatal(err)
		}
		changed, err := s.MarkUndelivered(ctx, store.Undelivered{Channel: store.ChannelWeChat, ChatID: "oStaff", ProviderMsgID: "tpl:42", Reason: "wechat: failed"})
		if !changed || err != nil {
			t.Fatalf("changed %v, %v", changed, err)
		}
		if m, _ := s.MessageByID(ctx, ms[0].ID); m.Status != store.StatusFailed {
			t.Errorf("status %s, want failed", m.Status)
		}
	})
}
