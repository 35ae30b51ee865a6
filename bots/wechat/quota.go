package wechat

import (
	"sync"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// quota counts this process's customer-service sends per chat. The store
// only learns of a send when the dispatcher records its batch, so between
// a send and that record (and between concurrent workers) the stored count
// is behind; only the holder of the channel's dispatch lease sends, so the
// sends it has not recorded yet are all here. WeChat's 45047 catches the
// rest.
type quota struct {
	mu   sync.Mutex
	sent map[string][]time.Time
}

// reserve takes a slot for chat in the window that began at since, if
// fewer than limit messages were sent in it (stored counts stored, plus
// this process's own); release gives the slot back after a failed send.
func (q *quota) reserve(chat string, since, now time.Time, stored, limit int) (ok bool, release func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sent == nil || len(q.sent) > 100000 {
		q.sent = map[string][]time.Time{}
	}
	ts := q.sent[chat]
	keep := ts[:0]
	local := 0
	for _, t := range ts {
		if now.Sub(t) < store.WeChatWindow {
			keep = append(keep, t)
			if !t.Before(since) {
				local++
			}
		}
	}
	q.sent[chat] = keep
	// Stored rows include this process's recorded sends: the larger count
	// is the better lower bound.
	if max(stored, local) >= limit {
		return false, nil
	}
	q.sent[chat] = append(keep, now)
	return true, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		ts := q.sent[chat]
		for i := len(ts) - 1; i >= 0; i-- {
			if ts[i].Equal(now) {
				q.sent[chat] = append(ts[:i], ts[i+1:]...)
				break
			}
		}
	}
}
