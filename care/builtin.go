package care

import (
	"context"
	"fmt"
	"strconv"

	"github.com/rapport-crm/rapport/store"
)

// Builtin renders the care texts without the template service: the
// fallback cmd uses when no template service is wired. Version 0 marks them
// as built-in.
func Builtin() Renderer { return builtin{} }

type builtin struct{}

func (builtin) Render(_ context.Context, key, locale string, d Data) (Rendered, error) {
	name := ""
	if d.Customer != nil {
		name = d.Customer.Name
	}
	en := locale == store.LocaleEN
	pick := func(zh, e string) string {
		if en {
			return e
		}
		return zh
	}
	if name == "" {
		name = pick("您", "there")
	}
	var text string
	switch key {
	case "birthday":
		text = pick(fmt.Sprintf("%s，生日快乐！祝您新的一岁平安喜乐。", name), fmt.Sprintf("Happy birthday, %s! All the best for the year ahead.", name))
	case "holiday":
		h := "节日"
		if d.Holiday != nil {
			h = d.Holiday.Name
		}
		text = pick(fmt.Sprintf("%s，%s快乐！感谢您一直以来的支持。", name, h), fmt.Sprintf("Happy %s, %s! Thank you for being with us.", h, name))
	case "maintenance":
		a, due := "", ""
		if d.Asset != nil {
			a, due = d.Asset.Name, d.Asset.DueDate
		}
		text = pick(fmt.Sprintf("%s，您的%s将于%s到期保养，回复即可预约。", name, a, due), fmt.Sprintf("Hi %s, your %s is due for service on %s. Reply to book a visit.", name, a, due))
	case "survey":
		text = pick(fmt.Sprintf("%s，感谢您的光临！请为本次服务打分：回复 1-5（5 为非常满意）。", name),
			fmt.Sprintf("Thanks for your visit, %s! How did we do? Reply with a score from 1 to 5 (5 = excellent).", name))
	case "survey_thanks":
		s := 0
		if d.Survey != nil {
			s = d.Survey.Score
		}
		text = pick("感谢您的评分（"+strconv.Itoa(s)+" 分）！您的意见对我们很重要。", "Thank you for your rating ("+strconv.Itoa(s)+"/5)! Your feedback matters to us.")
	case "winback":
		text = pick(fmt.Sprintf("%s，好久不见！我们很想念您，最近有什么可以帮您的吗？", name), fmt.Sprintf("We miss you, %s! Is there anything we can help with?", name))
	default:
		return Rendered{}, fmt.Errorf("no built-in text for %q", key)
	}
	return Rendered{Key: key, Locale: locale, Version: 0, Text: text}, nil
}
