package bots

import (
	"strings"
	"testing"
	"unicode"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		channel, text string
		cmd, args     string
	}{
		{"telegram", "/start", "start", ""},
		{"telegram", "/Start@RapportBot  hello there ", "start", "hello there"},
		{"telegram", "/birthday 1990-05-17", "birthday", "1990-05-17"},
		{"telegram", "生日 05-17", "", ""}, // Telegram needs the slash
		{"telegram", "points", "", ""},
		{"wechat", "生日 05-17", "birthday", "05-17"},
		{"wechat", "生日05-17", "birthday", "05-17"},
		{"wechat", "\u3000生日\u300005-17", "birthday", "05-17"}, // full-width spaces
		{"wechat", "Points", "points", ""},
		{"wechat", "完成 12 已回访", "done", "12 已回访"},
		{"wechat", "回复 7 您好，明天上门", "reply", "7 您好，明天上门"},
		{"wechat", "生日快乐", "birthday", "快乐"}, // the word wins; the argument is then refused
		{"wechat", "hello", "", ""},
		{"wechat", "验证 123456", "verify", "123456"},
		{"wechat", "验证123456", "verify", "123456"},
		{"webchat", "verify 123456", "verify", "123456"},
		{"telegram", "/verify 123456", "verify", "123456"},
		{"telegram", "验证 123456", "", ""},
		{"webchat", "/stop", "stop", ""},
		{"webchat", "", "", ""},
		{"telegram", "/", "", ""},
	}
	for _, tt := range tests {
		cmd, args := ParseCommand(tt.channel, tt.text)
		if cmd != tt.cmd || args != tt.args {
			t.Errorf("ParseCommand(%q, %q) = %q, %q; want %q, %q", tt.channel, tt.text, cmd, args, tt.cmd, tt.args)
		}
	}
}

// FuzzParseCommand: whatever a customer types, parsing never panics, the
// command is one lowercase word and the arguments carry no outer space.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"/start", "/Start@Bot x", "生日 05-17", "生日05-17", "\u3000积分", "完成 3 ok", "/", "", "/\u00a0x", "回复"} {
		f.Add("wechat", s)
		f.Add("telegram", s)
	}
	f.Fuzz(func(t *testing.T, channel, text string) {
		cmd, args := ParseCommand(channel, text)
		if strings.IndexFunc(cmd, unicode.IsSpace) >= 0 {
			t.Errorf("command %q has spaces", cmd)
		}
		if cmd != strings.ToLower(cmd) {
			t.Errorf("command %q not lowercase", cmd)
		}
		if args != strings.TrimSpace(args) {
			t.Errorf("args %q not trimmed", args)
		}
		if cmd == "" && args != "" {
			t.Errorf("args %q without a command", args)
		}
		if channel == "telegram" && !strings.HasPrefix(strings.TrimSpace(text), "/") && cmd != "" {
			t.Errorf("telegram text %q without a slash parsed as %q", text, cmd)
		}
	})
}
