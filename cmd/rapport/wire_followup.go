package main

import (
	"context"

	"github.com/rapport-crm/rapport/followup"
	"github.com/rapport-crm/rapport/web"
)

// wireFollowup builds the follow-up service, adds its chat hook (staff
// commands, relays, complaint detection) and starts its loop (task
// notices, overdue reminders, escalation, digest).
func (m *Main) wireFollowup(ctx context.Context, d *web.Deps) error {
	svc, err := followup.New(m.Config.Followup, followup.Options{
		Store:     m.Store,
		Templates: m.Templates,
		Location:  m.Config.Location(),
		Logger:    m.Logger,
	})
	if err != nil {
		return err
	}
	m.Hooks = append(m.Hooks, svc)
	m.goLoop("followup", ctx, svc.Run)
	return nil
}
