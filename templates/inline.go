package templates

import (
	"context"
	"fmt"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// KeyCampaign is the template of campaigns that name no other template;
// inline campaign bodies are validated as its text.
const KeyCampaign = "campaign"

// CheckCampaignTemplate tells whether key can carry a campaign: a known
// key whose text needs nothing but the customer (and .Extra).
func CheckCampaignTemplate(key string) error {
	sp, ok := keySpec(key)
	if !ok || sp.needs != 0 || sp.buttons != 0 || len(sp.extras) > 0 {
		return store.Invalid("template_key", "%q is not a template a campaign can send (campaign, birthday, revisit, winback, welcome...)", key)
	}
	return nil
}

// Inline validates campaign bodies by locale (zh-CN, en; "*" for every
// locale) as Save would, and returns a renderer of them: all template
// features, per locale, without saving a version.
func (s *Service) Inline(bodies map[string]string) (render.Renderer, error) {
	in := &inline{s: s, c: map[string]*compiled{}}
	for l, body := range bodies {
		targets := []string{l}
		switch l {
		case "*":
			targets = locales[:]
		case store.LocaleZH, store.LocaleEN:
		default:
			return nil, store.Invalid("bodies", "%q is not zh-CN, en or *", l)
		}
		for _, t := range targets {
			if l == "*" && bodies[t] != "" {
				continue // a locale's own body wins
			}
			c, _, err := s.check(KeyCampaign, t, body)
			if err != nil {
				return nil, err
			}
			in.c[t] = c
		}
	}
	if len(in.c) == 0 {
		return nil, store.Invalid("body", "is empty")
	}
	return in, nil
}

type inline struct {
	s *Service
	c map[string]*compiled
}

// Render renders the body of locale (else zh-CN, else any).
func (in *inline) Render(ctx context.Context, _ string, locale string, d render.Data) (render.Rendered, error) {
	locale = Locale(locale)
	c := in.c[locale]
	if c == nil {
		locale = store.LocaleZH
		if c = in.c[locale]; c == nil {
			locale = store.LocaleEN
			c = in.c[locale]
		}
	}
	text, err := in.s.execute(context.WithoutCancel(ctx), c, d, locale, renderTime)
	if err != nil {
		return render.Rendered{}, fmt.Errorf("render campaign body (%s): %w", locale, err)
	}
	return render.Rendered{Key: KeyCampaign, Locale: locale, Text: text}, nil
}
