package telegram_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-telegram/bot/models"
	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/telegram"
	"github.com/rapport-crm/rapport/bots/telegram/telegramtest"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "updates", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ptr[T any](v T) *T { return &v }

// kinds are the fixtures of every kind of customer message and what is
// kept of each: kind, text (the caption, or a description) and media.
var kinds = []struct {
	fixture string
	kind    string
	text    string
	media   *store.Media
	contact *bots.SharedContact
}{
	{"voice", "voice", "[语音 0:12]", &store.Media{FileID: "AwACAgIAAxkBAAMNZa4aufUgcNNE1ZtRT_UjQZi80TcAAqw_AAJQAAFxSYAqgaKyPWzUNAQ",
		FileUniqueID: "AgADrD8AAlAAAXFJ", MimeType: "audio/ogg", FileSize: 5953, Duration: 12}, nil},
	{"audio", "audio", "[音频 Wei - Engine noise 3:25]", &store.Media{FileID: "CQACAgIAAxkBAAMOZa4av-engine-audio-file-id",
		FileUniqueID: "AgADawEAAn8VSFY", FileName: "engine.mp3", MimeType: "audio/mpeg", FileSize: 3284012, Duration: 205,
		Performer: "Wei", Title: "Engine noise"}, nil},
	{"video", "video", "右后门的刮痕", &store.Media{FileID: "BAACAgQAAxkBAAMPZa4b-scratch-video-file-id", FileUniqueID: "AgADbgEAAn8VSFY",
		FileName: "scratch.mp4", MimeType: "video/mp4", FileSize: 4260699, Duration: 31, Width: 720, Height: 1280}, nil},
	{"video_note", "video_note", "[视频消息 0:08]", &store.Media{FileID: "DQACAgUAAxkBAAMQZa4c-video-note-file-id",
		FileUniqueID: "AgADKAADsdhYVQ", FileSize: 109288, Duration: 8, Width: 240, Height: 240}, nil},
	{"sticker", "sticker", "[贴纸 🐯]", &store.Media{FileID: "CAACAgIAAxkBAAMTadxW-sticker-file-id", FileUniqueID: "AgADUAIAAladvQo",
		FileSize: 21802, Width: 512, Height: 512, Emoji: "🐯"}, nil},
	{"location", "location", "[位置 31.230416,121.473701]", &store.Media{Latitude: ptr(31.230416), Longitude: ptr(121.473701)}, nil},
	{"venue", "venue", "[地点 东方明珠, 上海市浦东新区世纪大道1号]", &store.Media{Latitude: ptr(31.2397), Longitude: ptr(121.4998),
		Title: "东方明珠", Address: "上海市浦东新区世纪大道1号"}, nil},
	{"contact", "contact", "[名片 Wei Zhang 8613800138000]", &store.Media{Phone: "8613800138000", Name: "Wei Zhang", UserID: "171300001"},
		&bots.SharedContact{Phone: "8613800138000", UserID: "171300001", Name: "Wei Zhang"}},
	{"animation", "animation", "[动图]", &store.Media{FileID: "CgACAgQAAxkBAAMMZa4a-animation-file-id", FileUniqueID: "AgADcwMAAsRqJVI",
		FileName: "happy-tears.mp4", MimeType: "video/mp4", FileSize: 98196, Duration: 2, Width: 320, Height: 320}, nil},
	{"dice", "dice", "[🎯 4]", &store.Media{Emoji: "🎯", DiceValue: 4}, nil},
	{"poll", "poll", "[投票 周六还是周日保养?]", &store.Media{Title: "周六还是周日保养?", Options: []string{"周六", "周日"}}, nil},
	{"odd_field", "text", "/start", nil, nil},
}

// Every kind of customer message parses to its kind, text and details,
// from real update shapes. Before, only text, photo and document were
// mapped: the rest were acknowledged and dropped.
func TestParseKinds(t *testing.T) {
	for _, k := range kinds {
		body := fixture(t, k.fixture)
		in, ok, err := telegram.Parse([]byte(body))
		if err != nil || !ok {
			t.Errorf("%s: ok=%v err=%v", k.fixture, ok, err)
			continue
		}
		if in.Kind != k.kind || in.Text != k.text || in.SenderID != "171300001" || in.ChatID != "171300001" || in.DedupKey == "" {
			t.Errorf("%s: kind %q text %q sender %q chat %q", k.fixture, in.Kind, in.Text, in.SenderID, in.ChatID)
		}
		if diff := cmp.Diff(k.media, in.Media); diff != "" {
			t.Errorf("%s: media (-want +got):\n%s", k.fixture, diff)
		}
		if diff := cmp.Diff(k.contact, in.Contact); diff != "" {
			t.Errorf("%s: contact (-want +got):\n%s", k.fixture, diff)
		}
		if string(in.Raw) != body {
			t.Errorf("%s: raw is not the update", k.fixture)
		}
	}
	// The odd field is one the library's models refuse: decoding into
	// them is what answered such an update 400.
	var u models.Update
	if err := json.Unmarshal([]byte(fixture(t, "odd_field")), &u); err == nil {
		t.Error("odd_field.json decodes into models.Update; it no longer shows the problem")
	}
}

func TestParseRefusesNonUpdates(t *testing.T) {
	for _, body := range []string{``, `[1]`, `{}`, `{"message":{"text":"hi"}}`, `{"update_id":"7"}`, `{"update_id":0}`, `{"update_id":-3}`,
		`{"update_id":1,"message":{"text":5,"chat":{"id":1},"from":{"id":1}}}`} {
		if _, ok, err := telegram.Parse([]byte(body)); err == nil || ok {
			t.Errorf("%s: ok=%v err=%v; want an error", body, ok, err)
		}
	}
	for _, body := range []string{`{"update_id":5,"poll":{"id":"p","question":"q"}}`, `{"update_id":6,"inline_query":7}`,
		`{"update_id":8,"message":{"message_id":1,"date":1,"chat":{"id":42,"type":"private"},"from":{"id":42},"new_chat_title":"x"}}`} {
		if _, ok, err := telegram.Parse([]byte(body)); err != nil || ok {
			t.Errorf("%s: ok=%v err=%v; want ignored", body, ok, err)
		}
	}
	// A contact card of someone else: no user_id, so no proof of anything.
	in, ok, err := telegram.Parse([]byte(`{"update_id":9,"message":{"message_id":1,"date":1,"chat":{"id":42,"type":"private"},"from":{"id":42},"contact":{"phone_number":"+8613900139000","first_name":"Ma"}}}`))
	if err != nil || !ok || in.Contact == nil || in.Contact.UserID != "" || in.Contact.Phone != "+8613900139000" || in.Media.UserID != "" {
		t.Errorf("contact without user_id: %+v %v %v", in.Contact, ok, err)
	}
}

// Through the webhook every kind is stored (answered 200) with its
// details, and the API shows them (store.Message encodes media).
func TestWebhookStoresEveryKind(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		h := setup(t, s, telegramtest.New(t), setupOpts{})
		for _, k := range kinds {
			if rec := h.post(fixture(t, k.fixture), nil); rec.Code != 200 {
				t.Fatalf("%s: status %d %s", k.fixture, rec.Code, rec.Body)
			}
		}
		ms := h.messages(t, h.customerOf(t, 171300001).ID)
		var in []*store.Message
		for _, m := range ms {
			if m.Direction == store.DirectionIn {
				in = append(in, m)
			}
		}
		if len(in) != len(kinds) {
			t.Fatalf("stored %d messages, want %d", len(in), len(kinds))
		}
		byText := map[string]*store.Message{}
		for _, m := range in {
			byText[m.Text] = m
		}
		for _, k := range kinds {
			m := byText[k.text]
			if m == nil || m.Kind != k.kind {
				t.Errorf("%s: stored %+v", k.fixture, m)
				continue
			}
			if diff := cmp.Diff(k.media, m.Media); diff != "" {
				t.Errorf("%s: stored media (-want +got):\n%s", k.fixture, diff)
			}
		}
		b, _ := json.Marshal(byText["[语音 0:12]"])
		if !strings.Contains(string(b), `"media":{"file_id":"AwACAgIAAxkBAAMNZa4aufUgcNNE1ZtRT_UjQZi80TcAAqw_AAJQAAFxSYAqgaKyPWzUNAQ"`) ||
			!strings.Contains(string(b), `"duration":12`) {
			t.Errorf("voice message as the API shows it: %s", b)
		}
	})
}

// Long and odd text through the webhook: stored whole, answered 200.
// Before, MySQL refused them (the raw payload cut at 8 KiB mid-character,
// or text over 64 KiB) and the webhook answered 500, holding back every
// later update while Telegram retried.
func TestWebhookStoresAnyText(t *testing.T) {
	cjk := strings.Repeat("请帮我看看", 600) // 3000 characters
	long := strings.Repeat("x", 70<<10)
	// The emoji's first byte lands 2 bytes before the old 8 KiB cut (the
	// third update: id 102, user 4202).
	atCut := strings.Repeat("a", 8<<10-2-len(rawTextUpdate(102, 4202, ""))+len(`"}}`)) + "😀" + "tail"
	tests := []struct {
		name string
		lit  string // the JSON string literal's content, as it is in the body
		want string
	}{
		{"3000 CJK characters", cjk, cjk},
		{"70 KiB", long, long},
		{"emoji at the old raw cut", atCut, atCut},
		{"invalid UTF-8", "bad \xff\xfe byte", "bad \uFFFD\uFFFD byte"},
		{"NUL", `a\u0000b`, "ab"},
	}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		h := setup(t, s, telegramtest.New(t), setupOpts{noRun: true})
		for i, tt := range tests {
			user := 4200 + int64(i)
			body := rawTextUpdate(int64(100+i), user, tt.lit)
			if tt.name == "emoji at the old raw cut" {
				if at := strings.Index(body, "😀"); at != 8<<10-2 {
					t.Fatalf("emoji at byte %d of the update", at)
				}
			}
			if rec := h.post(body, nil); rec.Code != 200 {
				t.Errorf("%s: status %d %s", tt.name, rec.Code, rec.Body)
				continue
			}
			ms := h.messages(t, h.customerOf(t, user).ID)
			if len(ms) != 1 || ms[0].Text != tt.want {
				t.Errorf("%s: stored %d messages", tt.name, len(ms))
			}
		}
	})
}

// rawTextUpdate is textUpdate with the text's JSON literal as given (raw
// bytes included).
func rawTextUpdate(id, user int64, lit string) string {
	return fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":1767225600,"chat":{"id":%d,"type":"private"},"from":{"id":%d,"is_bot":false,"first_name":"Li"},"text":"`,
		id, id, user, user) + lit + `"}}`
}

// The polled path parses the same way: a polled update is the webhook's
// JSON once encoded back (see handlePolled).
func TestPolledUpdateParsesLikeWebhook(t *testing.T) {
	for _, k := range kinds[:len(kinds)-1] { // odd_field never reaches the library's models
		var u models.Update
		if err := json.Unmarshal([]byte(fixture(t, k.fixture)), &u); err != nil {
			t.Fatalf("%s: %v", k.fixture, err)
		}
		body, err := json.Marshal(&u)
		if err != nil {
			t.Fatal(err)
		}
		in, ok, err := telegram.Parse(body)
		if err != nil || !ok || in.Kind != k.kind || in.Text != k.text {
			t.Errorf("%s re-encoded: %s %q ok=%v err=%v", k.fixture, in.Kind, in.Text, ok, err)
			continue
		}
		if diff := cmp.Diff(k.media, in.Media); diff != "" {
			t.Errorf("%s re-encoded: media (-want +got):\n%s", k.fixture, diff)
		}
	}
}
