package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// oldRawCut is where release 8 cut the raw payload (store.MaxRawBytes was
// 8 KiB), in the middle of whatever character stood there.
const oldRawCut = 8 << 10

// emojiAtOldCut is a payload whose 4-byte emoji starts 2 bytes before the
// old cut, so that cutting there left half a character (MySQL error 1366).
func emojiAtOldCut() string {
	return strings.Repeat("a", oldRawCut-2) + "😀" + strings.Repeat("b", 100)
}

// Any content a platform accepts is stored, and comes back as stored:
// long text whole, invalid UTF-8 replaced, raw payloads cut on a
// character boundary. Release 8 failed on MySQL with "Data too long" and
// error 1366 (the raw payload cut mid-character).
func TestRecordArrivalKeepsAnyContent(t *testing.T) {
	cjk := strings.Repeat("中", 3000)
	long := strings.Repeat("长文本🙂", 70<<10/len("长文本🙂")+1) // over 70 KiB
	tests := []struct {
		name     string
		text     string
		raw      string
		name2    string // sender's display name
		wantText string
		wantName string
	}{
		{name: "3000 CJK characters", text: cjk, raw: `{"text":"` + cjk + `"}`, wantText: cjk},
		{name: "70 KiB of text", text: long, raw: long, wantText: long},
		{name: "invalid UTF-8", text: "ok \xff\xfe end", raw: "raw \xc3\x28 \xf0\x28\x8c\x28", name2: "Li \xe4\xb8",
			wantText: "ok \uFFFD end", wantName: "Li \uFFFD"},
		{name: "emoji at the old raw cut", text: "hi", raw: emojiAtOldCut(), wantText: "hi"},
		{name: "NUL bytes", text: "a\x00b", raw: "{\"text\":\"a\\u0000b\"}\x00", name2: "N\x00ull", wantText: "ab", wantName: "Null"},
	}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for i, tt := range tests {
			sender := fmt.Sprint("content-", i)
			m, id, _, err := s.RecordArrival(ctx, store.Arrival{
				Contact: store.Contact{Channel: store.ChannelTelegram, ExternalID: sender, DisplayName: tt.name2},
				In:      store.Inbound{Channel: store.ChannelTelegram, DedupKey: sender, ChatID: sender, Text: tt.text, Raw: []byte(tt.raw)},
			})
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
				continue
			}
			got, err := s.MessageByID(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Text != tt.wantText {
				t.Errorf("%s: text stored as %d bytes %q..., want %d bytes", tt.name, len(got.Text), clipBytes(got.Text, 40), len(tt.wantText))
			}
			if !utf8.ValidString(got.Raw) || strings.ContainsRune(got.Raw, 0) || len(got.Raw) > store.MaxRawBytes {
				t.Errorf("%s: raw is %d bytes, valid UTF-8 %v", tt.name, len(got.Raw), utf8.ValidString(got.Raw))
			}
			if want := validRaw(tt.raw); got.Raw != want {
				t.Errorf("%s: raw stored as %d bytes, want %d", tt.name, len(got.Raw), len(want))
			}
			c, err := s.CustomerByID(ctx, id.CustomerID)
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tt.wantName {
				t.Errorf("%s: customer name %q, want %q", tt.name, c.Name, tt.wantName)
			}
		}
	})
}

// validRaw is what the store keeps of a raw payload: valid UTF-8 without
// NUL, at most MaxRawBytes ending on a whole character.
func validRaw(raw string) string {
	raw = strings.ReplaceAll(strings.ToValidUTF8(raw, "\uFFFD"), "\x00", "")
	if len(raw) <= store.MaxRawBytes {
		return raw
	}
	n := store.MaxRawBytes
	for !utf8.RuneStart(raw[n]) {
		n--
	}
	return raw[:n]
}

func clipBytes(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// A raw payload over MaxRawBytes is cut on a character boundary, however
// the characters fall.
func TestRawCutOnCharacterBoundary(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for shift := range 4 {
			raw := strings.Repeat("a", store.MaxRawBytes-shift) + strings.Repeat("😀", 10)
			ext := fmt.Sprint("cut-", shift)
			m, _, _, err := s.RecordArrival(ctx, store.Arrival{
				Contact: store.Contact{Channel: store.ChannelWeChat, ExternalID: "o-cut"},
				In:      store.Inbound{Channel: store.ChannelWeChat, DedupKey: ext, ChatID: "o-cut", Text: "x", Raw: []byte(raw)},
			})
			if err != nil {
				t.Fatalf("shift %d: %v", shift, err)
			}
			got, _ := s.MessageByID(ctx, m.ID)
			if want := raw[:store.MaxRawBytes-shift]; got.Raw != want {
				t.Errorf("shift %d: raw is %d bytes, want %d", shift, len(got.Raw), len(want))
			}
		}
	})
}

// Structured details of a message (a voice note's file, a place, a
// contact card) are kept with it and come back as they went in.
func TestMediaStored(t *testing.T) {
	lat, lng := 31.2304, 121.4737
	media := &store.Media{FileID: "AwACAgIAAxkBAAM", FileUniqueID: "AgAD", Duration: 12, MimeType: "audio/ogg",
		FileSize: 5953, Latitude: &lat, Longitude: &lng, Title: "外滩", Address: "中山东一路", Phone: "+8613800138000",
		Name: "Li \xff", UserID: "42"}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, id, _, err := s.RecordArrival(ctx, store.Arrival{
			Contact: store.Contact{Channel: store.ChannelTelegram, ExternalID: "42"},
			In:      store.Inbound{Channel: store.ChannelTelegram, DedupKey: "m1", ChatID: "42", Kind: "voice", Text: "[语音 0:12]", Media: media},
		})
		if err != nil {
			t.Fatal(err)
		}
		plain, _, _, err := s.RecordArrival(ctx, store.Arrival{Identity: id,
			In: store.Inbound{Channel: store.ChannelTelegram, DedupKey: "m2", ChatID: "42", Text: "plain"}})
		if err != nil {
			t.Fatal(err)
		}
		ms, _, err := s.ListMessages(ctx, id.CustomerID, store.Page{})
		if err != nil || len(ms) != 2 || ms[0].ID != m.ID || ms[1].ID != plain.ID {
			t.Fatalf("messages %+v, %v", ms, err)
		}
		want := *media
		want.Name = "Li \uFFFD"
		if diff := cmp.Diff(&want, ms[0].Media); diff != "" {
			t.Errorf("media (-want +got):\n%s", diff)
		}
		if ms[1].Media != nil {
			t.Errorf("a text message has media %+v", ms[1].Media)
		}
	})
}

// A database of the previous release stores long text and media once
// migrated (its text column was TEXT on MySQL: 64 KiB), and migrating it
// again changes nothing.
func TestMigratedDatabaseKeepsAnyContent(t *testing.T) {
	long := strings.Repeat("长", 30000) // 90 KB
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			cfg := storetest.Config(t, dialect)
			loadDump(t, cfg, "testdata/release8."+dialect+".sql")
			s, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for range 2 {
				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
			}
			m, _, _, err := s.RecordArrival(ctx, store.Arrival{
				Contact: store.Contact{Channel: store.ChannelWeChat, ExternalID: "o-long"},
				In: store.Inbound{Channel: store.ChannelWeChat, DedupKey: "long-1", ChatID: "o-long", Kind: "voice",
					Text: long, Raw: []byte(long), Media: &store.Media{MediaID: "m1", Format: "amr"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.MessageByID(ctx, m.ID)
			if err != nil || got.Text != long || got.Media == nil || got.Media.MediaID != "m1" {
				t.Fatalf("stored %d bytes of text, media %+v, %v", len(got.Text), got.Media, err)
			}
		})
	}
}

// Many long messages arriving together are written together, in INSERTs
// that fit MySQL's max_allowed_packet, and none is lost; text beyond
// 1 MiB (more than any webhook body) is cut on a character boundary.
func TestRecordArrivalManyLongMessages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 24
		text := strings.Repeat("长", 300<<10) // 900 KiB each, 21 MiB together
		errs := make(chan error, n)
		for i := range n {
			go func() {
				_, _, _, err := s.RecordArrival(ctx, store.Arrival{
					Contact: store.Contact{Channel: store.ChannelWeChat, ExternalID: fmt.Sprint("o-many-", i)},
					In:      store.Inbound{Channel: store.ChannelWeChat, DedupKey: fmt.Sprint("many-", i), ChatID: fmt.Sprint("o-many-", i), Text: text, Raw: []byte(text)},
				})
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		huge := strings.Repeat("😀", 300<<10) // 1.2 MB
		m, _, _, err := s.RecordArrival(ctx, store.Arrival{
			Contact: store.Contact{Channel: store.ChannelWeChat, ExternalID: "o-huge"},
			In:      store.Inbound{Channel: store.ChannelWeChat, DedupKey: "huge", ChatID: "o-huge", Text: huge},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.MessageByID(ctx, m.ID)
		if err != nil || len(got.Text) != 1<<20 || !utf8.ValidString(got.Text) {
			t.Fatalf("huge text stored as %d bytes, %v", len(got.Text), err)
		}
	})
}

// The text helpers every package cuts with: Clip for readers (… when
// cut), CutRunes for fields, CutWord for chat arguments.
func TestTextHelpers(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		clip string
		cut  string
	}{
		{"hello", 5, "hello", "hello"},
		{"hello!", 5, "hell…", "hello"},
		{"生日快乐呀", 3, "生日…", "生日快"},
		{"", 3, "", ""},
		{"abc", 0, "abc", ""},
	} {
		if got := store.Clip(c.in, c.n); got != c.clip {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.in, c.n, got, c.clip)
		}
		if got := store.CutRunes(c.in, c.n); got != c.cut {
			t.Errorf("CutRunes(%q, %d) = %q, want %q", c.in, c.n, got, c.cut)
		}
	}
	for in, want := range map[string][2]string{
		"done 12 called back": {"done", "12 called back"},
		" 12\u3000已回访 ":       {"12", "已回访"},
		"list":                {"list", ""},
		"":                    {"", ""},
	} {
		if w, r := store.CutWord(in); w != want[0] || r != want[1] {
			t.Errorf("CutWord(%q) = %q, %q; want %q", in, w, r, want)
		}
	}
}
