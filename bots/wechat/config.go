package wechat

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Config is the `wechat:` block of config.yaml.
type Config struct {
	Enabled        bool              `yaml:"enabled"`
	AppID          string            `yaml:"app_id"`
	AppSecret      string            `yaml:"app_secret"`
	Token          string            `yaml:"token"`
	EncodingAESKey string            `yaml:"encoding_aes_key"` // empty = plaintext mode
	APIBaseURL     string            `yaml:"api_base_url"`
	RatePerSecond  float64           `yaml:"rate_per_second"`
	TemplateIDs    map[string]string `yaml:"template_ids"` // care workflow -> template id
}

// DefaultConfig is what an empty block means.
func DefaultConfig() Config {
	return Config{APIBaseURL: DefaultAPIBaseURL, RatePerSecond: 50, TemplateIDs: map[string]string{}}
}

// Validate checks the block as config.yaml gives it; errors name the key.
// The keys of template_ids are care workflows, which the caller checks
// (this package does not know them).
func (c Config) Validate() error {
	if err := c.check(c.Enabled); err != nil {
		return err
	}
	if !strings.HasPrefix(c.APIBaseURL, "http://") && !strings.HasPrefix(c.APIBaseURL, "https://") {
		return fmt.Errorf("wechat.api_base_url: %q is not an http(s) URL", c.APIBaseURL)
	}
	if c.RatePerSecond <= 0 {
		return errors.New("wechat.rate_per_second: must be positive")
	}
	return nil
}

// check is what an adapter needs: with credentials, an app id, secret and
// token; an encoding_aes_key, when set, must be 43 characters that, with
// "=" appended, are the standard base64 of the 32-byte AES key (what the
// MP console generates).
func (c Config) check(credentials bool) error {
	if credentials {
		for _, f := range []struct{ key, v string }{{"app_id", c.AppID}, {"app_secret", c.AppSecret}, {"token", c.Token}} {
			if f.v == "" {
				return fmt.Errorf("wechat.%s: required when wechat.enabled", f.key)
			}
		}
	}
	if k := c.EncodingAESKey; k != "" {
		if len(k) != 43 {
			return fmt.Errorf("wechat.encoding_aes_key: must be 43 characters, got %d", len(k))
		}
		if key, err := base64.StdEncoding.DecodeString(k + "="); err != nil || len(key) != 32 {
			return errors.New("wechat.encoding_aes_key: not the base64 of a 32-byte key (letters, digits, + and / only)")
		}
	}
	return nil
}

// Template is the template message id configured for a care workflow ("":
// none, and none for a message of no workflow). The adapter sends with it;
// care asks whether there is one before it writes a message WeChat could
// not carry otherwise.
func (c Config) Template(workflow string) string {
	if workflow == "" {
		return ""
	}
	// Every campaign ("campaign:12") uses the one campaign template.
	if strings.HasPrefix(workflow, "campaign:") {
		workflow = "campaign"
	}
	return c.TemplateIDs[workflow]
}
