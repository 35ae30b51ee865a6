package main

import (
	"context"
	"time"

	"github.com/rapport-crm/rapport/templates"
	"github.com/rapport-crm/rapport/web"
)

// wireTemplates builds the template service, records the shipped texts as
// version 1, and adds the /template chat hook (first, so managers' edits
// are not taken for other commands). care, followup and the router render
// through it directly: it is their render.Renderer.
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
