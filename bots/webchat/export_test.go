package webchat

// LimiterKeys reports how many visitors and client addresses the posting
// limits hold, to test that idle ones are forgotten.
func (c *Channel) LimiterKeys() (visitors, clients int) {
	return c.visitors.size(), c.clients.size()
}
