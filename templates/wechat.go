package templates

import (
	"regexp"
	"strings"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// classicFields are the keys of a classic WeChat template message, used
// when no field keys are configured.
func classicFields() []string { return []string{"first", "keyword1", "keyword2", "remark"} }

// newStyleKey matches the newer field keys (thing1, time2,
// character_string3, phrase4, ...): kind and number.
var newStyleKey = regexp.MustCompile(`^([a-z_]+?)(\d+)$`)

// newStyleLimit is the documented length of each newer field kind.
func newStyleLimit(kind string) int {
	switch kind {
	case "thing":
		return 20
	case "name":
		return 10
	case "phrase":
		return 5
	case "character_string", "number", "letter", "symbol", "car_number", "phone_number":
		return 32
	case "amount":
		return 10
	case "time", "date":
		return 32
	}
	return WeChatFieldLimit
}

// WeChatFields maps a rendered text onto the fields of a WeChat template
// message, one line per field in order. Classic keys (first,
// keyword1…keywordN, remark): the first line is `first`, the last line
// `remark` (when there are more lines than keywords plus one), the
// keywords take the lines between and the last keyword the overflow.
// Newer keys (thing1, time2, ...) take one line each, with a leading
// "label：" removed, the last key the overflow, each clipped to the
// field's documented length. nil fieldKeys means first/keyword1/keyword2/remark.
func (s *Service) WeChatFields(r render.Rendered, fieldKeys []string) map[string]string {
	if len(fieldKeys) == 0 {
		fieldKeys = classicFields()
	}
	var lines []string
	for _, l := range strings.Split(r.Text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	out := make(map[string]string, len(fieldKeys))
	for _, k := range fieldKeys {
		out[k] = ""
	}
	classic := false
	for _, k := range fieldKeys {
		if k == "first" || k == "remark" || strings.HasPrefix(k, "keyword") {
			classic = true
		}
	}
	if classic {
		var keywords []string
		hasFirst, hasRemark := false, false
		for _, k := range fieldKeys {
			switch {
			case k == "first":
				hasFirst = true
			case k == "remark":
				hasRemark = true
			default:
				keywords = append(keywords, k)
			}
		}
		rest := lines
		if hasFirst && len(rest) > 0 {
			out["first"], rest = rest[0], rest[1:]
		}
		if hasRemark && len(rest) > len(keywords) {
			out["remark"], rest = rest[len(rest)-1], rest[:len(rest)-1]
		}
		fill(out, keywords, rest, func(string) int { return 0 })
		return out
	}
	fill(out, fieldKeys, lines, func(k string) int {
		if m := newStyleKey.FindStringSubmatch(k); m != nil {
			return newStyleLimit(m[1])
		}
		return WeChatFieldLimit
	})
	return out
}

// fill puts one line per key, the overflow joined into the last key, and
// clips each value to limit(key) characters (0 = no clipping).
func fill(out map[string]string, keys, lines []string, limit func(string) int) {
	if len(keys) == 0 {
		return
	}
	for i, k := range keys {
		var v string
		switch {
		case i >= len(lines):
		case i == len(keys)-1:
			v = strings.Join(lines[i:], " ")
		default:
			v = lines[i]
		}
		if n := limit(k); n > 0 {
			v = store.Clip(unlabel(v), n)
		}
		out[k] = v
	}
}

// unlabel drops a short "截止：" / "Due: " label from a line.
func unlabel(v string) string {
	for _, sep := range []string{"：", ": "} {
		if label, rest, ok := strings.Cut(v, sep); ok && len([]rune(label)) <= 8 && strings.TrimSpace(rest) != "" {
			return strings.TrimSpace(rest)
		}
	}
	return v
}
