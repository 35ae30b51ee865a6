package wechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/store"
)

type vectors struct {
	Encrypt struct {
		AESKey      string `json:"aes_key"`
		AppID       string `json:"app_id"`
		Random      string `json:"random"`
		Plaintext   string `json:"plaintext"`
		WantEncrypt string `json:"want_encrypt"`
	} `json:"encrypt"`
	Callback struct {
		Token        string `json:"token"`
		AESKey       string `json:"aes_key"`
		AppID        string `json:"app_id"`
		Timestamp    string `json:"timestamp"`
		Nonce        string `json:"nonce"`
		MsgSignature string `json:"msg_signature"`
		Encrypt      string `json:"encrypt"`
		WantOpenID   string `json:"want_openid"`
		WantText     string `json:"want_text"`
		WantMsgID    string `json:"want_msgid"`
	} `json:"callback"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCryptoVectors checks the library's crypto against WeChat's own
// published sample values.
func TestCryptoVectors(t *testing.T) {
	v := loadVectors(t)
	e := v.Encrypt
	got, err := util.EncryptMsg([]byte(e.Random), []byte(e.Plaintext), e.AppID, e.AESKey)
	if err != nil || string(got) != e.WantEncrypt {
		t.Fatalf("EncryptMsg = %s, %v; want %s", got, err, e.WantEncrypt)
	}
	random, plain, err := util.DecryptMsg(e.AppID, e.WantEncrypt, e.AESKey)
	if err != nil || string(random) != e.Random || string(plain) != e.Plaintext {
		t.Fatalf("DecryptMsg = %q %q %v", random, plain, err)
	}
	if _, _, err := util.DecryptMsg("wx-other-app", e.WantEncrypt, e.AESKey); err == nil {
		t.Fatal("decrypt accepted a message for another app id")
	}
	c := v.Callback
	if got := util.Signature(c.Token, c.Timestamp, c.Nonce, c.Encrypt); got != c.MsgSignature {
		t.Fatalf("msg_signature = %s; want %s", got, c.MsgSignature)
	}
}

// TestPublishedSafeModeCallback feeds WeChat's published safe-mode sample
// through the endpoint.
func TestPublishedSafeModeCallback(t *testing.T) {
	v := loadVectors(t).Callback
	if v.Token != cbToken || v.AppID != appID || v.AESKey != aesKey {
		t.Fatal("harness constants must match the published sample")
	}
	each(t, setupOpts{}, func(t *testing.T, h *harness) {
		// The sample is from 2014: it is fresh only by the store's clock.
		ts, _ := strconv.ParseInt(v.Timestamp, 10, 64)
		h.clock.Advance(time.Unix(ts, 0).Sub(h.clock.Now()))
		q := url.Values{"timestamp": {v.Timestamp}, "nonce": {v.Nonce}, "encrypt_type": {"aes"}, "msg_signature": {v.MsgSignature}}
		q.Set("signature", util.Signature(v.Token, v.Timestamp, v.Nonce))
		wantSuccess(t, h.do(http.MethodPost, q, envelope(v.Encrypt)))
		in := h.inbound(t, v.WantOpenID)
		if len(in) != 1 || in[0].Text != v.WantText || in[0].Kind != "text" {
			t.Fatalf("stored %+v; want one text %q", in, v.WantText)
		}
		// Played again, it is refused: the nonce is used.
		if rec := h.do(http.MethodPost, q, envelope(v.Encrypt)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("replayed sample: %d; want 401", rec.Code)
		}
		// A forged msg_signature is refused and stores nothing new.
		q.Set("nonce", "1320562133")
		q.Set("signature", util.Signature(v.Token, v.Timestamp, "1320562133"))
		q.Set("msg_signature", strings.Repeat("0", 40))
		if rec := h.do(http.MethodPost, q, envelope(v.Encrypt)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("forged msg_signature: %d; want 401", rec.Code)
		}
		if in := h.inbound(t, v.WantOpenID); len(in) != 1 {
			t.Fatalf("stored %d messages; want 1", len(in))
		}
	})
}

func TestURLVerification(t *testing.T) {
	h := setup(t, store.SQLite, setupOpts{})
	q := h.signed(url.Values{"echostr": {"8837425513416421155"}})
	rec := h.do(http.MethodGet, q, "")
	if rec.Code != http.StatusOK || rec.Body.String() != "8837425513416421155" {
		t.Fatalf("verification = %d %q", rec.Code, rec.Body.String())
	}
	q = h.signed(url.Values{"echostr": {"8837425513416421155"}})
	q.Set("signature", strings.Repeat("a", 40))
	if rec := h.do(http.MethodGet, q, ""); rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "8837") {
		t.Fatalf("bad signature = %d %q; want 401 without echo", rec.Code, rec.Body.String())
	}
	if rec := h.do(http.MethodGet, h.signed(nil), ""); rec.Code != http.StatusBadRequest {
		t.Fatalf("no echostr = %d; want 400", rec.Code)
	}
	if rec := h.do(http.MethodPut, h.signed(nil), ""); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT = %d; want 405", rec.Code)
	}
}

// TestInboundKinds: each kind is stored, in plaintext mode and (encrypted)
// in safe mode.
func TestInboundKinds(t *testing.T) {
	for _, mode := range []struct {
		name  string
		plain bool
	}{{"plaintext", true}, {"safe", false}} {
		t.Run(mode.name, func(t *testing.T) { testInboundKinds(t, mode.plain) })
	}
}

func testInboundKinds(t *testing.T, plaintext bool) {
	each(t, setupOpts{plaintext: plaintext}, func(t *testing.T, h *harness) {
		const u = "oUser1"
		hdr := `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oUser1]]></FromUserName><CreateTime>1767225600</CreateTime>`
		cases := []struct {
			body, kind, text string
		}{
			{textXML(u, 1001, "生日 05-17"), "text", "生日 05-17"},
			{hdr + `<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://mmbiz.qpic.cn/x.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId><MsgId>1002</MsgId></xml>`, "image", "http://mmbiz.qpic.cn/x.jpg"},
			{hdr + `<MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[m2]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[积分]]></Recognition><MsgId>1003</MsgId></xml>`, "voice", "积分"},
			{hdr + `<MsgType><![CDATA[location]]></MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[广州市天河区]]></Label><MsgId>1004</MsgId></xml>`, "location", "23.134521,113.358803 广州市天河区"},
			{hdr + `<MsgType><![CDATA[link]]></MsgType><Title><![CDATA[保养指南]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[https://example.com/a]]></Url><MsgId>1005</MsgId></xml>`, "link", "保养指南 https://example.com/a"},
			{textXML(u, 1006, "stop"), "text", "stop"},
		}
		for _, c := range cases {
			wantSuccess(t, h.post(c.body))
		}
		in := h.inbound(t, u)
		if len(in) != len(cases) {
			t.Fatalf("stored %d messages; want %d", len(in), len(cases))
		}
		for i, c := range cases {
			if in[i].Kind != c.kind || in[i].Text != c.text || in[i].Channel != store.ChannelWeChat {
				t.Errorf("message %d = %s %q; want %s %q", i, in[i].Kind, in[i].Text, c.kind, c.text)
			}
		}
		if id := h.identity(t, u); id.LastInboundAt == nil {
			t.Error("last_inbound_at not set")
		}
	})
}

func TestDuplicatesStoredOnce(t *testing.T) {
	each(t, setupOpts{}, func(t *testing.T, h *harness) {
		msg := textXML("oDup", 7001, "你好")
		wantSuccess(t, h.post(msg))
		wantSuccess(t, h.post(msg))
		wantSuccess(t, h.postSafe(t, msg)) // a retry in safe mode is the same message
		ev := eventXML("oDup", 1767225700, "CLICK", "MENU_POINTS")
		wantSuccess(t, h.post(ev))
		wantSuccess(t, h.post(ev))
		// Same openid and time, other event: a different delivery.
		wantSuccess(t, h.post(eventXML("oDup", 1767225700, "VIEW", "https://example.com")))
		in := h.inbound(t, "oDup")
		var got []string
		for _, m := range in {
			got = append(got, m.Kind+":"+m.Text)
		}
		if want := "text:你好 event:click event:view"; strings.Join(got, " ") != want {
			t.Fatalf("stored %v; want %s", got, want)
		}
	})
}

func TestRejectedCallbacksStoreNothing(t *testing.T) {
	each(t, setupOpts{plaintext: true}, func(t *testing.T, h *harness) {
		bad := h.signed(nil)
		bad.Set("signature", strings.Repeat("0", 40))
		if rec := h.do(http.MethodPost, bad, textXML("oBad", 1, "hi")); rec.Code != http.StatusUnauthorized {
			t.Errorf("bad signature: %d; want 401", rec.Code)
		}
		noSig := url.Values{"timestamp": {"1"}, "nonce": {"2"}}
		if rec := h.do(http.MethodPost, noSig, textXML("oBad", 2, "hi")); rec.Code != http.StatusUnauthorized {
			t.Errorf("no signature: %d; want 401", rec.Code)
		}
		for name, body := range map[string]string{
			"not xml":       "hello",
			"empty":         "",
			"truncated":     textXML("oBad", 3, "hi")[:60],
			"no sender":     `<xml><MsgType>text</MsgType><Content>x</Content><MsgId>4</MsgId></xml>`,
			"no msgid":      `<xml><FromUserName>oBad</FromUserName><MsgType>text</MsgType><Content>x</Content></xml>`,
			"long openid":   textXML(strings.Repeat("o", 200), 5, "hi"),
			"json envelope": `{"ToUserName":"gh","FromUserName":"oBad"}`,
		} {
			if rec := h.post(body); rec.Code != http.StatusBadRequest {
				t.Errorf("%s: %d %q; want 400", name, rec.Code, rec.Body.String())
			}
		}
		// Safe mode without a key configured.
		if rec := h.postSafe(t, textXML("oBad", 6, "hi")); rec.Code != http.StatusBadRequest {
			t.Errorf("safe mode without a key: %d; want 400", rec.Code)
		}
		big := textXML("oBad", 7, strings.Repeat("x", 1<<20))
		if rec := h.post(big); rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("over 1 MiB: %d; want 413", rec.Code)
		}
		// Unhandled types are acknowledged and ignored.
		wantSuccess(t, h.post(`<xml><ToUserName>gh</ToUserName><FromUserName>oBad</FromUserName><CreateTime>1767225600</CreateTime><MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>200163836</MsgID><Status>success</Status></xml>`))
		wantSuccess(t, h.post(`<xml><ToUserName>gh</ToUserName><FromUserName>oBad</FromUserName><CreateTime>1767225600</CreateTime><MsgType>event</MsgType><Event>LOCATION</Event><Latitude>23.1</Latitude><Longitude>113.3</Longitude></xml>`))
		wantSuccess(t, h.post(`<xml><ToUserName>gh</ToUserName><FromUserName>oBad</FromUserName><CreateTime>1767225600</CreateTime><MsgType>miniprogrampage</MsgType><MsgId>8</MsgId></xml>`))
		if _, err := h.s.IdentityByExternal(context.Background(), store.ChannelWeChat, "oBad"); !store.IsCode(err, store.ENOTFOUND) {
			t.Fatalf("a refused or ignored callback created a customer: %v", err)
		}
	})
}

func TestSubscribeSourceAndUnsubscribe(t *testing.T) {
	each(t, setupOpts{}, func(t *testing.T, h *harness) {
		const u = "oFan"
		wantSuccess(t, h.post(eventXML(u, 1767225600, "subscribe", "qrscene_spring2027")))
		c := h.customer(t, u)
		if c.Source != "wechat:qrscene:spring2027" {
			t.Fatalf("source = %q; want wechat:qrscene:spring2027", c.Source)
		}
		wantSuccess(t, h.post(eventXML(u, 1767225900, "unsubscribe", "")))
		if id := h.identity(t, u); !id.Unreachable {
			t.Fatal("unsubscribed identity is reachable")
		}
		wantSuccess(t, h.postSafe(t, eventXML(u, 1767226000, "subscribe", "")))
		if id := h.identity(t, u); id.Unreachable {
			t.Fatal("subscribing again did not make the identity reachable")
		}
		// Plain subscribe (search, profile card): source is the channel.
		wantSuccess(t, h.post(eventXML("oPlain", 1767225600, "subscribe", "")))
		if c := h.customer(t, "oPlain"); c.Source != "wechat" {
			t.Fatalf("source = %q; want wechat", c.Source)
		}
		// Unsubscribing without ever writing creates nobody.
		wantSuccess(t, h.post(eventXML("oGhost", 1767225600, "unsubscribe", "")))
		if _, err := h.s.IdentityByExternal(context.Background(), store.ChannelWeChat, "oGhost"); !store.IsCode(err, store.ENOTFOUND) {
			t.Fatalf("unsubscribe created a customer: %v", err)
		}
	})
}

// slowReceiver holds every Receive until release is closed, like a
// database that stalls.
type slowReceiver struct {
	next    bots.Receiver
	release chan struct{}
}

func (s slowReceiver) Receive(ctx context.Context, in bots.Inbound) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.next.Receive(ctx, in)
}

type failingReceiver struct{}

func (failingReceiver) Receive(context.Context, bots.Inbound) error {
	return errors.New("database is down")
}

// TestSlowStoreAnswersInTime: a stalled store still gets "success" within
// the bound, and the message is stored once the store recovers.
func TestSlowStoreAnswersInTime(t *testing.T) {
	each(t, setupOpts{}, func(t *testing.T, h *harness) {
		slow := slowReceiver{next: h.r, release: make(chan struct{})}
		a := setupWith(t, h, slow, 50*time.Millisecond)
		start := time.Now()
		rec := h.deliver(a, textXML("oSlow", 9001, "在吗"))
		wantSuccess(t, rec)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("answered after %v", d)
		}
		if in := h.inbound(t, "oSlow"); len(in) != 0 {
			t.Fatal("stored before the store recovered?")
		}
		close(slow.release)
		deadline := time.Now().Add(10 * time.Second)
		for len(h.inbound(t, "oSlow")) != 1 {
			if time.Now().After(deadline) {
				t.Fatal("message lost after a slow store")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestStoreFailureAsksForRedelivery: a store that fails answers 500, and
// WeChat's redelivery, which may carry the same nonce, is not refused as
// a replay.
func TestStoreFailureAsksForRedelivery(t *testing.T) {
	h := setup(t, store.SQLite, setupOpts{receiver: failingReceiver{}})
	body := textXML("oFail", 1, "hi")
	q := h.safeQuery(t, body)
	for i := range 2 {
		if rec := h.do(http.MethodPost, q, envelope(h.encrypt(t, body))); rec.Code != http.StatusInternalServerError {
			t.Fatalf("delivery %d to a failing store: %d; want 500 so WeChat redelivers", i+1, rec.Code)
		}
	}
}
