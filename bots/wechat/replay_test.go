package wechat_test

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/wechat"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
)

// safeAt is a safe-mode query for body signed with the given timestamp and
// nonce.
func (h *harness) safeAt(t *testing.T, body, ts, nonce string) url.Values {
	return url.Values{
		"timestamp": {ts}, "nonce": {nonce}, "signature": {util.Signature(cbToken, ts, nonce)},
		"encrypt_type": {"aes"}, "msg_signature": {util.Signature(cbToken, ts, nonce, h.encrypt(t, body))},
	}
}

// TestReplayRefused: a captured callback played again is refused (401)
// by this replica and by another on the same database, and so is one
// whose timestamp is more than 300 s off the store's clock.
func TestReplayRefused(t *testing.T) {
	each(t, setupOpts{}, func(t *testing.T, h *harness) {
		body := textXML("oReplay", 3001, "你好")
		q := h.safeQuery(t, body)
		wantSuccess(t, h.do(http.MethodPost, q, envelope(h.encrypt(t, body))))
		if rec := h.do(http.MethodPost, q, envelope(h.encrypt(t, body))); rec.Code != http.StatusUnauthorized {
			t.Fatalf("replay: %d %q; want 401", rec.Code, rec.Body.String())
		}
		replica := setupWith(t, h, h.r, 0)
		if rec := h.doWith(replica, http.MethodPost, q, envelope(h.encrypt(t, body))); rec.Code != http.StatusUnauthorized {
			t.Fatalf("replay to another replica: %d; want 401", rec.Code)
		}
		// The nonce is used whatever the message: a new body under the
		// old nonce is refused too.
		other := textXML("oReplay", 3002, "换个内容")
		if rec := h.do(http.MethodPost, h.safeAt(t, other, q.Get("timestamp"), q.Get("nonce")), envelope(h.encrypt(t, other))); rec.Code != http.StatusUnauthorized {
			t.Fatalf("used nonce, new body: %d; want 401", rec.Code)
		}

		now := h.clock.Now()
		for i, c := range []struct {
			name, ts, nonce string
			want            int
		}{
			{"301 s old", strconv.FormatInt(now.Add(-301*time.Second).Unix(), 10), "", 401},
			{"301 s ahead", strconv.FormatInt(now.Add(301*time.Second).Unix(), 10), "", 401},
			{"not a number", "yesterday", "", 401},
			{"no timestamp", "", "", 401},
			{"no nonce", strconv.FormatInt(now.Unix(), 10), "-", 401},
			{"nonce too long", strconv.FormatInt(now.Unix(), 10), strings.Repeat("9", 65), 401},
			{"nonce with a space", strconv.FormatInt(now.Unix(), 10), "12 34", 401},
			{"299 s old", strconv.FormatInt(now.Add(-299*time.Second).Unix(), 10), "", 200},
			{"299 s ahead", strconv.FormatInt(now.Add(299*time.Second).Unix(), 10), "", 200},
		} {
			nonce := c.nonce
			switch nonce {
			case "":
				nonce = strconv.Itoa(5000 + i)
			case "-":
				nonce = ""
			}
			openid := "oTs" + strconv.Itoa(i)
			b := textXML(openid, int64(4000+i), "hi")
			rec := h.do(http.MethodPost, h.safeAt(t, b, c.ts, nonce), envelope(h.encrypt(t, b)))
			if rec.Code != c.want {
				t.Errorf("%s: %d %q; want %d", c.name, rec.Code, rec.Body.String(), c.want)
			}
			if stored := len(h.inbound(t, openid)) == 1; stored != (c.want == 200) {
				t.Errorf("%s: stored = %v", c.name, stored)
			}
		}
		if in := h.inbound(t, "oReplay"); len(in) != 1 {
			t.Fatalf("stored %d messages for oReplay; want 1", len(in))
		}
	})
}

// TestSafeModeOnly: with encoding_aes_key set, only encrypted callbacks
// with a valid msg_signature are accepted; URL verification still works.
func TestSafeModeOnly(t *testing.T) {
	each(t, setupOpts{}, func(t *testing.T, h *harness) {
		body := textXML("oBad", 1, "hi")
		if rec := h.postPlain(body); rec.Code != http.StatusUnauthorized {
			t.Errorf("plaintext in safe mode: %d; want 401", rec.Code)
		}
		noSig := h.safeQuery(t, body)
		noSig.Del("msg_signature")
		if rec := h.do(http.MethodPost, noSig, envelope(h.encrypt(t, body))); rec.Code != http.StatusUnauthorized {
			t.Errorf("no msg_signature: %d; want 401", rec.Code)
		}
		noType := h.safeQuery(t, body)
		noType.Del("encrypt_type")
		if rec := h.do(http.MethodPost, noType, envelope(h.encrypt(t, body))); rec.Code != http.StatusUnauthorized {
			t.Errorf("no encrypt_type: %d; want 401", rec.Code)
		}
		forged := h.safeQuery(t, body)
		forged.Set("msg_signature", strings.Repeat("0", 40))
		if rec := h.do(http.MethodPost, forged, envelope(h.encrypt(t, body))); rec.Code != http.StatusUnauthorized {
			t.Errorf("forged msg_signature: %d; want 401", rec.Code)
		}
		// Garbage ciphertext, and a message for another app: 400.
		q := h.signed(url.Values{"encrypt_type": {"aes"}})
		q.Set("msg_signature", util.Signature(cbToken, q.Get("timestamp"), q.Get("nonce"), "AAAA"))
		if rec := h.do(http.MethodPost, q, envelope("AAAA")); rec.Code != http.StatusBadRequest {
			t.Errorf("bad ciphertext: %d; want 400", rec.Code)
		}
		enc, _ := util.EncryptMsg([]byte("aaaabbbbccccdddd"), []byte(body), "wx-another-app", aesKey)
		q = h.signed(url.Values{"encrypt_type": {"aes"}})
		q.Set("msg_signature", util.Signature(cbToken, q.Get("timestamp"), q.Get("nonce"), string(enc)))
		if rec := h.do(http.MethodPost, q, envelope(string(enc))); rec.Code != http.StatusBadRequest {
			t.Errorf("other app id: %d; want 400", rec.Code)
		}
		if _, err := h.s.IdentityByExternal(context.Background(), store.ChannelWeChat, "oBad"); !store.IsCode(err, store.ENOTFOUND) {
			t.Fatalf("a refused callback created a customer: %v", err)
		}
		verify := h.do(http.MethodGet, h.signed(url.Values{"echostr": {"42"}}), "")
		if verify.Code != http.StatusOK || verify.Body.String() != "42" {
			t.Fatalf("URL verification in safe mode: %d %q", verify.Code, verify.Body.String())
		}
	})
}

func TestAESKeyValidated(t *testing.T) {
	s := setup(t, store.SQLite, setupOpts{}).s
	for _, c := range []struct {
		name, key string
		ok        bool
	}{
		{"published sample", aesKey, true},
		{"42 characters", aesKey[:42], false},
		{"44 characters", aesKey + "A", false},
		{"not base64", aesKey[:42] + "!", false},
		{"url alphabet", aesKey[:42] + "-", false},
	} {
		cfg := wechat.DefaultConfig()
		cfg.AppID, cfg.AppSecret, cfg.Token, cfg.EncodingAESKey = appID, appSecret, cbToken, c.key
		cfg.APIBaseURL = api.srv.URL
		_, err := wechat.New(cfg, wechat.Options{Receiver: bots.NewRouter(s, bots.RouterOptions{Renderer: templates.New(s, templates.Config{})}), Store: s})
		if c.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), "wechat.encoding_aes_key") {
			t.Errorf("%s: err = %v; want ok=%v and the key named", c.name, err, c.ok)
		}
	}
}

// TestTokenFailuresDegrade: access tokens that can't be fetched (here: the
// egress IP is not whitelisted) make the channel degraded after a few
// tries in a row, and ok again once one is fetched.
func TestTokenFailuresDegrade(t *testing.T) {
	api.reset()
	health := bots.NewHealth(nil, slog.New(slog.DiscardHandler))
	h := setup(t, store.SQLite, setupOpts{opts: wechat.Options{Health: health}})
	ctx := context.Background()
	const u = "oHealth"
	wantSuccess(t, h.post(textXML(u, 1, "hi")))
	state := func() string { c, _ := health.Get(store.ChannelWeChat); return c.State }

	api.mu.Lock()
	api.tokenErr = 40164
	api.mu.Unlock()
	for i := range 3 {
		_, err := h.a.Send(ctx, h.queue(t, u, "", "回复", nil))
		if se := sendErr(t, err); se.Outcome != bots.Retry {
			t.Fatalf("send %d: %+v; want retry", i, se)
		}
		if want := map[bool]string{false: "", true: bots.StateDegraded}[i == 2]; state() != want {
			t.Fatalf("after %d failed fetches: state %q; want %q", i+1, state(), want)
		}
	}
	if c, _ := health.Get(store.ChannelWeChat); !strings.Contains(c.Reason, "40164") || strings.Contains(c.Reason, appSecret) {
		t.Errorf("reason %q: want the errcode, not the secret", c.Reason)
	}
	api.mu.Lock()
	api.tokenErr = 0
	api.mu.Unlock()
	if _, err := h.a.Send(ctx, h.queue(t, u, "", "回复", nil)); err != nil {
		t.Fatal(err)
	}
	if state() != bots.StateOK {
		t.Fatalf("after a token was fetched: state %q; want ok", state())
	}
}

// TestNonceCheckBounded: the nonce check is a database write, and WeChat
// gives up after 5 s: with the nonce's row locked by another transaction
// (a stalled database) the callback is still answered in time and the
// message stored.
func TestNonceCheckBounded(t *testing.T) {
	cfg := storetest.Config(t, store.MySQL)
	h := setup(t, store.MySQL, setupOpts{db: &cfg})
	db, err := sql.Open("mysql", cfg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const nonce = "777001"
	if _, err := tx.Exec("INSERT INTO kv (name, value, updated_at) VALUES (?, 'other', NOW())", "wechat:nonce:"+nonce); err != nil {
		t.Fatal(err)
	}
	body := textXML("oStall", 8001, "在吗")
	start := time.Now()
	rec := h.do(http.MethodPost, h.safeAt(t, body, strconv.FormatInt(h.clock.Now().Unix(), 10), nonce), envelope(h.encrypt(t, body)))
	wantSuccess(t, rec)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("answered after %v", d)
	}
	if in := h.inbound(t, "oStall"); len(in) != 1 {
		t.Fatalf("stored %d messages; want 1", len(in))
	}
}
