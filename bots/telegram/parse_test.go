package telegram_test

import (
	"testing"
	"unicode/utf8"

	"github.com/rapport-crm/rapport/bots/telegram"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name               string
		body               string
		ok                 bool
		kind, text, sender string
	}{
		{"text", textUpdate(1, 42, "/start"), true, "text", "/start", "42"},
		{"photo", `{"update_id":2,"message":{"message_id":1,"date":1,"chat":{"id":42,"type":"private"},"from":{"id":42},"caption":"look","photo":[{"file_id":"small","file_unique_id":"s","width":90,"height":90},{"file_id":"big","file_unique_id":"b","width":800,"height":800}]}}`, true, "photo", "look", "42"},
		{"document", `{"update_id":3,"message":{"message_id":1,"date":1,"chat":{"id":42,"type":"private"},"from":{"id":42},"document":{"file_id":"doc1","file_unique_id":"d","file_name":"a.pdf","mime_type":"application/pdf"}}}`, true, "document", "[文件 a.pdf]", "42"},
		{"bot sender", `{"update_id":4,"message":{"message_id":1,"date":1,"chat":{"id":42,"type":"private"},"from":{"id":42,"is_bot":true},"text":"x"}}`, false, "", "", ""},
		{"sticker", `{"update_id":5,"message":{"message_id":1,"date":1,"chat":{"id":42,"type":"private"},"from":{"id":42},"sticker":{"file_id":"x"}}}`, true, "sticker", "[贴纸]", "42"},
		{"button", `{"update_id":6,"callback_query":{"id":"c","from":{"id":42},"chat_instance":"i","data":"sv:7:2","message":{"message_id":9,"date":1,"chat":{"id":42,"type":"private"},"reply_markup":{"inline_keyboard":[[{"text":"1 😞","callback_data":"sv:7:1"},{"text":"2 😕","callback_data":"sv:7:2"}]]}}}}`, true, "callback", "2 😕", "42"},
		{"button, no markup", `{"update_id":7,"callback_query":{"id":"c","from":{"id":42},"chat_instance":"i","data":"sv:7:2","message":{"message_id":9,"date":1,"chat":{"id":42,"type":"private"}}}}`, true, "callback", "", "42"},
	}
	for _, tt := range tests {
		in, ok, err := telegram.Parse([]byte(tt.body))
		if err != nil || ok != tt.ok {
			t.Errorf("%s: ok=%v err=%v", tt.name, ok, err)
			continue
		}
		if ok && (in.Kind != tt.kind || in.Text != tt.text || in.SenderID != tt.sender || in.DedupKey == "") {
			t.Errorf("%s: got %+v", tt.name, in)
		}
	}
	in, _, _ := telegram.Parse([]byte(`{"update_id":2,"message":{"message_id":1,"date":1,"chat":{"id":42,"type":"private"},"from":{"id":42},"photo":[{"file_id":"small"},{"file_id":"big"}]}}`))
	if in.Media == nil || in.Media.FileID != "big" || in.Text != "[图片]" {
		t.Errorf("photo: text %q media %+v; want the largest size", in.Text, in.Media)
	}
}

// FuzzParse feeds arbitrary bodies to the webhook parser: it must never
// panic, and whatever it accepts must be storable.
func FuzzParse(f *testing.F) {
	f.Add([]byte(textUpdate(1, 42, "/birthday 1990-05-17")))
	f.Add([]byte(`{"update_id":3,"callback_query":{"id":"c","from":{"id":5},"data":"sv:1:5","message":{"message_id":9,"date":1,"chat":{"id":5,"type":"private"}}}}`))
	f.Add([]byte(`{"update_id":4,"my_chat_member":{"chat":{"id":5,"type":"private"},"from":{"id":5},"date":1,"old_chat_member":{"status":"member"},"new_chat_member":{"status":"kicked"}}}`))
	f.Add([]byte(`{"update_id":5,"callback_query":{"id":"c","from":{"id":5},"message":{"date":0,"chat":{"id":5}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, ok, err := telegram.Parse(body)
		if err != nil || !ok {
			return
		}
		if in.SenderID == "" || in.SenderID == "0" || in.ChatID == "" || in.DedupKey == "" || in.Channel != "telegram" {
			t.Fatalf("accepted an update without addresses: %+v", in)
		}
		if !utf8.ValidString(in.SenderID) {
			t.Fatalf("bad sender %q", in.SenderID)
		}
	})
}
