package main

import (
	"fmt"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/wechat"
)

// wechatChannel builds the WeChat Official Account adapter when
// wechat.enabled and mounts its callback (GET for URL verification, POST
// for messages and events).
func (m *Main) wechatChannel(recv bots.Receiver) (channelRunner, error) {
	cfg := m.Config.WeChat
	if !cfg.Enabled {
		return nil, nil
	}
	a, err := wechat.New(cfg, wechat.Options{
		Receiver: recv, Store: m.Store, Logger: m.Logger, Registerer: m.Registry, Health: m.Health,
	})
	if err != nil {
		return nil, fmt.Errorf("wechat: %w", err)
	}
	m.Web.Handle(wechat.WebhookPath, a)
	return a, nil
}
