package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/care"
)

func TestShippedConfigLoads(t *testing.T) {
	t.Setenv("RAPPORT_ADMIN_TOKEN", "")
	cfg, err := LoadConfig("../../config.yaml", true)
	if err != nil {
		t.Fatalf("shipped config.yaml: %v", err)
	}
	if cfg.Database.Driver != "sqlite" || cfg.Telegram.Enabled || cfg.WeChat.Enabled {
		t.Errorf("shipped config must run with no credentials: %+v", cfg.Database)
	}
	if cfg.PhoneRegion != "CN" {
		t.Errorf("phone_region = %q, want CN", cfg.PhoneRegion)
	}
	if diff := cmp.Diff(care.DefaultReactions(), cfg.Care.Lifecycle.Reactions); diff != "" {
		t.Errorf("shipped reactions differ from the defaults (-want +got):\n%s", diff)
	}
	none := DefaultConfig()
	if err := ParseConfig([]byte("care:\n  lifecycle:\n    reactions: []\n"), &none); err != nil || len(none.Care.Lifecycle.Reactions) != 0 {
		t.Errorf("reactions: [] = %v, %v; want none", none.Care.Lifecycle.Reactions, err)
	}
	if len(cfg.Care.Holiday.Dates) < 20 {
		t.Errorf("shipped holidays = %d, want two years' worth", len(cfg.Care.Holiday.Dates))
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top key", "colour: red\n", "colour: unknown key"},
		{"unknown nested key", "telegram:\n  tokn: x\n", "telegram.tokn: unknown key"},
		{"unknown care key", "care:\n  birthday:\n    shedule: '0 9 * * *'\n", "care.birthday.shedule: unknown key"},
		{"bad cron", "care:\n  birthday:\n    schedule: '0 25 * * *'\n", "care.birthday.schedule"},
		{"cron that never fires", "care:\n  holiday:\n    schedule: '0 9 31 2 *'\n", "care.holiday.schedule"},
		{"cron tz panic", "care:\n  survey:\n    schedule: 'CRON_TZ=UTC'\n", "care.survey.schedule"},
		{"bad zone", "timezone: Mars/Olympus\n", "timezone"},
		{"bad earn kind", "points:\n  earn: { gift: 1 }\n", "points.earn.gift"},
		{"bad multiplier", "points:\n  tier_multiplier: { A: 1.2345 }\n", "points.tier_multiplier.A"},
		{"bad expiry", "points:\n  expire: monthly\n", "points.expire"},
		{"bad driver", "database:\n  driver: oracle\n", "database.driver"},
		{"bad dsn", "database:\n  driver: mysql\n  dsn: 'not a dsn'\n", "database.dsn"},
		{"bad quiet hours", "quiet_hours: {start: '25:00', end: '09:00'}\n", "quiet_hours.start"},
		{"half quiet hours", "quiet_hours: {start: '21:00'}\n", "quiet_hours"},
		{"bad aes key", "wechat:\n  encoding_aes_key: short\n", "wechat.encoding_aes_key"},
		{"aes key not base64", "wechat:\n  encoding_aes_key: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDE!G'\n", "wechat.encoding_aes_key"},
		{"webhook without secret", "telegram:\n  enabled: true\n  token: t\n  mode: webhook\n", "telegram.webhook_secret"},
		{"webhook short secret", "telegram:\n  enabled: true\n  token: t\n  mode: webhook\n  webhook_secret: s3cret\n", "telegram.webhook_secret"},
		{"webhook secret bad characters", "telegram:\n  enabled: true\n  token: t\n  mode: webhook\n  webhook_secret: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'\n", "telegram.webhook_secret"},
		{"bad trusted proxy", "http:\n  trusted_proxies: ['10.0.0.0/8', 'lb.internal']\n", "http.trusted_proxies[1]"},
		{"telegram without token", "telegram:\n  enabled: true\n  token: ''\n", "telegram.token"},
		{"bad holiday date", "care:\n  holiday:\n    dates: {'2027-13-01': x}\n", "care.holiday.dates"},
		{"unknown template workflow", "wechat:\n  template_ids: {party: abc}\n", "wechat.template_ids.party"},
		{"short bootstrap token", "admin:\n  bootstrap_token: abc\n", "admin.bootstrap_token"},
		{"unknown phone region", "phone_region: XX\n", "phone_region"},
		{"empty phone region", "phone_region: ''\n", "phone_region"},
		{"not yaml", "telegram: [\n", "yaml"},
		{"unknown analytics key", "analytics:\n  window: 6\n", "analytics.window: unknown key"},
		{"bad analytics share", "analytics: { a_share: 0.9, b_share: 0.2 }\n", "analytics.b_share"},
		{"bad analytics schedule", "analytics: { schedule: '0 3 * *' }\n", "analytics.schedule"},
		{"bad reaction", "care:\n  lifecycle:\n    reactions: [{on: 'tier:Z', template: x}]\n", "care.lifecycle.reactions[0].on"},
		{"bad unreachable", "care:\n  holiday:\n    unreachable: call\n", "care.holiday.unreachable"},
		{"unknown staff locale", "followup:\n  staff_locale: fr\n", "followup.staff_locale"},
		{"rate from env, not a number", "telegram:\n  rate_per_second: ${RAPPORT_TEST_WORD}\n", "rate_per_second"},
	}
	t.Setenv("RAPPORT_TEST_WORD", "fast")
	for _, tt := range tests {
		cfg := DefaultConfig()
		err := ParseConfig([]byte(tt.yaml), &cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to name %q", tt.name, err, tt.want)
		}
	}
}

// phone_region is a region code in any case; it is kept upper case.
func TestConfigPhoneRegion(t *testing.T) {
	cfg := DefaultConfig()
	if err := ParseConfig([]byte("phone_region: hk\n"), &cfg); err != nil || cfg.PhoneRegion != "HK" {
		t.Fatalf("phone_region hk: %q, %v", cfg.PhoneRegion, err)
	}
}

func TestConfigExpandsEnv(t *testing.T) {
	t.Setenv("TG_TOKEN", "123:abc # not a comment")
	t.Setenv("DB_PASS", "p@ss:word")
	y := `
telegram:
  enabled: true
  token: "${TG_TOKEN}"
database:
  driver: mysql
  dsn: "rapport:${DB_PASS}@tcp(127.0.0.1:3306)/rapport"
quiet_hours: {}
`
	cfg := DefaultConfig()
	if err := ParseConfig([]byte(y), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Telegram.Token != "123:abc # not a comment" {
		t.Errorf("token = %q", cfg.Telegram.Token)
	}
	if !strings.Contains(cfg.Database.DSN, "p@ss:word") {
		t.Errorf("dsn = %q", cfg.Database.DSN)
	}
	if cfg.QuietHours.Start != "" {
		t.Errorf("quiet_hours {} must disable them: %+v", cfg.QuietHours)
	}
	cfg = DefaultConfig()
	if err := ParseConfig([]byte("quiet_hours: {start: '', end: ''}\n"), &cfg); err != nil || cfg.QuietHours.Start != "" {
		t.Errorf("empty quiet hours: %+v %v", cfg.QuietHours, err)
	}
}

// An unquoted ${NAME} is read as YAML reads it (a number for a number
// key); a quoted one stays a string.
func TestConfigEnvKeepsTypes(t *testing.T) {
	t.Setenv("RATE", "12.5")
	t.Setenv("ON", "true")
	t.Setenv("DIGITS", "0123")
	cfg := DefaultConfig()
	y := "telegram:\n  rate_per_second: ${RATE}\n  token: ${DIGITS}\n  enabled: ${ON}\nbusiness_name: '${DIGITS}'\n"
	if err := ParseConfig([]byte(y), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Telegram.RatePerSecond != 12.5 || !cfg.Telegram.Enabled || cfg.Telegram.Token != "0123" || cfg.BusinessName != "0123" {
		t.Errorf("telegram %+v, business_name %q", cfg.Telegram, cfg.BusinessName)
	}
}

func TestMissingDefaultConfigMeansDefaults(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	os.Chdir(dir)
	cfg, err := loadConfig("")
	if err != nil || cfg.Database.DSN != "data/rapport.db" {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	if _, err := loadConfig("nope.yaml"); err == nil {
		t.Error("an explicit missing config file must be an error")
	}
	// As the shipped config.yaml does, the defaults take the bootstrap
	// token from the environment.
	t.Setenv("RAPPORT_ADMIN_TOKEN", "from-the-environment-0123")
	if cfg, err := loadConfig(""); err != nil || cfg.Admin.BootstrapToken != "from-the-environment-0123" {
		t.Errorf("no config file, RAPPORT_ADMIN_TOKEN set: %+v %v", cfg.Admin, err)
	}
}

// TestConfigWebhookWithoutPublicURL: webhook mode needs a secret but no
// public URL (the operator registers the webhook behind their proxy), and
// polling mode needs neither.
func TestConfigWebhookWithoutPublicURL(t *testing.T) {
	for name, y := range map[string]string{
		"webhook, no public_url": "telegram:\n  enabled: true\n  token: t\n  mode: webhook\n  webhook_secret: " + strings.Repeat("x", 32) + "\n",
		"polling, no secret":     "telegram:\n  enabled: true\n  token: t\n  mode: polling\n",
		"trusted proxies":        "http:\n  trusted_proxies: ['10.0.0.0/8', '127.0.0.1/32']\n",
		"safe mode key":          "wechat:\n  encoding_aes_key: abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\n",
	} {
		cfg := DefaultConfig()
		if err := ParseConfig([]byte(y), &cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFollowupConfig(t *testing.T) {
	cfg := DefaultConfig()
	err := ParseConfig([]byte("followup:\n  complaint_words: [\"差评\"]\n  complaint_due: 90m\n  escalate_after: 12h\n  digest_time: \"17:30\"\n"), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Followup
	if f.ComplaintDue != 90*time.Minute || f.EscalateAfter != 12*time.Hour || f.DigestTime != "17:30" || len(f.ComplaintWords) != 1 || f.Interval != 5*time.Second {
		t.Errorf("parsed %+v", f)
	}
	for body, want := range map[string]string{
		"followup:\n  digest_time: \"25:00\"\n": "followup.digest_time",
		"followup:\n  colour: red\n":            "followup.colour",
		"followup:\n  complaint_due: 0s\n":      "followup.complaint_due",
		"followup:\n  console_url: ftp://x\n":   "followup.console_url",
	} {
		cfg := DefaultConfig()
		if err := ParseConfig([]byte(body), &cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error naming %s", body, err, want)
		}
	}
}
