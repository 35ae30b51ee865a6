package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/telegram"
	"github.com/rapport-crm/rapport/bots/webchat"
	"github.com/rapport-crm/rapport/bots/wechat"
	"github.com/rapport-crm/rapport/care"
	"github.com/rapport-crm/rapport/followup"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/templates"
)

// The parts Main.Run wires, each from its config block.

// newTemplates builds the template service and records the shipped texts
// as version 1. care, followup and the router render through it: it is
// their render.Renderer.
func (m *Main) newTemplates() error {
	m.Templates = templates.New(m.Store, templates.Config{
		BusinessName: m.Config.BusinessName,
		Location:     m.Config.Location(),
		StaffLocale:  m.Config.Followup.StaffLocale,
		Logger:       m.Logger,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return m.Templates.Seed(ctx)
}

// newFollowup builds the follow-up service: staff commands, relays and
// complaint detection in chat; task notices, overdue reminders,
// escalation and the digest in its loop.
func (m *Main) newFollowup(camps followup.Campaigns) (*followup.Service, error) {
	o := followup.Options{
		Store: m.Store, Templates: m.Templates, Location: m.Config.Location(), Logger: m.Logger,
		WindowMonths: m.Config.Analytics.WindowMonths, Campaigns: camps,
	}
	if m.Reports != nil {
		o.Figures = m.digestFigures
	}
	return followup.New(m.Config.Followup, o)
}

// newCare builds the care service: the workflows and their scheduler,
// and survey answers in chat.
func (m *Main) newCare() (*care.Service, error) {
	return care.New(m.Config.Care, care.Options{
		Store:             m.Store,
		Templates:         m.Templates,
		Location:          m.Config.Location(),
		QuietHours:        m.Config.QuietHours,
		HasWeChatTemplate: func(wf string) bool { return m.Config.WeChat.Template(wf) != "" },
		Business:          m.Config.BusinessName,
		StaffLocale:       m.Config.Followup.StaffLocale,
		Registry:          m.Registry,
		Logger:            m.Logger,
		PointsExpiry:      m.pointsNotice(),
	})
}

// channelRunner is a chat adapter as startBots needs it: a Channel for
// the dispatcher, its send limits, and an intake loop.
type channelRunner interface {
	bots.Channel
	Limits() bots.Limits
	Run(ctx context.Context) error
}

// startBots builds the router (which hands chat to hooks, in order) and
// the outbox dispatcher, and starts the enabled chat channels with their
// webhooks mounted on m.Web. A disabled channel makes no network call;
// web chat is always on.
func (m *Main) startBots(hooks []bots.Hook) error {
	metrics := bots.NewMetrics(m.Registry)
	disp := bots.NewDispatcher(m.Store, bots.DispatcherOptions{Logger: m.Logger, Metrics: metrics})
	router := bots.NewRouter(m.Store, bots.RouterOptions{
		Hooks: hooks, Renderer: m.Templates, Logger: m.Logger, Metrics: metrics, Notify: disp.Kick, Location: m.Config.Location(), Gather: 20 * time.Millisecond,
	})
	for _, ch := range []struct {
		name  string
		build func(bots.Receiver) (channelRunner, error)
	}{
		{store.ChannelTelegram, m.telegramChannel},
		{store.ChannelWeChat, m.wechatChannel},
		{store.ChannelWebChat, m.webchatChannel},
	} {
		a, err := ch.build(router)
		if err != nil {
			return err
		}
		if a == nil {
			m.Health.Start(ch.name, bots.StateDisabled, "not enabled in the config")
			continue
		}
		// Enabled channels count as ok until they fail to reach their
		// platform (a degraded state is logged; the start is not).
		m.Health.Start(ch.name, bots.StateOK, "")
		disp.Add(a, a.Limits())
		m.goLoop("bots."+a.Name(), a.Run)
	}
	m.goLoop("bots.router", router.Run)
	m.goLoop("bots.dispatcher", disp.Run)
	return nil
}

// telegramChannel builds the Telegram adapter when telegram.enabled and,
// in webhook mode only, mounts its webhook: in polling mode nothing posts
// updates to us, and an open endpoint would only take forged ones.
func (m *Main) telegramChannel(recv bots.Receiver) (channelRunner, error) {
	cfg := m.Config.Telegram
	if !cfg.Enabled {
		return nil, nil
	}
	a, err := telegram.New(cfg, telegram.Options{Receiver: recv, PublicURL: m.Config.HTTP.PublicURL, Logger: m.Logger, Health: m.Health})
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	if cfg.Mode == "webhook" {
		m.Web.Handle("POST "+telegram.WebhookPath, a)
	}
	return a, nil
}

// wechatChannel builds the WeChat Official Account adapter when
// wechat.enabled and mounts its callback (GET for URL verification, POST
// for messages and events).
func (m *Main) wechatChannel(recv bots.Receiver) (channelRunner, error) {
	if !m.Config.WeChat.Enabled {
		return nil, nil
	}
	a, err := wechat.New(m.Config.WeChat, wechat.Options{
		Receiver: recv, Store: m.Store, Logger: m.Logger, Registerer: m.Registry, Health: m.Health,
	})
	if err != nil {
		return nil, fmt.Errorf("wechat: %w", err)
	}
	m.Web.Handle(wechat.WebhookPath, a)
	return a, nil
}

// webchatChannel builds the web chat channel and mounts /chat. It needs no
// configuration: it is the channel a credential-less start serves.
func (m *Main) webchatChannel(recv bots.Receiver) (channelRunner, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	proxies, err := m.Config.HTTP.Proxies()
	if err != nil {
		return nil, err
	}
	c, err := webchat.New(ctx, webchat.Options{Receiver: recv, Store: m.Store, Logger: m.Logger, TrustedProxies: proxies})
	if err != nil {
		return nil, fmt.Errorf("webchat: %w", err)
	}
	c.Register(m.Web.Handle)
	m.onShutdown = append(m.onShutdown, c.EndStreams)
	return c, nil
}
