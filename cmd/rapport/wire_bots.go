package main

import (
	"context"
	"fmt"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/telegram"
	"github.com/rapport-crm/rapport/store"
)

// channelRunner is an adapter as wireBots needs it: a Channel for the
// dispatcher, its send limits, and an intake loop.
type channelRunner interface {
	bots.Channel
	Limits() bots.Limits
	Run(ctx context.Context) error
}

// wireBots builds the router (with m.Hooks) and the outbox dispatcher,
// starts the enabled chat adapters and mounts their webhooks on m.Web.
// With no channel enabled it makes no network call; the dispatcher then
// idles (web chat, when wired, is always on).
func (m *Main) wireBots(ctx context.Context) error {
	metrics := bots.NewMetrics(m.Registry)
	disp := bots.NewDispatcher(m.Store, bots.DispatcherOptions{Logger: m.Logger, Metrics: metrics})
	router := bots.NewRouter(m.Store, bots.RouterOptions{
		Hooks: m.Hooks, Renderer: m.Templates, Logger: m.Logger, Metrics: metrics, Notify: disp.Kick,
	})

	// One line per adapter: each returns nil when its channel is disabled.
	var adapters []channelRunner
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
		adapters = append(adapters, a)
	}
	for _, a := range adapters {
		disp.Add(a, a.Limits())
		m.goLoop("bots."+a.Name(), ctx, a.Run)
	}
	m.goLoop("bots.router", ctx, router.Run)
	m.goLoop("bots.dispatcher", ctx, disp.Run)
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
