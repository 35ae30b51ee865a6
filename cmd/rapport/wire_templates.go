package main

import (
	"context"
	"time"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/care"
	"github.com/rapport-crm/rapport/followup"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/templates"
	"github.com/rapport-crm/rapport/web"
)

// wireTemplates builds the template service, records the shipped texts as
// version 1, and adds the /template chat hook (first, so managers' edits
// are not taken for other commands).
func (m *Main) wireTemplates(d *web.Deps) error {
	m.Templates = templates.New(m.Store, templates.Config{
		BusinessName: m.Config.BusinessName,
		Location:     m.Config.Location(),
		StaffLocale:  m.Config.Followup.StaffLocale,
		Logger:       m.Logger,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Templates.Seed(ctx); err != nil {
		return err
	}
	d.Templates = m.Templates
	m.Hooks = append(m.Hooks, m.Templates)
	return nil
}

// The adapters below let care, followup and bots render through the
// template service without importing it (their Renderer interfaces use
// their own data types).

// careTemplates adapts templates.Service to care.Renderer.
type careTemplates struct {
	svc *templates.Service
	loc *time.Location
}

func (a careTemplates) Render(ctx context.Context, key, locale string, d care.Data) (care.Rendered, error) {
	td := templates.Data{Business: d.Business, Customer: templates.CustomerData(d.Customer), Extra: map[string]string{}}
	if d.Asset != nil {
		td.Asset = &templates.Asset{Name: d.Asset.Name, DueDate: a.date(d.Asset.DueDate)}
		td.Extra["due_date"] = d.Asset.DueDate
	}
	if d.Survey != nil {
		td.Survey = &templates.Survey{Score: d.Survey.Score, Comment: d.Survey.Comment, OrderDate: a.date(d.Survey.OrderDate)}
		td.Extra["order_date"] = d.Survey.OrderDate
	}
	if d.Holiday != nil {
		td.Holiday = &templates.Holiday{Key: d.Holiday.Key, Name: d.Holiday.Name}
	}
	r, err := a.svc.Render(ctx, key, locale, td)
	if err != nil {
		return care.Rendered{}, err
	}
	return care.Rendered{Key: r.Key, Locale: r.Locale, Version: r.Version, Text: r.Text}, nil
}

// date reads care's YYYY-MM-DD (or RFC 3339) as a business-zone date; a
// value it cannot read is the zero time, which templates leave out.
func (a careTemplates) date(v string) time.Time {
	if t, err := time.ParseInLocation("2006-01-02", v, a.loc); err == nil {
		return t
	}
	t, _ := time.Parse(time.RFC3339, v)
	return t
}

// followupTemplates adapts templates.Service to followup.Renderer. Keys
// the service does not ship (followup's short staff_* answers) fail, and
// followup uses its built-in text.
type followupTemplates struct{ svc *templates.Service }

func (a followupTemplates) Render(ctx context.Context, key, locale string, n followup.Notice) (followup.Rendered, error) {
	td := templates.Data{Customer: templates.Customer{Name: n.CustomerName}, Extra: n.Extra}
	if n.Customer != nil {
		td.Customer = templates.CustomerData(n.Customer)
	}
	if n.StaffName != "" {
		td.Staff = &templates.Staff{Name: n.StaffName}
	}
	if t := n.Task; t != nil {
		td.Task = &templates.Task{ID: t.ID, Title: t.Title, Kind: t.Kind, Priority: t.Priority, Detail: t.Detail, CustomerSummary: n.CustomerSummary}
		if t.DueAt != nil {
			td.Task.DueAt = *t.DueAt
		}
	}
	r, err := a.svc.Render(ctx, key, locale, td)
	if err != nil {
		return followup.Rendered{}, err
	}
	return followup.Rendered{Key: r.Key, Version: r.Version, Text: r.Text}, nil
}

// chatTemplates adapts templates.Service to bots.Renderer (the router's
// replies to customers, in the customer's locale).
type chatTemplates struct{ svc *templates.Service }

func (a chatTemplates) RenderChat(ctx context.Context, key string, c *store.Customer, vars map[string]string) (bots.Rendered, error) {
	locale := ""
	if c != nil {
		locale = c.Locale
	}
	r, err := a.svc.Render(ctx, key, locale, templates.Data{Customer: templates.CustomerData(c), Extra: vars})
	if store.IsCode(err, store.ENOTFOUND) {
		return bots.Rendered{}, bots.ErrNoTemplate
	} else if err != nil {
		return bots.Rendered{}, err
	}
	return bots.Rendered{Text: r.Text, Version: r.Version}, nil
}
