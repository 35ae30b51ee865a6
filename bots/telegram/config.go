package telegram

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
