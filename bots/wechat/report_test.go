package wechat_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// reportXML is a TEMPLATESENDJOBFINISH event: WeChat's delivery report for
// a template message.
func reportXML(openid string, at, msgID int64, status string) string {
	return fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>%d</MsgID><Status><![CDATA[%s]]></Status></xml>`, openid, at, msgID, status)
}

// TestTemplateDeliveryReports: template messages sent outside the 48h
// window, then WeChat's reports on them. A failure fails the message, a
// block also makes the identity unreachable; success, an unknown msgid or
// another recipient's report change nothing; all are answered "success"
// and none is stored or creates a customer.
func TestTemplateDeliveryReports(t *testing.T) {
	each(t, setupOpts{templates: map[string]string{"birthday": "TPL-BDAY"}}, func(t *testing.T, h *harness) {
		ctx := context.Background()
		const u = "oTpl"
		wantSuccess(t, h.post(textXML(u, 1101, "你好")))
		h.clock.Advance(49 * time.Hour)
		for _, text := range []string{"生日快乐", "祝您生日快乐", "本月到店有礼"} {
			h.queue(t, u, "birthday", text, nil)
		}
		h.dispatch(t, 1)
		out := h.settled(t, u)
		if _, customs, tpls := api.snapshot(); len(out) != 3 || len(tpls) != 3 || len(customs) != 0 {
			t.Fatalf("%d rows, %d templates and %d customer-service messages sent; want 3, 3, 0", len(out), len(tpls), len(customs))
		}
		ids := make([]int64, len(out))    // row ids
		msgIDs := make([]int64, len(out)) // WeChat msgids
		for i, m := range out {
			n, ok := strings.CutPrefix(m.ProviderMsgID, "tpl:")
			id, err := strconv.ParseInt(n, 10, 64)
			if m.Status != store.StatusSent || !ok || err != nil {
				t.Fatalf("row %d: %s, provider id %q; want sent with the template msgid", m.ID, m.Status, m.ProviderMsgID)
			}
			ids[i], msgIDs[i] = m.ID, id
		}
		const (
			sent    = store.StatusSent
			failed  = store.StatusFailed
			blocked = "wechat: failed:user block"
		)
		at := int64(1767400000)
		steps := []struct {
			name, body  string
			safe        bool
			resubscribe bool // before the report
			status      [3]string
			reasons     [3]string
			reachable   bool
			idReason    string
		}{
			{name: "success", body: reportXML(u, at, msgIDs[0], "success"),
				status: [3]string{sent, sent, sent}, reachable: true},
			{name: "unknown msgid", body: reportXML(u, at+1, 42, "failed:user block"),
				status: [3]string{sent, sent, sent}, reachable: true},
			{name: "another recipient", body: reportXML("oStranger", at+2, msgIDs[2], "failed:user block"),
				status: [3]string{sent, sent, sent}, reachable: true},
			{name: "system failure", body: reportXML(u, at+3, msgIDs[1], "failed: system failed"),
				status: [3]string{sent, failed, sent}, reasons: [3]string{"", "wechat: failed: system failed", ""}, reachable: true},
			{name: "blocked, safe mode", body: reportXML(u, at+4, msgIDs[2], "failed:user block"), safe: true,
				status: [3]string{sent, failed, failed}, reasons: [3]string{"", "wechat: failed: system failed", blocked}, idReason: blocked},
			// Following again, then the same report redelivered: the
			// customer stays reachable.
			{name: "repeated after resubscribe", body: reportXML(u, at+4, msgIDs[2], "failed:user block"), resubscribe: true,
				status: [3]string{sent, failed, failed}, reasons: [3]string{"", "wechat: failed: system failed", blocked}, reachable: true},
		}
		for _, st := range steps {
			if st.resubscribe {
				wantSuccess(t, h.post(eventXML(u, at+10, "subscribe", "")))
			}
			before := len(h.inbound(t, u))
			if st.safe {
				wantSuccess(t, h.postSafe(t, st.body))
			} else {
				wantSuccess(t, h.post(st.body))
			}
			for i, id := range ids {
				m, err := h.s.MessageByID(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if m.Status != st.status[i] || m.Reason != st.reasons[i] {
					t.Errorf("%s: message %d is %s %q; want %s %q", st.name, i, m.Status, m.Reason, st.status[i], st.reasons[i])
				}
			}
			id := h.identity(t, u)
			if got := !id.Unreachable; got != st.reachable || (!got && id.UnreachableReason != st.idReason) {
				t.Errorf("%s: identity reachable %v (%q); want %v", st.name, got, id.UnreachableReason, st.reachable)
			}
			if got := len(h.inbound(t, u)); got != before {
				t.Errorf("%s: the report was stored as a message (%d before, %d after)", st.name, before, got)
			}
		}
		if _, err := h.s.IdentityByExternal(ctx, store.ChannelWeChat, "oStranger"); !store.IsCode(err, store.ENOTFOUND) {
			t.Fatalf("a report created a customer: %v", err)
		}
	})
}
