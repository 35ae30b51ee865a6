package templates

import (
	"embed"
	"fmt"
	"path"
	"strings"

	"github.com/rapport-crm/rapport/store"
)

//go:embed defaults/*.tmpl
var defaultFiles embed.FS

// Locales every key ships in; the first is the fallback.
var locales = [...]string{store.LocaleZH, store.LocaleEN}

// Sections of Data a caller always fills for a key.
const (
	needAsset = 1 << iota
	needSurvey
	needStaff
	needTask
	needHoliday
	needBirthday
	needPhone
	needPoints
	needVoucher
)

// spec is what callers promise to pass for a key: validation renders a
// new body with exactly that (and with everything) so a body that works in
// preview cannot fail in production for lack of a field.
type spec struct {
	needs  int
	extras []string
	// workflow texts may go out as WeChat template messages, so their
	// lines must fit template fields.
	workflow bool
	// buttons, when set, is how many lines the text must have: one label
	// per button of a keyboard.
	buttons int
}

// keys are the template keys in display order, each with its spec:
// managers can only edit these.
func keys() []struct {
	key string
	spec
} {
	return []struct {
		key string
		spec
	}{
		{"birthday", spec{workflow: true}}, {"holiday", spec{needs: needHoliday, workflow: true}},
		{"maintenance", spec{needs: needAsset, workflow: true}}, {"survey", spec{needs: needSurvey, workflow: true}},
		{"survey_buttons", spec{needs: needSurvey, buttons: 5}}, {"revisit", spec{workflow: true}}, {"winback", spec{workflow: true}},
		{"vip_greeting", spec{workflow: true}}, {"welcome_series", spec{workflow: true, extras: []string{"day", "change"}}},
		{"welcome", spec{}}, {"survey_thanks", spec{needs: needSurvey}}, {"complaint_received", spec{}},
		{"birthday_saved", spec{needs: needBirthday}}, {"birthday_invalid", spec{}},
		{"phone_saved", spec{needs: needPhone}}, {"phone_invalid", spec{}}, {"phone_claimed", spec{}}, {"phone_share_button", spec{}},
		{"phone_verified", spec{needs: needPhone}}, {"phone_verify_code", spec{extras: []string{"phone", "code"}}}, {"verify_invalid", spec{}},
		{"opted_out", spec{}}, {"opted_in", spec{}}, {"points_balance", spec{needs: needPoints}}, {"survey_invalid", spec{}},
		{"task_assigned", spec{needs: needTask | needStaff}}, {"task_overdue", spec{needs: needTask | needStaff}},
		{"task_escalated", spec{needs: needTask}}, {"task_digest", spec{extras: []string{"date", "digest"}}},
		{"relay_to_staff", spec{needs: needTask, extras: []string{"text"}}}, {"staff_task_buttons", spec{needs: needTask, buttons: 3}},
		{"staff_bind_ok", spec{needs: needStaff}}, {"staff_bind_bad", spec{}}, {"staff_bind_throttled", spec{}},
		{"staff_task_list", spec{extras: []string{"list"}}}, {"staff_task_open", spec{needs: needTask}},
		{"staff_task_done", spec{needs: needTask}}, {"staff_task_snoozed", spec{needs: needTask}},
		{"staff_relay_sent", spec{}}, {"staff_error", spec{extras: []string{"error"}}}, {"staff_help", spec{}},
		{"staff_refused", spec{}}, {"template_refused", spec{}}, {KeyCampaign, spec{workflow: true}},
		{KeyConsoleSignIn, spec{needs: needStaff, extras: []string{"code", "minutes"}}},
		{"redeem_list", spec{needs: needPoints, extras: []string{"list"}}}, {"redeem_none", spec{needs: needPoints}},
		{"redeem_done", spec{needs: needPoints | needVoucher}}, {"redeem_refused", spec{needs: needPoints, extras: []string{"error"}}},
		{"vouchers_list", spec{extras: []string{"list"}}}, {"vouchers_none", spec{}},
		{"points_expiry", spec{needs: needPoints, workflow: true}},
	}
}

// keySpec is the spec of a known key.
func keySpec(key string) (spec, bool) {
	for _, k := range keys() {
		if k.key == key {
			return k.spec, true
		}
	}
	return spec{}, false
}

// Keys lists the template keys in display order.
func Keys() []string {
	var out []string
	for _, k := range keys() {
		out = append(out, k.key)
	}
	return out
}

// KeyConsoleSignIn is the message carrying a console sign-in code to a
// staff member's chat.
const KeyConsoleSignIn = "console_sign_in"

// loadDefaults reads the shipped bodies, keyed by key and locale.
func loadDefaults() (map[string]string, error) {
	out := make(map[string]string)
	for _, k := range Keys() {
		for _, l := range locales {
			b, err := defaultFiles.ReadFile(path.Join("defaults", k+"."+l+".tmpl"))
			if err != nil {
				return nil, fmt.Errorf("templates: shipped text %s.%s: %w", k, l, err)
			}
			out[ref(k, l)] = strings.TrimRight(string(b), "\n")
		}
	}
	return out, nil
}

func ref(key, locale string) string { return key + "\x00" + locale }

// Locale maps a customer or request locale onto a shipped one: en, en-US
// and en_GB are en; anything else is zh-CN.
func Locale(l string) string {
	l = strings.ToLower(strings.TrimSpace(l))
	if l == "en" || strings.HasPrefix(l, "en-") || strings.HasPrefix(l, "en_") {
		return store.LocaleEN
	}
	return store.LocaleZH
}

// checkKeyLocale validates API input: a known key and a shipped locale.
func checkKeyLocale(key, locale string) (string, error) {
	if _, ok := keySpec(key); !ok {
		return "", store.Errorf(store.ENOTFOUND, "template %q not found; known keys: %s", key, strings.Join(Keys(), ", "))
	}
	switch locale {
	case "":
		return store.LocaleZH, nil
	case store.LocaleZH, store.LocaleEN:
		return locale, nil
	}
	return "", store.Invalid("locale", "%q is not zh-CN or en", locale)
}
