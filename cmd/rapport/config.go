package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rapport-crm/rapport/analytics"
	"github.com/rapport-crm/rapport/bots/telegram"
	"github.com/rapport-crm/rapport/bots/wechat"
	"github.com/rapport-crm/rapport/campaign"
	"github.com/rapport-crm/rapport/care"
	"github.com/rapport-crm/rapport/followup"
	"github.com/rapport-crm/rapport/points"
	"github.com/rapport-crm/rapport/report"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/web"
)

// Config is config.yaml. Each block's struct lives next to its package.
type Config struct {
	HTTP       web.Config        `yaml:"http"`
	Database   store.Config      `yaml:"database"`
	Timezone   string            `yaml:"timezone"`
	QuietHours care.QuietHours   `yaml:"quiet_hours"`
	Admin      AdminConfig       `yaml:"admin"`
	Telegram   telegram.Config   `yaml:"telegram"`
	WeChat     wechat.Config     `yaml:"wechat"`
	Care       care.Config       `yaml:"care"`
	Followup   followup.Config   `yaml:"followup"`
	Analytics  analytics.Config  `yaml:"analytics"`
	Reports    report.Config     `yaml:"reports"`
	Campaigns  campaign.Config   `yaml:"campaigns"`
	Points     points.Config     `yaml:"points"`
	Console    web.ConsoleConfig `yaml:"console"`
	// BusinessName is what templates call the business ({{.Business}}).
	BusinessName string `yaml:"business_name"`
	// PhoneRegion is the region (ISO 3166-1 code) a phone number without
	// a country code is read in: 13800138000 is +8613800138000 in CN.
	PhoneRegion string `yaml:"phone_region"`

	location *time.Location
}

// AdminConfig is the `admin:` block.
type AdminConfig struct {
	// BootstrapToken is an admin API token made at start; a new value
	// revokes the previous one. Default: $RAPPORT_ADMIN_TOKEN.
	BootstrapToken string `yaml:"bootstrap_token"`
	// AgentsSeeAll lets agents read and message every customer, not only
	// their own and those of their open tasks.
	AgentsSeeAll bool `yaml:"agents_see_all"`
}

// DefaultConfig is the config with nothing set: embedded SQLite, channels
// off, every care workflow on its default schedule, no quiet hours (the
// contract: an omitted quiet_hours block disables them), and the
// bootstrap token from $RAPPORT_ADMIN_TOKEN as the shipped config.yaml
// reads it, so that a start without a config file has one too.
func DefaultConfig() Config {
	return Config{
		HTTP:        web.Config{Addr: ":8080"},
		Database:    store.Config{Driver: store.SQLite, DSN: "data/rapport.db"},
		Timezone:    "Asia/Shanghai",
		Admin:       AdminConfig{BootstrapToken: os.Getenv("RAPPORT_ADMIN_TOKEN")},
		Telegram:    telegram.DefaultConfig(),
		WeChat:      wechat.DefaultConfig(),
		Care:        care.DefaultConfig(),
		Followup:    followup.DefaultConfig(),
		Analytics:   analytics.DefaultConfig(),
		Reports:     report.DefaultConfig(),
		Campaigns:   campaign.DefaultConfig(),
		Points:      points.DefaultConfig(),
		Console:     web.DefaultConsoleConfig(),
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
// ${NAME} in values from the environment, rejecting unknown keys and
// values of the wrong type by their dotted name, then validates.
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
	keys := map[int]string{} // line -> the first key on it
	if err := checkKeys(root, reflect.TypeOf(*cfg), "", keys); err != nil {
		return err
	}
	if err := root.Decode(cfg); err != nil {
		return keyed(err, keys)
	}
	return cfg.Validate()
}

// keyed names the key of each line of a type error: "line 3: cannot
// unmarshal ..." becomes "telegram.rate_per_second: cannot unmarshal ...".
func keyed(err error, keys map[int]string) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, e := range te.Errors {
		var line int
		if _, serr := fmt.Sscanf(e, "line %d:", &line); serr == nil && keys[line] != "" {
			e = keys[line] + strings.TrimPrefix(e, fmt.Sprintf("line %d", line))
		}
		msgs[i] = e
	}
	return errors.New(strings.Join(msgs, "; "))
}

// expandEnv replaces ${NAME} in scalar values. A quoted value stays a
// string; an unquoted one is read as YAML reads it, so that
// `rate_per_second: ${RATE}` is a number (and an empty one the key's
// default).
func expandEnv(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
			return os.Getenv(m[2 : len(m)-1])
		})
		if n.Style&yaml.TaggedStyle == 0 && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
			n.Tag = "" // resolved from the expanded value when decoded
		}
	}
	for _, c := range n.Content {
		expandEnv(c)
	}
}

// checkKeys walks a mapping against the struct it decodes into and names
// the first key the struct does not have; it notes in keys the first key
// of each line.
func checkKeys(n *yaml.Node, t reflect.Type, path string, keys map[int]string) error {
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
			key, line := n.Content[i].Value, n.Content[i].Line
			ft, ok := fields[key]
			if !ok {
				return fmt.Errorf("%s: unknown key (line %d)", strings.TrimPrefix(path+"."+key, "."), line)
			}
			if keys[line] == "" {
				keys[line] = strings.TrimPrefix(path+"."+key, ".")
			}
			if err := checkKeys(n.Content[i+1], ft, path+"."+key, keys); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if err := checkKeys(n.Content[i+1], t.Elem(), path+"."+n.Content[i].Value, keys); err != nil {
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
// Each block checks itself; what joins two blocks is checked here.
func (c *Config) Validate() error {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil || c.Timezone == "" {
		return fmt.Errorf("timezone: unknown time zone %q", c.Timezone)
	}
	c.location = loc
	if !store.ValidPhoneRegion(c.PhoneRegion) {
		return fmt.Errorf("phone_region: %q is not a region code the phone number rules know (e.g. CN, HK, TW, US)", c.PhoneRegion)
	}
	c.PhoneRegion = strings.ToUpper(strings.TrimSpace(c.PhoneRegion))
	if t := c.Admin.BootstrapToken; t != "" && len(t) < 16 {
		return fmt.Errorf("admin.bootstrap_token: must be at least 16 characters")
	}
	for wf := range c.WeChat.TemplateIDs {
		if !care.IsWorkflow(wf) && wf != "campaign" {
			return fmt.Errorf("wechat.template_ids.%s: unknown care workflow (%s)", wf, care.WorkflowList())
		}
	}
	for _, v := range []interface{ Validate() error }{c.HTTP, c.Database, c.QuietHours, c.Telegram, c.WeChat, c.Care, c.Followup, c.Analytics, c.Reports, c.Campaigns, c.Points, c.Console} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	return nil
}
