package templates

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// Template is the active version of a key in a locale.
type Template struct {
	Key       string     `json:"key"`
	Locale    string     `json:"locale"`
	Body      string     `json:"body"`
	Version   int        `json:"version"`
	UpdatedBy string     `json:"updated_by"`
	UpdatedAt *time.Time `json:"updated_at"`
}

// Actor is who changes a template and through which interface.
type Actor struct {
	Name    string
	StaffID *int64
	Source  string // store.TemplateSourceAPI or store.TemplateSourceChat
}

// shippedBy is what updated_by says of a shipped text nobody changed.
const shippedBy = "system"

// Seed records the shipped texts as version 1 of every key and locale not
// seen before, so history and rollback start there. Idempotent.
func (s *Service) Seed(ctx context.Context) error {
	var vs []store.TemplateVersion
	for _, k := range Keys() {
		for _, l := range locales {
			vs = append(vs, store.TemplateVersion{Key: k, Locale: l, Body: s.defaults[ref(k, l)]})
		}
	}
	return s.store.EnsureTemplateDefaults(ctx, vs)
}

// List returns the active version of every key in a locale.
func (s *Service) List(ctx context.Context, locale string) ([]Template, error) {
	if _, err := checkKeyLocale("birthday", locale); err != nil {
		return nil, err
	}
	locale = Locale(locale)
	heads, err := s.store.TemplateHeads(ctx)
	if err != nil {
		return nil, err
	}
	byRef := make(map[string]store.TemplateHead, len(heads))
	for _, h := range heads {
		byRef[ref(h.Key, h.Locale)] = h
	}
	out := make([]Template, 0, len(Keys()))
	for _, k := range Keys() {
		var hp *store.TemplateHead
		if h, ok := byRef[ref(k, locale)]; ok {
			hp = &h
		}
		t, err := s.template(ctx, k, locale, hp)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, nil
}

// Get returns the active version of a key, read from the store (not the
// render cache).
func (s *Service) Get(ctx context.Context, key, locale string) (*Template, error) {
	locale, err := checkKeyLocale(key, locale)
	if err != nil {
		return nil, err
	}
	h, err := s.store.TemplateHeadOf(ctx, key, locale)
	if err != nil {
		return nil, err
	}
	return s.template(ctx, key, locale, h)
}

func (s *Service) template(ctx context.Context, key, locale string, h *store.TemplateHead) (*Template, error) {
	t := &Template{Key: key, Locale: locale, Body: s.defaults[ref(key, locale)], Version: 1, UpdatedBy: shippedBy}
	if h == nil {
		return t, nil
	}
	at := h.UpdatedAt.UTC()
	t.Version, t.UpdatedAt = h.Active, &at
	if h.UpdatedBy != "" {
		t.UpdatedBy = h.UpdatedBy
	}
	if h.Active > 1 {
		v, err := s.store.TemplateVersionOf(ctx, key, locale, h.Active)
		if err != nil {
			return nil, err
		}
		t.Body = v.Body
	}
	return t, nil
}

// Save validates body (it must parse and render against sample data and
// fit the channels) and stores it as the next version, now active. A
// rejected body changes nothing.
func (s *Service) Save(ctx context.Context, key, locale, body string, a Actor) (*Template, error) {
	locale, err := checkKeyLocale(key, locale)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.check(key, locale, body); err != nil {
		return nil, err
	}
	v, err := s.store.SaveTemplate(ctx, s.change(key, locale, a), body)
	if err != nil {
		return nil, err
	}
	s.invalidate()
	return versionTemplate(v), nil
}

func versionTemplate(v *store.TemplateVersion) *Template {
	at := v.CreatedAt.UTC()
	return &Template{Key: v.Key, Locale: v.Locale, Body: v.Body, Version: v.Version, UpdatedBy: v.Author, UpdatedAt: &at}
}

func (s *Service) change(key, locale string, a Actor) store.TemplateChange {
	return store.TemplateChange{Key: key, Locale: locale, DefaultBody: s.defaults[ref(key, locale)], Actor: a.Name, StaffID: a.StaffID, Source: a.Source}
}

// Rollback makes an existing version active again.
func (s *Service) Rollback(ctx context.Context, key, locale string, version int, a Actor) (*Template, error) {
	locale, err := checkKeyLocale(key, locale)
	if err != nil {
		return nil, err
	}
	if version > 1 {
		// A version saved by an older build may not compile with this
		// one's functions or pass its checks; refuse rather than break
		// rendering.
		if _, err := s.compiledVersion(ctx, key, locale, version); err != nil && !store.IsCode(err, store.ENOTFOUND) {
			return nil, err
		}
	}
	if _, err := s.store.RollbackTemplate(ctx, s.change(key, locale, a), version); err != nil {
		return nil, err
	}
	s.invalidate()
	return s.Get(ctx, key, locale)
}

// Version is one saved version, for the history.
type Version struct {
	store.TemplateVersion
	Active bool `json:"active"`
}

// Versions lists the versions of a key in a locale, newest first. A key
// never changed has only the shipped version 1.
func (s *Service) Versions(ctx context.Context, key, locale string, p store.Page) ([]Version, string, error) {
	locale, err := checkKeyLocale(key, locale)
	if err != nil {
		return nil, "", err
	}
	h, err := s.store.TemplateHeadOf(ctx, key, locale)
	if err != nil {
		return nil, "", err
	}
	if h == nil {
		return []Version{{TemplateVersion: store.TemplateVersion{Key: key, Locale: locale, Version: 1,
			Body: s.defaults[ref(key, locale)], Source: store.TemplateSourceDefault}, Active: true}}, "", nil
	}
	vs, next, err := s.store.TemplateVersions(ctx, key, locale, p)
	if err != nil {
		return nil, "", err
	}
	out := make([]Version, len(vs))
	for i, v := range vs {
		out[i] = Version{TemplateVersion: v, Active: v.Version == h.Active}
	}
	return out, next, nil
}

// Audit lists the changes of a key, newest first.
func (s *Service) Audit(ctx context.Context, key string, p store.Page) ([]store.TemplateAudit, string, error) {
	if _, err := checkKeyLocale(key, ""); err != nil {
		return nil, "", err
	}
	return s.store.TemplateAuditLog(ctx, key, p)
}

// PreviewInput is what to preview: a draft Body, or a saved Version (0 =
// the active one), for a customer (0 = sample customer).
type PreviewInput struct {
	Key        string
	Locale     string
	Body       string
	Version    int
	CustomerID int64
}

// Preview is a rendered text that was not saved or sent.
type Preview struct {
	Key          string            `json:"key"`
	Locale       string            `json:"locale"`
	Version      int               `json:"version"` // 0 for a draft body
	Text         string            `json:"text"`
	WeChatFields map[string]string `json:"wechat_fields"`
}

// Preview renders a draft body or a saved version without saving
// anything. A draft is validated as Save would. At most Config.Previews
// run at once; each render has checkTime and stops when ctx ends.
func (s *Service) Preview(ctx context.Context, in PreviewInput) (*Preview, error) {
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	var c *store.Customer
	if in.CustomerID != 0 {
		if c, err = s.store.CustomerByID(ctx, in.CustomerID); err != nil {
			return nil, err
		}
		in.Locale = cmp.Or(in.Locale, Locale(c.Locale))
	}
	locale, err := checkKeyLocale(in.Key, in.Locale)
	if err != nil {
		return nil, err
	}
	out := &Preview{Key: in.Key, Locale: locale}
	var cp *compiled
	switch {
	case in.Body != "":
		if cp, _, err = s.validate(ctx, in.Key, locale, in.Body); err != nil {
			return nil, err
		}
	case in.Version > 0:
		if in.Version > 1 {
			if _, err := s.store.TemplateVersionOf(ctx, in.Key, locale, in.Version); err != nil {
				return nil, err
			}
		}
		if cp, err = s.compiledVersion(ctx, in.Key, locale, in.Version); err != nil {
			return nil, err
		}
	default:
		cur, err := s.Get(ctx, in.Key, locale)
		if err != nil {
			return nil, err
		}
		if cp, err = s.compiledVersion(ctx, in.Key, locale, cur.Version); err != nil {
			return nil, err
		}
	}
	out.Version = cp.version
	d := sample(in.Key, locale, true)
	if c != nil {
		d.Customer = render.CustomerOf(c)
	}
	text, err := s.execute(ctx, cp, d, locale, s.cfg.CheckTime)
	if err != nil {
		return nil, bodyError(err, "for this customer")
	}
	out.Text = text
	out.WeChatFields = render.Rendered{Text: text}.WeChatFields()
	return out, nil
}

// String is for logs.
func (t Template) String() string { return fmt.Sprintf("%s (%s) v%d", t.Key, t.Locale, t.Version) }
