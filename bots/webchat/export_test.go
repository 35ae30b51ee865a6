package webchat

// LimiterKeys reports how many visitors and client addresses the posting
// limits hold, to test that idle ones are forgotten.
func (c *Channel) LimiterKeys() (visitors, clients int) {
	size := func(l *limiter) int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.buckets)
	}
	return size(c.visitors), size(c.clients)
}
