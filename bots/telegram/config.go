package telegram

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Config is the `telegram:` block of config.yaml.
type Config struct {
	Enabled       bool    `yaml:"enabled"`
	Token         string  `yaml:"token"`
	Mode          string  `yaml:"mode"` // polling | webhook
	WebhookSecret string  `yaml:"webhook_secret"`
	APIURL        string  `yaml:"api_url"`
	RatePerSecond float64 `yaml:"rate_per_second"`
}

// DefaultConfig is what an empty block means.
func DefaultConfig() Config {
	return Config{Mode: "polling", APIURL: "https://api.telegram.org", RatePerSecond: 25}
}

// Validate checks the block as config.yaml gives it; errors name the key.
// http.public_url is not needed: without it the webhook is served but
// registered by hand (behind the operator's own proxy).
func (c Config) Validate() error {
	if c.Enabled {
		if err := c.check(); err != nil {
			return err
		}
	}
	if !strings.HasPrefix(c.APIURL, "http://") && !strings.HasPrefix(c.APIURL, "https://") {
		return fmt.Errorf("telegram.api_url: %q is not an http(s) URL", c.APIURL)
	}
	if c.RatePerSecond <= 0 {
		return errors.New("telegram.rate_per_second: must be positive")
	}
	return nil
}

// check is what a running adapter needs: a token, a mode and, in webhook
// mode, a secret.
func (c Config) check() error {
	switch {
	case c.Token == "":
		return errors.New("telegram.token: required when telegram.enabled")
	case c.Mode == "webhook":
		if c.WebhookSecret == "" {
			return errors.New("telegram.webhook_secret: required in webhook mode (32-256 characters of A-Z, a-z, 0-9, _ and -)")
		}
		if !webhookSecret.MatchString(c.WebhookSecret) {
			return fmt.Errorf("telegram.webhook_secret: must be 32-256 characters of A-Z, a-z, 0-9, _ and - (got %d characters)", len(c.WebhookSecret))
		}
	case c.Mode != "polling":
		return fmt.Errorf("telegram.mode: %q is not polling or webhook", c.Mode)
	}
	return nil
}

// webhookSecret is what Telegram accepts as secret_token; Rapport also
// asks for at least 32 characters, so it can't be guessed.
var webhookSecret = regexp.MustCompile(`^[A-Za-z0-9_-]{32,256}$`)
