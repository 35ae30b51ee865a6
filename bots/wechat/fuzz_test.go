package wechat_test

import (
	"strings"
	"testing"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/wechat"
)

// FuzzParse: any body either parses into an Inbound the store accepts, is
// ignored, or is an error; never a panic. Seeds: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(textXML("oSeed", 1, "你好")))
	f.Add([]byte(eventXML("oSeed", 1767225600, "subscribe", "qrscene_x")))
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, ok, err := wechat.Parse(raw)
		if err != nil || !ok {
			return
		}
		if in.SenderID == "" || len(in.SenderID) > 64 || in.DedupKey == "" || len(in.DedupKey) > 128 {
			t.Fatalf("bad ids: sender %q dedup %q", in.SenderID, in.DedupKey)
		}
		if in.Kind == bots.KindEvent && in.Event == "" {
			t.Fatal("event without a name")
		}
		if in.Source != "" && (!strings.HasPrefix(in.Source, "wechat:qrscene:") || len(in.Source) > 128) {
			t.Fatalf("bad source %q", in.Source)
		}
	})
}
