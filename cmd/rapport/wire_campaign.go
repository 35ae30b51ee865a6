package main

import (
	"context"

	"github.com/rapport-crm/rapport/campaign"
	"github.com/rapport-crm/rapport/care"
	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/templates"
)

// careDeliverer runs campaign deliveries through the care engine's
// execution: where campaign and care meet.
type careDeliverer struct{ care *care.Service }

func (d careDeliverer) Deliver(ctx context.Context, x campaign.Delivery) (*store.CareRun, error) {
	return d.care.Deliver(ctx, care.Delivery{
		Key: x.Key, Occurrence: x.Occurrence, Label: x.Label, Audience: x.Audience, After: x.After,
		Template: x.Template, Renderer: x.Renderer, Vars: x.Vars, CapExempt: x.CapExempt, DryRun: x.DryRun,
		Progress: x.Progress,
	})
}

// newCampaigns builds the campaign service on the care service.
func (m *Main) newCampaigns(cs *care.Service) (*campaign.Service, error) {
	return campaign.New(m.Config.Campaigns, campaign.Options{
		Store:         m.Store,
		Deliver:       careDeliverer{cs},
		Inline:        func(b map[string]string) (render.Renderer, error) { return m.Templates.Inline(b) },
		CheckTemplate: templates.CheckCampaignTemplate,
		Location:      m.Config.Location(),
		Logger:        m.Logger,
	})
}
