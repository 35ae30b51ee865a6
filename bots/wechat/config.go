package wechat

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
	return Config{APIBaseURL: "https://api.weixin.qq.com", RatePerSecond: 50, TemplateIDs: map[string]string{}}
}

// Template is the template message id configured for a care workflow ("":
// none, and none for a message of no workflow). The adapter sends with it;
// care asks whether there is one before it writes a message WeChat could
// not carry otherwise.
func (c Config) Template(workflow string) string {
	if workflow == "" {
		return ""
	}
	return c.TemplateIDs[workflow]
}
