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

// keySpec describes the known keys; managers can only edit these.
func keySpec(key string) (spec, bool) {
	switch key {
	case "birthday", "winback":
		return spec{workflow: true}, true
	case "revisit":
		return spec{workflow: true}, true
	case "holiday":
		return spec{needs: needHoliday, workflow: true}, true
	case "maintenance":
		return spec{needs: needAsset, workflow: true}, true
	case "survey":
		return spec{needs: needSurvey, workflow: true}, true
	case "survey_thanks":
		return spec{needs: needSurvey}, true
	case "task_assigned", "task_overdue":
		return spec{needs: needTask | needStaff}, true
	case "task_escalated":
		return spec{needs: needTask}, true
	case "task_digest":
		return spec{extras: []string{"date", "digest"}}, true
	case "relay_to_staff":
		return spec{needs: needTask, extras: []string{"text"}}, true
	case "staff_bind_ok":
		return spec{needs: needStaff}, true
	case "staff_task_done", "staff_task_snoozed", "staff_task_open":
		return spec{needs: needTask}, true
	case "staff_task_list":
		return spec{extras: []string{"list"}}, true
	case "staff_error":
		return spec{extras: []string{"error"}}, true
	case "survey_buttons":
		return spec{needs: needSurvey, buttons: 5}, true
	case "staff_task_buttons":
		return spec{needs: needTask, buttons: 3}, true
	case "birthday_saved":
		return spec{needs: needBirthday}, true
	case "phone_saved", "phone_verified":
		return spec{needs: needPhone}, true
	case "phone_verify_code":
		return spec{extras: []string{"phone", "code"}}, true
	case KeyConsoleSignIn:
		return spec{needs: needStaff, extras: []string{"code", "minutes"}}, true
	case "welcome", "birthday_invalid", "phone_invalid", "phone_claimed", "verify_invalid", "opted_out", "opted_in",
		"points_balance", "survey_invalid", "staff_refused", "template_refused", "complaint_received",
		"phone_share_button", "staff_bind_bad", "staff_bind_throttled", "staff_relay_sent", "staff_help":
		return spec{}, true
	}
	return spec{}, false
}

// Keys lists the template keys in display order.
func Keys() []string {
	return []string{
		"birthday", "holiday", "maintenance", "survey", "survey_buttons", "revisit", "winback",
		"welcome", "survey_thanks", "complaint_received", "birthday_saved", "birthday_invalid", "phone_saved", "phone_invalid",
		"phone_claimed", "phone_share_button", "phone_verified", "phone_verify_code", "verify_invalid",
		"opted_out", "opted_in", "points_balance", "survey_invalid",
		"task_assigned", "task_overdue", "task_escalated", "task_digest", "relay_to_staff", "staff_task_buttons",
		"staff_bind_ok", "staff_bind_bad", "staff_bind_throttled", "staff_task_list", "staff_task_open",
		"staff_task_done", "staff_task_snoozed", "staff_relay_sent", "staff_error", "staff_help",
		"staff_refused", "template_refused", KeyConsoleSignIn,
	}
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
