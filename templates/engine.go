package templates

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// TelegramLimit is the most characters a Telegram message may hold.
const TelegramLimit = 4096

// WeChatFieldLimit is the most characters Rapport puts in one field of a
// classic WeChat template message.
const WeChatFieldLimit = 200

// compile parses body with the function set of locale and checks it
// against the render budget (limits.go). Compiled templates are immutable;
// they run through pooled instances (compiled.run).
func (s *Service) compile(key, locale, body string) (*compiled, error) {
	t, err := template.New(key).Option("missingkey=error").Funcs(s.funcs(locale)).Funcs((*run)(nil).builtins()).Parse(body)
	if err != nil {
		return nil, bodyError(err, "")
	}
	if err := limit(t); err != nil {
		return nil, bodyError(err, "")
	}
	return &compiled{t: t}, nil
}

// funcs is the function set templates may call; dates come out in the
// locale's style and the business time zone.
func (s *Service) funcs(locale string) template.FuncMap {
	en := locale == store.LocaleEN
	loc := s.loc
	return template.FuncMap{
		// date prints a calendar date: 2027年3月5日 / March 5, 2027.
		"date": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			t = t.In(loc)
			if en {
				return t.Format("January 2, 2006")
			}
			return fmt.Sprintf("%d年%d月%d日", t.Year(), int(t.Month()), t.Day())
		},
		// datetime prints a date and time: 3月5日 14:30 / Mar 5, 14:30.
		"datetime": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			t = t.In(loc)
			if en {
				return t.Format("Jan 2, 15:04")
			}
			return fmt.Sprintf("%d月%d日 %s", int(t.Month()), t.Day(), t.Format("15:04"))
		},
		// birthday prints YYYY-MM-DD or MM-DD as a month and day.
		"birthday": func(b string) string { return birthdayText(b, en) },
		// default returns v unless it is empty (or zero), else def.
		"default": func(def, v any) any {
			if v == nil {
				return def
			}
			if rv := reflect.ValueOf(v); rv.IsZero() {
				return def
			}
			return v
		},
		// holiday names a holiday key (spring_festival → 春节 / Spring Festival).
		"holiday": func(key string) string { return holidayName(key, en) },
		// clip shortens s to n characters, ending in … when cut.
		"clip": func(n int, s string) string { return store.Clip(s, n) },
	}
}

var monthsEN = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

func birthdayText(b string, en bool) string {
	parts := strings.Split(strings.TrimSpace(b), "-")
	if len(parts) < 2 {
		return b
	}
	m, err1 := strconv.Atoi(parts[len(parts)-2])
	d, err2 := strconv.Atoi(parts[len(parts)-1])
	if err1 != nil || err2 != nil || m < 1 || m > 12 || d < 1 || d > 31 {
		return b
	}
	if en {
		return fmt.Sprintf("%s %d", monthsEN[m-1], d)
	}
	return fmt.Sprintf("%d月%d日", m, d)
}

// holidayName localises the holiday keys config.yaml ships; other keys
// come back with underscores as spaces.
func holidayName(key string, en bool) string {
	zh, e := "节日", "holidays" // an unnamed local holiday: 节日快乐 / Happy holidays
	switch key {
	case "spring_festival":
		zh, e = "春节", "Spring Festival"
	case "lantern_festival":
		zh, e = "元宵节", "Lantern Festival"
	case "new_year":
		zh, e = "元旦", "New Year"
	case "valentines_day":
		zh, e = "情人节", "Valentine's Day"
	case "womens_day":
		zh, e = "妇女节", "Women's Day"
	case "qingming":
		zh, e = "清明节", "Qingming Festival"
	case "labour_day":
		zh, e = "劳动节", "Labour Day"
	case "mothers_day":
		zh, e = "母亲节", "Mother's Day"
	case "fathers_day":
		zh, e = "父亲节", "Father's Day"
	case "dragon_boat":
		zh, e = "端午节", "Dragon Boat Festival"
	case "qixi":
		zh, e = "七夕", "Qixi Festival"
	case "mid_autumn":
		zh, e = "中秋节", "Mid-Autumn Festival"
	case "national_day":
		zh, e = "国庆节", "National Day"
	case "double_ninth":
		zh, e = "重阳节", "Double Ninth Festival"
	case "christmas":
		zh, e = "圣诞节", "Christmas"
	case "new_years_eve":
		zh, e = "除夕", "New Year's Eve"
	}
	if en {
		return e
	}
	return zh
}

// prepare fills what Render computes: the business name, honorific,
// salutation, localised holiday name and an empty Extra.
func (s *Service) prepare(d *render.Data, locale string) {
	en := locale == store.LocaleEN
	d.Business = cmp.Or(d.Business, s.cfg.BusinessName)
	c := &d.Customer
	c.Honorific = cmp.Or(c.Honorific, honorific(c.Gender, en))
	c.Salutation = cmp.Or(c.Salutation, salutation(strings.TrimSpace(c.Name), c.Honorific, en))
	if d.Holiday != nil && (d.Holiday.Name == "" || d.Holiday.Name == d.Holiday.Key) {
		h := *d.Holiday
		h.Name = holidayName(h.Key, en)
		d.Holiday = &h
	}
	if d.Extra == nil {
		d.Extra = map[string]string{}
	}
}

func honorific(gender string, en bool) string {
	switch strings.ToLower(gender) {
	case "male", "m":
		if en {
			return "Mr."
		}
		return "先生"
	case "female", "f":
		if en {
			return "Ms."
		}
		return "女士"
	}
	return ""
}

// salutation is how a message addresses the customer: 王先生 / Mr. Smith
// when the gender is known, else the name as given.
func salutation(name, hon string, en bool) string {
	if name == "" || hon == "" {
		return name
	}
	r, _ := utf8.DecodeRuneInString(name)
	han := unicode.Is(unicode.Han, r)
	switch {
	case han && !en:
		return chineseSurname(name) + hon
	case !han && en:
		f := strings.Fields(name)
		return hon + " " + f[len(f)-1]
	}
	return name
}

func chineseSurname(name string) string {
	for _, s := range []string{"欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐", "端木"} {
		if strings.HasPrefix(name, s) && len(name) > len(s) {
			return s
		}
	}
	_, n := utf8.DecodeRuneInString(name)
	return name[:n]
}

// errLine parses text/template's "template: NAME:LINE[:COL]: detail".
var errLine = regexp.MustCompile(`^template: [^:]*:(\d+)(?::\d+)?: (.*)$`)

// bodyError turns a parse or execution error into a 422 naming the line
// and the reason, in words a manager can act on.
func bodyError(err error, when string) error {
	msg := err.Error()
	line := ""
	if m := errLine.FindStringSubmatch(msg); m != nil {
		line, msg = m[1], m[2]
	}
	if i := strings.Index(msg, `executing "`); i == 0 {
		if j := strings.Index(msg, "\" at <"); j > 0 {
			msg = msg[j+len(`" at `):]
		}
	}
	msg = strings.ReplaceAll(msg, "render.", "")
	msg = strings.ReplaceAll(msg, "*Asset", "Asset")
	out := msg
	if line != "" {
		out = "line " + line + ": " + msg
	}
	if when != "" {
		out += " (" + when + ")"
	}
	return &store.Error{Code: store.EINVALID, Field: "body", Message: "body: " + out}
}

// Sample data validation and previews render with: full has every field,
// bare only what callers of the key always pass.
func sample(key, locale string, full bool) render.Data {
	sp, _ := keySpec(key)
	pick := func(zh, e string) string { return render.Pick(locale, zh, e) }
	day := time.Date(2027, 3, 5, 2, 0, 0, 0, time.UTC)
	d := render.Data{Customer: render.Customer{ID: 1, Locale: locale}, Extra: map[string]string{}}
	extras := map[string]string{"date": "2027-03-05", "digest": pick("#42 回访王小明（李娜）", "#42 Call Emma back (Lisa)"),
		"text": pick("空调还是有点响", "It is still noisy"), "code": "123456", "minutes": "5", "reason": pick("示例", "example"), "count": "3",
		"input": "abc", "birthday": "1990-05-17", "phone": "13800138000", "points": "1280",
		"list": pick("#42 [high] 回访王小明 · 2027-03-05 16:00 ⏰", "#42 [high] Call Emma back · 2027-03-05 16:00 ⏰"), "more": "3",
		"url": "https://crm.example.com/console/#/tasks/42", "day": "1", "change": "stage:new", "error": pick("没有找到任务 #43", "task 43 not found")}
	for _, x := range sp.extras {
		d.Extra[x] = extras[x]
	}
	if sp.needs&needBirthday != 0 {
		d.Customer.Birthday = "05-17"
	}
	if sp.needs&needPhone != 0 {
		d.Customer.Phone = "13800138000"
	}
	if full {
		d.Customer = render.Customer{ID: 1, Name: pick("王小明", "Emma Wilson"), Gender: pick("male", "female"), Tier: "A", Points: 1280,
			Birthday: "1990-05-17", Locale: locale, Phone: "13800138000"}
		d.Asset = &render.Asset{Name: pick("空调", "air conditioner"), DueDate: day.AddDate(0, 0, 7)}
		d.Survey = &render.Survey{Score: 5, Comment: pick("服务很好", "Great service"), OrderDate: day.AddDate(0, 0, -1)}
		d.Staff = &render.Staff{Name: pick("李娜", "Lisa")}
		d.Task = &render.Task{ID: 42, Title: pick("回访王小明", "Call Emma back"), Kind: "complaint", Priority: "high",
			Detail: pick("客户反映空调噪音大", "Customer reports a noisy unit"), DueAt: day.Add(6 * time.Hour),
			CustomerSummary: pick("👤 王小明 · A级 · active · 13800138000", "👤 Emma Wilson · tier A · active")}
		d.Holiday = &render.Holiday{Key: "spring_festival"}
		d.Points = &render.Points{Balance: 1280, Expiring: 300, ExpiringOn: time.Date(2027, 12, 31, 15, 59, 59, 0, time.UTC),
			Recent: pick("+128 购买\n-500 维修券", "+128 purchase\n-500 repair voucher")}
		d.Voucher = &render.Voucher{Code: "7KQ2MXH9TD", Name: pick("维修券", "Repair voucher"), Kind: "repair", Value: "50.00", ExpiresAt: day.AddDate(0, 3, 0)}
		d.Extra = extras
		return d
	}
	if sp.needs&needAsset != 0 {
		d.Asset = &render.Asset{Name: pick("空调", "air conditioner")}
	}
	if sp.needs&needSurvey != 0 {
		d.Survey = &render.Survey{Score: 1}
	}
	if sp.needs&needStaff != 0 {
		d.Staff = &render.Staff{}
	}
	if sp.needs&needTask != 0 {
		d.Task = &render.Task{ID: 7, Title: pick("跟进", "Follow up")}
	}
	if sp.needs&needHoliday != 0 {
		d.Holiday = &render.Holiday{Key: "some_local_day"}
	}
	if sp.needs&needPoints != 0 {
		d.Points = &render.Points{}
	}
	if sp.needs&needVoucher != 0 {
		d.Voucher = &render.Voucher{Code: "7KQ2MXH9TD"}
	}
	return d
}

// check validates body as Save does, one of at most Config.Previews at
// once.
func (s *Service) check(key, locale, body string) (*compiled, string, error) {
	release, err := s.acquire()
	if err != nil {
		return nil, "", err
	}
	defer release()
	return s.validate(context.Background(), key, locale, body)
}

// acquire takes one of the validation and preview slots: each may spend
// checkTime of a core, so a burst of them is refused rather than queued.
func (s *Service) acquire() (release func(), err error) {
	select {
	case s.previews <- struct{}{}:
		return func() { <-s.previews }, nil
	default:
		return nil, store.Errorf(store.EUNAVAILABLE, "too many template previews at once (at most %d); try again in a moment", cap(s.previews))
	}
}

// validate renders body against both samples within checkTime and checks
// the results fit the channels. It returns the compiled template and the
// full sample's text.
func (s *Service) validate(ctx context.Context, key, locale, body string) (*compiled, string, error) {
	if err := validBody(body); err != nil {
		return nil, "", err
	}
	c, err := s.compile(key, locale, body)
	if err != nil {
		return nil, "", err
	}
	sp, _ := keySpec(key)
	var preview string
	for _, full := range []bool{true, false} {
		when := "with sample data for a customer with every field set"
		if !full {
			when = "with sample data for a customer with no name, gender or birthday"
		}
		d := sample(key, locale, full)
		text, err := s.execute(ctx, c, d, locale, s.cfg.CheckTime)
		if err != nil {
			return nil, "", bodyError(err, when)
		}
		if strings.TrimSpace(text) == "" {
			return nil, "", store.Invalid("body", "renders to an empty text (%s)", when)
		}
		if n := utf8.RuneCountInString(text); n > TelegramLimit {
			return nil, "", store.Invalid("body", "renders to %d characters; Telegram allows %d (%s)", n, TelegramLimit, when)
		}
		if n := len((render.Rendered{Text: text}).Lines()); sp.buttons > 0 && n != sp.buttons {
			return nil, "", store.Invalid("body", "renders %d lines; it needs %d, one per button (%s)", n, sp.buttons, when)
		}
		if sp.workflow {
			for k, v := range (render.Rendered{Text: text}).WeChatFields() {
				if n := utf8.RuneCountInString(v); n > WeChatFieldLimit {
					return nil, "", store.Invalid("body", "WeChat template field %s would hold %d characters; at most %d — use shorter lines (%s)", k, n, WeChatFieldLimit, when)
				}
			}
		}
		if full {
			preview = text
		}
	}
	return c, preview, nil
}

func validBody(body string) error {
	if strings.TrimSpace(body) == "" {
		return store.Invalid("body", "is empty")
	}
	if len(body) > store.MaxTemplateBody {
		return store.Invalid("body", "is %d bytes; at most %d", len(body), store.MaxTemplateBody)
	}
	if !utf8.ValidString(body) {
		return store.Invalid("body", "is not valid UTF-8")
	}
	return nil
}

// execute renders c for d within the budget: at most MaxOutput bytes and
// the given time, stopping early if ctx ends.
func (s *Service) execute(ctx context.Context, c *compiled, d render.Data, locale string, budget time.Duration) (string, error) {
	s.prepare(&d, locale)
	in, err := c.instance()
	if err != nil {
		return "", err
	}
	defer c.release(in)
	in.r.start(ctx, budget)
	if err := in.t.Execute(in.r, &d); err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(in.r.out)), nil
}
