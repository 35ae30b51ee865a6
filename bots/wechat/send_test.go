package wechat_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/wechat"
	"github.com/rapport-crm/rapport/store"
)

// queue writes one outbound message to openid's outbox and returns the row.
func (h *harness) queue(t *testing.T, openid, workflow, text string, x *store.Extras) *store.Message {
	t.Helper()
	ctx := context.Background()
	id := h.identity(t, openid)
	cid, iid := id.CustomerID, id.ID
	key := fmt.Sprintf("test:%s:%d", openid, time.Now().UnixNano())
	if _, err := h.s.Enqueue(ctx, []store.Outbound{{
		CustomerID: &cid, IdentityID: &iid, Channel: store.ChannelWeChat, ChatID: openid,
		Text: text, Extras: x, Workflow: workflow, IdempotencyKey: key,
	}}); err != nil {
		t.Fatal(err)
	}
	ms, _, err := h.s.ListMessages(ctx, cid, store.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return ms[len(ms)-1]
}

func sendErr(t *testing.T, err error) *bots.SendError {
	t.Helper()
	var se *bots.SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *bots.SendError", err)
	}
	return se
}

func TestSendWindow(t *testing.T) {
	each(t, setupOpts{templates: map[string]string{"birthday": "TPL-BDAY"}}, func(t *testing.T, h *harness) {
		ctx := context.Background()
		const u = "oWin"
		wantSuccess(t, h.post(textXML(u, 501, "你好")))

		// Inside 48 h: a customer-service message.
		m := h.queue(t, u, "", "您好，有什么可以帮您？", nil)
		if _, err := h.a.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(47 * time.Hour)
		if _, err := h.a.Send(ctx, h.queue(t, u, "birthday", "生日快乐", nil)); err != nil {
			t.Fatal(err)
		}
		_, customs, tpls := api.snapshot()
		want := []customSent{{u, "您好，有什么可以帮您？"}, {u, "生日快乐"}}
		if diff := cmp.Diff(want, customs); diff != "" || len(tpls) != 0 {
			t.Fatalf("inside the window (-want +got):\n%s templates: %v", diff, tpls)
		}

		// Outside: the workflow's template, fields from the text...
		h.clock.Advance(2 * time.Hour)
		m = h.queue(t, u, "birthday", "生日快乐！\n本月到店送保养一次", nil)
		pid, err := h.a.Send(ctx, m)
		if err != nil || !strings.HasPrefix(pid, "tpl:") {
			t.Fatalf("template send = %q, %v", pid, err)
		}
		// ... or from the payload's template data.
		if _, err := h.a.Send(ctx, h.queue(t, u, "birthday", "x", &store.Extras{TemplateData: map[string]string{"thing1": "王芳", "time2": "2027-05-17"}})); err != nil {
			t.Fatal(err)
		}
		_, customs, tpls = api.snapshot()
		wantT := []templateSent{
			{u, "TPL-BDAY", fmt.Sprintf("rapport-%d", m.ID), map[string]string{"first": "生日快乐！", "keyword1": "本月到店送保养一次", "keyword2": "", "remark": ""}},
			{u, "TPL-BDAY", tpls[len(tpls)-1].ClientMsgID, map[string]string{"thing1": "王芳", "time2": "2027-05-17"}},
		}
		if diff := cmp.Diff(wantT, tpls); diff != "" || len(customs) != 2 {
			t.Fatalf("outside the window (-want +got):\n%s customs: %d", diff, len(customs))
		}

		// Outside, no template for the workflow (or no workflow): skipped.
		for _, wf := range []string{"winback", ""} {
			_, err = h.a.Send(ctx, h.queue(t, u, wf, "好久不见", nil))
			if se := sendErr(t, err); se.Outcome != bots.Skip || se.Reason != wechat.SkipNoTemplate {
				t.Fatalf("workflow %q: %+v; want skip %q", wf, se, wechat.SkipNoTemplate)
			}
		}
		// The shared token expires on the store's clock (after 7200-600 s):
		// fetched at the start, after 47 h and after 49 h.
		if fetches, _, _ := api.snapshot(); fetches != 3 {
			t.Fatalf("%d token fetches; want 3", fetches)
		}
	})
}

// run starts a dispatcher for the adapter until the test ends.
func (h *harness) dispatch(t *testing.T, workers int) {
	t.Helper()
	d := bots.NewDispatcher(h.s, bots.DispatcherOptions{Poll: 10 * time.Millisecond, Workers: workers})
	d.Add(h.a, bots.Limits{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// settled waits until none of the customer's outbound rows is pending.
func (h *harness) settled(t *testing.T, openid string) []*store.Message {
	t.Helper()
	cid := h.identity(t, openid).CustomerID
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms, _, err := h.s.ListMessages(context.Background(), cid, store.Page{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		var out []*store.Message
		pending := false
		for _, m := range ms {
			if m.Direction == store.DirectionOut {
				out = append(out, m)
				pending = pending || m.Status == store.StatusQueued || m.Status == store.StatusSending
			}
		}
		if !pending {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatal("outbox did not settle")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestQuotaPerWindow: 5 customer-service messages per customer message,
// even with many dispatch workers racing, then skipped without a template.
func TestQuotaPerWindow(t *testing.T) {
	each(t, setupOpts{}, func(t *testing.T, h *harness) {
		const u = "oQuota"
		wantSuccess(t, h.post(textXML(u, 601, "在吗")))
		for i := range 7 {
			h.queue(t, u, "", fmt.Sprintf("回复 %d", i), nil)
		}
		h.dispatch(t, 16)
		out := h.settled(t, u)
		count := map[string]int{}
		for _, m := range out {
			count[m.Status]++
			if m.Status == store.StatusSkipped && !strings.Contains(m.Reason, "quota") {
				t.Errorf("skip reason %q does not name the quota", m.Reason)
			}
		}
		if count[store.StatusSent] != 5 || count[store.StatusSkipped] != 2 {
			t.Fatalf("statuses %v; want 5 sent, 2 skipped", count)
		}
		if _, customs, _ := api.snapshot(); len(customs) != 5 {
			t.Fatalf("%d customer-service messages reached WeChat; want 5", len(customs))
		}
		// A new customer message opens a new window.
		h.clock.Advance(time.Minute)
		wantSuccess(t, h.post(textXML(u, 602, "还有一个问题")))
		h.queue(t, u, "", "请讲", nil)
		if out := h.settled(t, u); out[len(out)-1].Status != store.StatusSent {
			t.Fatalf("after a new message: %s %s", out[len(out)-1].Status, out[len(out)-1].Reason)
		}
	})
}

// TestSubscribeWelcomeWindow: following opens a one-minute window of 3.
func TestSubscribeWelcomeWindow(t *testing.T) {
	each(t, setupOpts{}, func(t *testing.T, h *harness) {
		ctx := context.Background()
		const u = "oNew"
		wantSuccess(t, h.post(eventXML(u, 1767225600, "subscribe", "")))
		if _, err := h.a.Send(ctx, h.queue(t, u, "", "欢迎关注", nil)); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(2 * time.Minute)
		_, err := h.a.Send(ctx, h.queue(t, u, "", "还在吗", nil))
		if se := sendErr(t, err); se.Outcome != bots.Skip {
			t.Fatalf("two minutes after following: %+v; want skip", se)
		}
	})
}

func TestUnsubscribedIsUnreachable(t *testing.T) {
	each(t, setupOpts{}, func(t *testing.T, h *harness) {
		const u = "oGone"
		wantSuccess(t, h.post(textXML(u, 701, "hi")))
		api.mu.Lock()
		api.customErr[u] = 43004
		api.mu.Unlock()
		h.queue(t, u, "", "您好", nil)
		h.dispatch(t, 1)
		out := h.settled(t, u)
		if out[0].Status != store.StatusFailed || !strings.Contains(out[0].Reason, "43004") {
			t.Fatalf("43004 gave %s %q", out[0].Status, out[0].Reason)
		}
		if id := h.identity(t, u); !id.Unreachable {
			t.Fatal("identity still reachable after 43004")
		}
	})
}

func TestSendErrorClasses(t *testing.T) {
	each(t, setupOpts{templates: map[string]string{"survey": "TPL-SURVEY"}}, func(t *testing.T, h *harness) {
		ctx := context.Background()
		const u = "oErr"
		wantSuccess(t, h.post(textXML(u, 801, "hi")))
		for _, c := range []struct {
			code    int
			outcome bots.Outcome
			after   time.Duration
		}{
			{-1, bots.Retry, 0},
			{45009, bots.RetryAfter, time.Hour},
			{40003, bots.Fail, 0},
		} {
			api.mu.Lock()
			api.customErr[u] = c.code
			api.mu.Unlock()
			_, err := h.a.Send(ctx, h.queue(t, u, "", "x", nil))
			if se := sendErr(t, err); se.Outcome != c.outcome || se.After != c.after {
				t.Errorf("errcode %d: outcome %v after %v; want %v %v", c.code, se.Outcome, se.After, c.outcome, c.after)
			}
		}
		// WeChat says the window is closed (45015) or used up (45047):
		// the template if the workflow has one, else skip.
		api.mu.Lock()
		api.customErr[u] = 45047
		api.mu.Unlock()
		if pid, err := h.a.Send(ctx, h.queue(t, u, "survey", "请为本次服务打分 1-5", nil)); err != nil || !strings.HasPrefix(pid, "tpl:") {
			t.Fatalf("45047 with a template: %q %v", pid, err)
		}
		_, err := h.a.Send(ctx, h.queue(t, u, "", "x", nil))
		if se := sendErr(t, err); se.Outcome != bots.Skip || !strings.Contains(se.Reason, "45047") {
			t.Fatalf("45047 without a template: %+v", se)
		}
		// A gateway error retries, and the token never shows in the error.
		api.mu.Lock()
		api.status = 502
		api.mu.Unlock()
		_, err = h.a.Send(ctx, h.queue(t, u, "", "x", nil))
		se := sendErr(t, err)
		if se.Outcome != bots.Retry || strings.Contains(se.Error(), "TOKEN-") || !strings.Contains(se.Error(), "REDACTED") {
			t.Fatalf("502: %v (outcome %v); want retry with the token redacted", se, se.Outcome)
		}
	})
}

// TestStaleTokenRefetchedOnce: 40001 drops the shared token, fetches a
// new one and retries once.
func TestStaleTokenRefetchedOnce(t *testing.T) {
	each(t, setupOpts{}, func(t *testing.T, h *harness) {
		ctx := context.Background()
		const u = "oTok"
		wantSuccess(t, h.post(textXML(u, 901, "hi")))
		if _, err := h.a.Send(ctx, h.queue(t, u, "", "one", nil)); err != nil {
			t.Fatal(err)
		}
		api.revoke() // someone else fetched a token
		if _, err := h.a.Send(ctx, h.queue(t, u, "", "two", nil)); err != nil {
			t.Fatalf("send after the token was revoked: %v", err)
		}
		fetches, customs, _ := api.snapshot()
		if fetches != 2 || len(customs) != 2 {
			t.Fatalf("fetches %d, sends %d; want 2 and 2", fetches, len(customs))
		}
		// A token that stays refused is retried once, not forever.
		api.mu.Lock()
		api.customErr[u] = 40001
		api.mu.Unlock()
		_, err := h.a.Send(ctx, h.queue(t, u, "", "three", nil))
		if se := sendErr(t, err); se.Outcome != bots.Retry {
			t.Fatalf("persistent 40001: %+v", se)
		}
		if fetches, _, _ := api.snapshot(); fetches != 3 {
			t.Fatalf("fetches %d; want 3 (one refetch)", fetches)
		}
	})
}

// TestTokenSharedAcrossReplicas: two replicas on one database fetch one
// token between them, however many sends race for it. With a token per
// process each fetch would invalidate the other's (40001 storms).
func TestTokenSharedAcrossReplicas(t *testing.T) {
	each(t, setupOpts{}, func(t *testing.T, h *harness) {
		ctx := context.Background()
		const u = "oShared"
		wantSuccess(t, h.post(textXML(u, 1001, "hi")))
		replicas := []*wechat.Adapter{h.a}
		for i := range 2 {
			a, err := wechat.New(h.cfg, wechat.Options{Receiver: h.r, Store: h.s, Holder: fmt.Sprintf("replica-%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			replicas = append(replicas, a)
		}
		api.mu.Lock()
		api.tokenDelay = 150 * time.Millisecond
		api.mu.Unlock()
		var wg sync.WaitGroup
		for i := range 12 {
			m := h.queue(t, u, "", fmt.Sprint(i), nil)
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Replicas do not share an in-process quota, so some of
				// these are skipped; what matters is the token.
				_, err := replicas[i%len(replicas)].Send(ctx, m)
				var se *bots.SendError
				if err != nil && !(errors.As(err, &se) && se.Outcome == bots.Skip) {
					t.Errorf("send %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if fetches, _, _ := api.snapshot(); fetches != 1 {
			t.Fatalf("%d token fetches by 3 replicas; want 1", fetches)
		}
	})
}
