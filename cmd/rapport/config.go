package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/rapport-crm/rapport/bots/telegram"
	"github.com/rapport-crm/rapport/bots/wechat"
	"github.com/rapport-crm/rapport/care"
	"github.com/rapport-crm/rapport/followup"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/web"
)

// Config is config.yaml. Each block's struct lives next to its package.
type Config struct {
	HTTP       web.Config      `yaml:"http"`
	Database   store.Config    `yaml:"database"`
	Timezone   string          `yaml:"timezone"`
	QuietHours QuietHours      `yaml:"quiet_hours"`
	Admin      AdminConfig     `yaml:"admin"`
	Telegram   telegram.Config `yaml:"telegram"`
	WeChat     wechat.Config   `yaml:"wechat"`
	Care       care.Config     `yaml:"care"`
	Followup   followup.Config `yaml:"followup"`
	// BusinessName is what templates call the business ({{.Business}}).
	BusinessName string `yaml:"business_name"`
	// PhoneRegion is the region (ISO 3166-1 code) a phone number without
	// a country code is read in: 13800138000 is +8613800138000 in CN.
	PhoneRegion string `yaml:"phone_region"`

	location *time.Location
}

// QuietHours is the window with no proactive care, in the business zone.
type QuietHours struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// AdminConfig is the `admin:` block.
type AdminConfig struct {
	// BootstrapToken is an admin API token made at start; a new value
	// revokes the previous one.
	BootstrapToken string `yaml:"bootstrap_token"`
	// AgentsSeeAll lets agents read and message every customer, not only
	// their own and those of their open tasks.
	AgentsSeeAll bool `yaml:"agents_see_all"`
}

// DefaultConfig is the config with nothing set: embedded SQLite, channels
// off, every care workflow on its default schedule, no quiet hours (the
// contract: an omitted quiet_hours block disables them).
func DefaultConfig() Config {
	return Config{
		HTTP:        web.Config{Addr: ":8080"},
		Database:    store.Config{Driver: store.SQLite, DSN: "data/rapport.db"},
		Timezone:    "Asia/Shanghai",
		Telegram:    telegram.DefaultConfig(),
		WeChat:      wechat.DefaultConfig(),
		Care:        care.DefaultConfig(),
		Followup:    followup.DefaultConfig(),
		PhoneRegion: store.DefaultPhoneRegion,
	}
}

// Location is the business time zone (valid after Validate).
func (c *Config) Location() *time.Location { return c.location }

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// LoadConfig reads path; a missing file at the default path means defaults.
func LoadConfig(path string, mustExist bool) (*Config, error) {
	cfg := DefaultConfig()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !mustExist {
		return &cfg, cfg.Validate()
	} else if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := ParseConfig(b, &cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &cfg, nil
}

// ParseConfig decodes YAML onto cfg (which holds the defaults), expanding
// ${NAME} in values from the environment, rejecting unknown keys by their
// dotted name, then validates.
func ParseConfig(b []byte, cfg *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return cfg.Validate()
	}
	root := doc.Content[0]
	expandEnv(root)
	if err := checkKeys(root, reflect.TypeOf(*cfg), ""); err != nil {
		return err
	}
	// Re-encode the expanded tree so expanded values are quoted properly.
	var buf bytes.Buffer
	if err := yaml.NewEncoder(&buf).Encode(root); err != nil {
		return err
	}
	if err := yaml.NewDecoder(&buf).Decode(cfg); err != nil {
		return err
	}
	return cfg.Validate()
}

func expandEnv(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
			return os.Getenv(m[2 : len(m)-1])
		})
		if n.Tag == "!!null" || n.Tag == "" {
			n.Tag = "!!str"
		}
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		expandEnv(c)
	}
}

// checkKeys walks a mapping against the struct it decodes into and names
// the first key the struct does not have.
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return nil
			}
			return fmt.Errorf("%s: expected a mapping", strings.TrimPrefix(path, "."))
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			ft, ok := fields[key]
			if !ok {
				return fmt.Errorf("%s: unknown key (line %d)", strings.TrimPrefix(path+"."+key, "."), n.Content[i].Line)
			}
			if err := checkKeys(n.Content[i+1], ft, path+"."+key); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if err := checkKeys(n.Content[i+1], t.Elem(), path+"."+n.Content[i].Value); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "-" {
			continue
		}
		name = cmp.Or(name, strings.ToLower(f.Name))
		out[name] = f.Type
	}
	return out
}

// Validate checks every value and names the key of the first bad one.
func (c *Config) Validate() error {
	if c.HTTP.Addr == "" {
		return fmt.Errorf("http.addr: empty")
	}
	if err := c.Database.Validate(); err != nil {
		return err
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil || c.Timezone == "" {
		return fmt.Errorf("timezone: unknown time zone %q", c.Timezone)
	}
	c.location = loc
	if !store.ValidPhoneRegion(c.PhoneRegion) {
		return fmt.Errorf("phone_region: %q is not a region code the phone number rules know (e.g. CN, HK, TW, US)", c.PhoneRegion)
	}
	c.PhoneRegion = strings.ToUpper(strings.TrimSpace(c.PhoneRegion))
	if (c.QuietHours.Start == "") != (c.QuietHours.End == "") {
		return fmt.Errorf("quiet_hours: set both start and end, or neither")
	}
	for key, v := range map[string]string{"quiet_hours.start": c.QuietHours.Start, "quiet_hours.end": c.QuietHours.End} {
		if v != "" {
			if _, err := time.Parse("15:04", v); err != nil {
				return fmt.Errorf("%s: %q is not HH:MM", key, v)
			}
		}
	}
	if t := c.Admin.BootstrapToken; t != "" && len(t) < 16 {
		return fmt.Errorf("admin.bootstrap_token: must be at least 16 characters")
	}
	if c.Telegram.Enabled {
		if c.Telegram.Token == "" {
			return fmt.Errorf("telegram.token: required when telegram.enabled")
		}
		if c.Telegram.Mode != "polling" && c.Telegram.Mode != "webhook" {
			return fmt.Errorf("telegram.mode: %q is not polling or webhook", c.Telegram.Mode)
		}
		// http.public_url is optional: without it the webhook is served
		// but registered by hand (behind the operator's own proxy).
		if c.Telegram.Mode == "webhook" {
			if err := telegram.CheckWebhookSecret(c.Telegram.WebhookSecret); err != nil {
				return err
			}
		}
	}
	if err := checkURL("telegram.api_url", c.Telegram.APIURL); err != nil {
		return err
	}
	if c.Telegram.RatePerSecond <= 0 {
		return fmt.Errorf("telegram.rate_per_second: must be positive")
	}
	if c.WeChat.Enabled {
		for key, v := range map[string]string{"wechat.app_id": c.WeChat.AppID, "wechat.app_secret": c.WeChat.AppSecret, "wechat.token": c.WeChat.Token} {
			if v == "" {
				return fmt.Errorf("%s: required when wechat.enabled", key)
			}
		}
	}
	if k := c.WeChat.EncodingAESKey; k != "" {
		if err := wechat.CheckAESKey(k); err != nil {
			return err
		}
	}
	if err := checkURL("wechat.api_base_url", c.WeChat.APIBaseURL); err != nil {
		return err
	}
	if c.WeChat.RatePerSecond <= 0 {
		return fmt.Errorf("wechat.rate_per_second: must be positive")
	}
	for wf := range c.WeChat.TemplateIDs {
		if !care.IsWorkflow(wf) {
			return fmt.Errorf("wechat.template_ids.%s: unknown care workflow", wf)
		}
	}
	if c.HTTP.PublicURL != "" {
		if err := checkURL("http.public_url", c.HTTP.PublicURL); err != nil {
			return err
		}
	}
	if _, err := c.HTTP.Proxies(); err != nil {
		return err
	}
	for _, w := range c.Care.Schedules() {
		if err := checkCron(w.Schedule, loc); err != nil {
			return fmt.Errorf("care.%s.schedule: %w", w.Name, err)
		}
	}
	if err := c.Followup.Validate(); err != nil {
		return err
	}
	return c.Care.Validate()
}

func checkURL(key, v string) error {
	if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return fmt.Errorf("%s: %q is not an http(s) URL", key, v)
	}
	return nil
}

// checkCron parses a 5-field spec; robfig/cron panics on some malformed
// input ("CRON_TZ=UTC") and accepts specs that never fire ("0 9 31 2 *").
func checkCron(spec string, loc *time.Location) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%q is not a cron spec", spec)
		}
	}()
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return fmt.Errorf("%q: %v", spec, err)
	}
	if s.Next(time.Now().In(loc)).IsZero() {
		return fmt.Errorf("%q never fires", spec)
	}
	return nil
}
