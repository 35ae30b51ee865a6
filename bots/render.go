package bots

import (
	"context"
	"errors"
	"strings"

	"github.com/rapport-crm/rapport/store"
)

// Rendered is a reply text and the template version that produced it.
type Rendered struct {
	Text    string
	Version int
}

// ErrNoTemplate means the renderer has no template for the key; the router
// then uses its built-in text without logging.
var ErrNoTemplate = errors.New("no such template")

// Renderer renders the router's replies (welcome, birthday_saved,
// phone_saved, opted_out, opted_in, points_balance, and the *_invalid
// help texts) for a customer. vars carries the command's values (birthday,
// phone, points, input). cmd/rapport adapts the templates service to it.
type Renderer interface {
	RenderChat(ctx context.Context, key string, c *store.Customer, vars map[string]string) (Rendered, error)
}

// fallbackText is what the router says when no template renders.
func fallbackText(key, locale string, vars map[string]string) string {
	zh := map[string]string{
		"welcome":          "欢迎！发送 /birthday 月-日 登记生日，/phone 号码 绑定手机，/points 查询积分，/stop 退订关怀消息。",
		"birthday_saved":   "已记录您的生日：{birthday}。",
		"birthday_invalid": "没看懂这个日期。请发送 /birthday YYYY-MM-DD 或 /birthday MM-DD，例如 /birthday 1990-05-17。",
		"phone_saved":      "已保存您的手机号：{phone}。",
		"phone_invalid":    "没看懂这个号码。请发送 /phone 加手机号，例如 /phone 13800138000。",
		"opted_out":        "已退订关怀消息。发送 /resume 可以恢复。",
		"opted_in":         "已恢复关怀消息。",
		"points_balance":   "您当前的积分：{points}。",
	}
	en := map[string]string{
		"welcome":          "Welcome! Send /birthday MM-DD to register your birthday, /phone NUMBER to link your phone, /points for your points, /stop to opt out of care messages.",
		"birthday_saved":   "Your birthday is saved: {birthday}.",
		"birthday_invalid": "That is not a date I understand. Send /birthday YYYY-MM-DD or /birthday MM-DD, for example /birthday 1990-05-17.",
		"phone_saved":      "Your phone number is saved: {phone}.",
		"phone_invalid":    "That is not a phone number I understand. Send /phone and the number, for example /phone +8613800138000.",
		"opted_out":        "You will get no more care messages. Send /resume to opt back in.",
		"opted_in":         "Care messages are back on.",
		"points_balance":   "Your points balance: {points}.",
	}
	texts := zh
	if strings.HasPrefix(locale, "en") {
		texts = en
	}
	t, ok := texts[key]
	if !ok {
		t = key
	}
	for k, v := range vars {
		t = strings.ReplaceAll(t, "{"+k+"}", v)
	}
	return t
}
