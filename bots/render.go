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
		"welcome":           "欢迎！发送 /birthday 月-日 登记生日，/phone 号码 绑定手机，/points 查询积分，/stop 退订关怀消息。",
		"birthday_saved":    "已记录您的生日：{birthday}。",
		"birthday_invalid":  "没看懂这个日期。请发送 /birthday YYYY-MM-DD 或 /birthday MM-DD，例如 /birthday 1990-05-17。",
		"phone_saved":       "已保存您的手机号：{phone}。",
		"phone_invalid":     "没看懂这个号码。请发送 /phone 加手机号，例如 /phone 13800138000。",
		"phone_claimed":     "号码已记录，待验证。如果该号码已在我们这里登记，验证码会发到原来的聊天渠道，请回复 /verify 验证码。",
		"phone_verified":    "手机号 {phone} 已验证，已为您关联会员资料。",
		"phone_verify_code": "有人申请将手机号 {phone} 关联到新的聊天账号，验证码 {code}，15 分钟内有效。如果不是您本人操作，请忽略。",
		"verify_invalid":    "验证码不正确或已过期。请重新发送 /phone 手机号 获取新的验证码。",
		"opted_out":         "已退订关怀消息。发送 /resume 可以恢复。",
		"opted_in":          "已恢复关怀消息。",
		"points_balance":    "您当前的积分：{points}。",
	}
	en := map[string]string{
		"welcome":           "Welcome! Send /birthday MM-DD to register your birthday, /phone NUMBER to link your phone, /points for your points, /stop to opt out of care messages.",
		"birthday_saved":    "Your birthday is saved: {birthday}.",
		"birthday_invalid":  "That is not a date I understand. Send /birthday YYYY-MM-DD or /birthday MM-DD, for example /birthday 1990-05-17.",
		"phone_saved":       "Your phone number is saved: {phone}.",
		"phone_invalid":     "That is not a phone number I understand. Send /phone and the number, for example /phone +8613800138000.",
		"phone_claimed":     "Number noted; it still needs verifying. If it is already registered with us, a code goes to the chat account it was registered with: reply /verify CODE.",
		"phone_verified":    "Your phone number {phone} is verified and linked to your membership.",
		"phone_verify_code": "Someone asked to link the phone number {phone} to a new chat account. Code: {code}, valid for 15 minutes. If this was not you, ignore this message.",
		"verify_invalid":    "That code is wrong or has expired. Send /phone and your number again for a new code.",
		"opted_out":         "You will get no more care messages. Send /resume to opt back in.",
		"opted_in":          "Care messages are back on.",
		"points_balance":    "Your points balance: {points}.",
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
