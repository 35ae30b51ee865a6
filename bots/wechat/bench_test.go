package wechat_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/wechat"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
)

// nopReceiver isolates the endpoint's own cost (signature, body, library
// parse and decrypt) from the store's.
type nopReceiver struct{}

func (nopReceiver) Receive(context.Context, bots.Inbound) error { return nil }

func benchCallback(b *testing.B, recv bots.Receiver, s *store.Store, safe bool) {
	cfg := wechat.DefaultConfig()
	cfg.AppID, cfg.AppSecret, cfg.Token = appID, appSecret, cbToken
	if safe {
		cfg.EncodingAESKey = aesKey
	}
	cfg.APIBaseURL = api.srv.URL
	a, err := wechat.New(cfg, wechat.Options{Receiver: recv, Store: s})
	if err != nil {
		b.Fatal(err)
	}
	h := &harness{a: a, cfg: cfg}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		body := textXML(fmt.Sprintf("oBench%d", i%50), int64(i+1), "你好，请问保养多少钱")
		rec := h.post(body)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), "success") {
			b.Fatalf("answer %d %s", rec.Code, rec.Body.String())
		}
	}
}

func BenchmarkCallbackParse(b *testing.B) {
	s := storetest.Open(b, store.SQLite)
	b.Run("plaintext", func(b *testing.B) { benchCallback(b, nopReceiver{}, s, false) })
	b.Run("safe", func(b *testing.B) { benchCallback(b, nopReceiver{}, s, true) })
}

// BenchmarkCallbackStored includes resolving the identity and storing the
// message through the real router.
func BenchmarkCallbackStored(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(d, func(b *testing.B) {
			s := storetest.Open(b, d)
			r := bots.NewRouter(s, bots.RouterOptions{Queue: 1 << 20, Renderer: templates.New(s, templates.Config{})})
			benchCallback(b, r, s, false)
		})
	}
}
