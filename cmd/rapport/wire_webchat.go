package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rapport-crm/rapport/bots"
	"github.com/rapport-crm/rapport/bots/webchat"
)

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
