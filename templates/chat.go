package templates

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// draftTTL is how long a chat draft waits for /template confirm.
const draftTTL = time.Hour

// chatLimit keeps replies inside Telegram's message size.
const chatLimit = TelegramLimit - 96

// HandleChat implements the /template chat commands (it satisfies
// bots.Hook): managers and admins list, show, set (with a preview) and
// confirm templates; anyone else gets a polite refusal.
func (s *Service) HandleChat(ctx context.Context, ev *store.ChatEvent) (bool, error) {
	if ev == nil || ev.Message == nil || ev.Command != "template" {
		return false, nil
	}
	if ev.Staff == nil || (ev.Staff.Role != store.RoleManager && ev.Staff.Role != store.RoleAdmin) {
		return true, s.refuse(ctx, ev)
	}
	c := chat{s: s, ev: ev}
	sub, rest := store.CutWord(ev.Args)
	var text string
	var err error
	switch strings.ToLower(sub) {
	case "list":
		text, err = c.list(ctx)
	case "show":
		text, err = c.show(ctx, rest)
	case "set":
		text, err = c.set(ctx, rest)
	case "confirm":
		text, err = c.confirm(ctx)
	case "cancel":
		if err = s.store.DeleteTemplateDraft(ctx, ev.Staff.ID); err == nil {
			text = c.pick("已丢弃草稿。", "Draft discarded.")
		}
	case "rollback":
		text, err = c.rollback(ctx, rest)
	default:
		text = c.help()
	}
	if err != nil {
		if store.ErrorCode(err) == store.EINTERNAL {
			return true, err
		}
		text = "⚠️ " + store.ErrorMessage(err)
	}
	return true, c.reply(ctx, text)
}

type chat struct {
	s  *Service
	ev *store.ChatEvent
}

func (c chat) pick(zh, en string) string { return render.Pick(c.s.cfg.StaffLocale, zh, en) }

func (c chat) help() string {
	return c.pick(`模板指令：
/template list — 所有模板及当前版本
/template show 模板名 [en] — 查看当前内容
/template set 模板名 [en]，换行后写新内容 — 预览
/template confirm — 启用刚才预览的内容
/template cancel — 丢弃草稿
/template rollback 模板名 版本号 [en] — 回退到某个版本`,
		`Template commands:
/template list — every template and its active version
/template show KEY [en] — the active text
/template set KEY [en], then the new text on the next lines — preview
/template confirm — make the previewed text active
/template cancel — discard the draft
/template rollback KEY VERSION [en] — go back to a version`)
}

func (c chat) list(ctx context.Context) (string, error) {
	var b strings.Builder
	b.WriteString(c.pick("模板（中文 / 英文版本）：\n", "Templates (zh-CN / en versions):\n"))
	zh, err := c.s.List(ctx, store.LocaleZH)
	if err != nil {
		return "", err
	}
	en, err := c.s.List(ctx, store.LocaleEN)
	if err != nil {
		return "", err
	}
	for i, t := range zh {
		fmt.Fprintf(&b, "• %s — v%d / v%d\n", t.Key, t.Version, en[i].Version)
	}
	b.WriteString(c.pick("查看：/template show 模板名", "Show one: /template show KEY"))
	return b.String(), nil
}

// keyLocale parses "KEY [LOCALE] [more...]".
func keyLocale(line string) (key, locale string, rest []string) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return "", "", nil
	}
	key, locale = strings.ToLower(f[0]), store.LocaleZH
	for _, w := range f[1:] {
		if l := localeWord(w); l != "" {
			locale = l
		} else {
			rest = append(rest, w)
		}
	}
	return key, locale, rest
}

func (c chat) show(ctx context.Context, args string) (string, error) {
	key, locale, _ := keyLocale(args)
	if key == "" {
		return c.pick("请写模板名，例如 /template show birthday", "Which one? For example /template show birthday"), nil
	}
	t, err := c.s.Get(ctx, key, locale)
	if err != nil {
		return "", err
	}
	by := t.UpdatedBy
	head := fmt.Sprintf(c.pick("%s（%s）v%d，修改人 %s", "%s (%s) v%d, by %s"), t.Key, t.Locale, t.Version, by)
	return head + "\n\n" + store.Clip(t.Body, chatLimit-len([]rune(head))) + "\n\n" +
		c.pick("修改：/template set "+key+" 换行后写新内容", "Change it: /template set "+key+" then the new text on the next lines"), nil
}

func (c chat) set(ctx context.Context, args string) (string, error) {
	first, body, _ := strings.Cut(args, "\n")
	key, inline := store.CutWord(first)
	key, locale := strings.ToLower(key), store.LocaleZH
	if w, r := store.CutWord(inline); localeWord(w) != "" {
		locale, inline = localeWord(w), r
	}
	if key == "" {
		return c.pick("用法：/template set 模板名，换行后写新内容", "Usage: /template set KEY, then the new text on the next lines"), nil
	}
	if _, err := checkKeyLocale(key, locale); err != nil {
		return "", err
	}
	// The text may start on the command's line: "/template set birthday 生日快乐".
	if inline != "" {
		body = inline + "\n" + body
	}
	body = strings.TrimFunc(body, unicode.IsSpace)
	if body == "" {
		return c.pick("新内容是空的。请在 /template set "+key+" 的下一行写上新内容。", "The new text is empty. Put it on the lines after /template set "+key+"."), nil
	}
	_, preview, err := c.s.check(key, locale, body)
	if err != nil {
		return "", err
	}
	if err := c.s.store.SetTemplateDraft(ctx, store.TemplateDraft{StaffID: c.ev.Staff.ID, Key: key, Locale: locale, Body: body}); err != nil {
		return "", err
	}
	head := fmt.Sprintf(c.pick("预览 %s（%s），示例客户：", "Preview of %s (%s) for a sample customer:"), key, locale)
	tail := c.pick("发送 /template confirm 启用，/template cancel 放弃。", "Send /template confirm to make it active, /template cancel to discard it.")
	return head + "\n\n" + store.Clip(preview, chatLimit-len([]rune(head))-len([]rune(tail))) + "\n\n" + tail, nil
}

// localeWord recognises a locale argument.
func localeWord(w string) string {
	switch strings.ToLower(w) {
	case "en", "english":
		return store.LocaleEN
	case "zh", "zh-cn", "cn":
		return store.LocaleZH
	}
	return ""
}

func (c chat) confirm(ctx context.Context) (string, error) {
	d, err := c.s.store.TemplateDraftOf(ctx, c.ev.Staff.ID)
	if err != nil {
		return "", err
	}
	if d == nil || c.s.store.Now().Sub(d.CreatedAt) > draftTTL {
		return c.pick("没有待确认的草稿。先用 /template set 预览新内容。", "There is no draft to confirm. Preview one with /template set first."), nil
	}
	// Revalidate: the draft was checked when set, but this build may differ.
	if _, _, err := c.s.check(d.Key, d.Locale, d.Body); err != nil {
		return "", err
	}
	v, err := c.s.store.ConfirmTemplateDraft(ctx, c.s.change(d.Key, d.Locale, c.actor()), d)
	if err != nil {
		return "", err
	}
	c.s.invalidate()
	return fmt.Sprintf(c.pick("✅ %s（%s）已更新为第 %d 版，立即生效。回退：/template rollback %s %d", "✅ %s (%s) is now version %d and active. To undo: /template rollback %s %d"),
		v.Key, v.Locale, v.Version, v.Key, v.Version-1), nil
}

func (c chat) rollback(ctx context.Context, args string) (string, error) {
	key, locale, rest := keyLocale(args)
	if key == "" || len(rest) != 1 {
		return c.pick("用法：/template rollback 模板名 版本号", "Usage: /template rollback KEY VERSION"), nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(strings.ToLower(rest[0]), "v"))
	if err != nil {
		return "", store.Invalid("version", "%q is not a number", rest[0])
	}
	t, err := c.s.Rollback(ctx, key, locale, n, c.actor())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(c.pick("↩️ %s（%s）已回退到第 %d 版。", "↩️ %s (%s) is back at version %d."), t.Key, t.Locale, t.Version), nil
}

func (c chat) actor() Actor {
	id := c.ev.Staff.ID
	return Actor{Name: c.ev.Staff.Name, StaffID: &id, Source: store.TemplateSourceChat}
}

func (c chat) reply(ctx context.Context, text string) error {
	_, err := c.s.store.Enqueue(ctx, []store.Outbound{c.ev.Reply(text, fmt.Sprintf("template_reply:%d", c.ev.Message.ID))})
	return err
}

// refuse answers an agent or a customer with the template_refused text.
func (s *Service) refuse(ctx context.Context, ev *store.ChatEvent) error {
	locale := s.cfg.StaffLocale
	d := render.Data{}
	switch {
	case ev.Staff != nil:
		d.Staff = &render.Staff{Name: ev.Staff.Name}
	case ev.Identity != nil:
		if c, err := s.store.CustomerByID(ctx, ev.Identity.CustomerID); err == nil {
			locale, d.Customer = c.Locale, render.CustomerOf(c)
		}
	}
	r, err := s.Render(ctx, "template_refused", locale, d)
	if err != nil {
		return err
	}
	_, err = s.store.Enqueue(ctx, []store.Outbound{r.ReplyTo(ev, fmt.Sprintf("template_reply:%d", ev.Message.ID))})
	return err
}
