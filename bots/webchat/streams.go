package webchat

import "sync"

// streamSlots counts open event streams per visitor and per client
// address. A stream holds a goroutine, a connection and a poll of the
// store each second, so neither one browser nor one address may open
// them without bound. Keys are dropped when their count returns to zero.
type streamSlots struct {
	perVisitor, perClient int

	mu       sync.Mutex
	visitors map[string]int
	clients  map[string]int
}

func newStreamSlots(perVisitor, perClient int) *streamSlots {
	return &streamSlots{perVisitor: perVisitor, perClient: perClient, visitors: map[string]int{}, clients: map[string]int{}}
}

// take reserves a stream for visitor at client; false when either is at
// its cap.
func (s *streamSlots) take(visitor, client string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.visitors[visitor] >= s.perVisitor || s.clients[client] >= s.perClient {
		return false
	}
	s.visitors[visitor]++
	s.clients[client]++
	return true
}

// give returns a stream taken with take.
func (s *streamSlots) give(visitor, client string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	decrement(s.visitors, visitor)
	decrement(s.clients, client)
}

func decrement(m map[string]int, key string) {
	if m[key] <= 1 {
		delete(m, key)
		return
	}
	m[key]--
}
