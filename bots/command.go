package bots

import (
	"strings"

	"github.com/rapport-crm/rapport/store"
)

// commandWords maps the slash-less words WeChat and web chat users type
// (Chinese and English) to the normalised command names of the contract.
func commandWords() map[string]string {
	return map[string]string{
		"生日": "birthday", "手机": "phone", "退订": "stop", "恢复": "resume", "积分": "points",
		"兑换": "redeem", "券": "vouchers", "redeem": "redeem", "vouchers": "vouchers",
		"任务": "tasks", "完成": "done", "回复": "reply", "绑定": "bind", "验证": "verify", "活动": "campaign",
		"start": "start", "birthday": "birthday", "phone": "phone", "stop": "stop", "resume": "resume",
		"points": "points", "tasks": "tasks", "done": "done", "reply": "reply", "bind": "bind", "verify": "verify",
		"campaign": "campaign",
	}
}

// ParseCommand splits chat text into a normalised command and its
// arguments. "/Start@MyBot x" gives ("start", "x"). Without a slash, only
// channels other than Telegram recognise command words ("生日 01-02",
// "生日01-02", "points"); anything else is ("", "").
func ParseCommand(channel, text string) (cmd, args string) {
	t := strings.TrimSpace(text)
	if after, ok := strings.CutPrefix(t, "/"); ok {
		word, rest := store.CutWord(after)
		word, _, _ = strings.Cut(word, "@")
		if word == "" || !strings.HasPrefix(after, word) {
			return "", "" // "/ x" or "/@bot": no command
		}
		return strings.ToLower(word), rest
	}
	if channel == "telegram" || t == "" {
		return "", ""
	}
	word, rest := store.CutWord(t)
	words := commandWords()
	if c, ok := words[strings.ToLower(word)]; ok {
		return c, rest
	}
	// Chinese users often omit the space: "生日1990-01-02".
	for w, c := range words {
		if w[0] >= 0x80 && strings.HasPrefix(t, w) {
			return c, strings.TrimSpace(t[len(w):])
		}
	}
	return "", ""
}
