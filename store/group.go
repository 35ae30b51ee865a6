package store

import (
	"context"
	"sync"
	"time"
)

// groupCommit writes items that arrive together together: whichever
// caller finds a writer free writes everything waiting (up to maxGroup)
// in one go, then hands the next group to the first caller still waiting.
// MySQL spends far more CPU per statement and per commit than per row, so
// this is what lets a write path keep up under many concurrent callers; a
// lone item is still written at once, with no waiting.
//
// A group is carved from the queue's front under mu, once, by the writer
// that will write it, so an item is in exactly one group and learns its
// result either as that group's writer or from done. RecordArrival and
// Redeem use it; the write itself (and each item's result) is theirs.
type groupCommit[T any] struct {
	maxGroup   int // items a group holds at most
	maxWriters int // groups written at once: while one waits for its commit, the next is on its way
	// soloInCallerCtx writes a group of the caller alone in the caller's
	// ctx: nobody else waits on it (Redeem). Otherwise every group
	// outlives its writer's ctx.
	soloInCallerCtx bool

	// Lingering (lingerWindow 0: never). A writer that finds the queue
	// empty waits linger (or until lingerFull items wait) before taking
	// it when a group ended less than lingerWindow ago: under load the
	// callers a group has just answered call again at once, and the first
	// of them would otherwise be written alone, each such group costing
	// the statements of a full one.
	linger       time.Duration
	lingerWindow time.Duration
	lingerFull   int
	wake         chan struct{} // ends a lingering writer's wait early (buffered 1)

	mu      sync.Mutex
	queue   []*groupMember[T]
	writers int // callers writing a group now
	// lingering: a writer waits to take the queue. lastEnd is when a
	// group last ended.
	lingering bool
	lastEnd   time.Time
}

type groupMember[T any] struct {
	item T
	done chan struct{}          // closed when item's result is set
	turn chan []*groupMember[T] // the group this caller is to write
}

// groupTimeout bounds a group's write once it no longer follows a
// caller's ctx.
const groupTimeout = 30 * time.Second

// do queues item and returns once its group is written: by this caller
// (write, with the others waiting) or by another. If write panics, fail
// gives every member of the group the panic as its result.
func (g *groupCommit[T]) do(ctx context.Context, item T, write func(ctx context.Context, group []T), fail func(item T, p any)) {
	m := &groupMember[T]{item: item, done: make(chan struct{}), turn: make(chan []*groupMember[T], 1)}
	g.mu.Lock()
	g.queue = append(g.queue, m)
	var group []*groupMember[T]
	linger := false
	switch {
	case g.lingering:
		// A writer is about to take the queue: m goes with it.
		if len(g.queue) >= g.lingerFull {
			select {
			case g.wake <- struct{}{}:
			default:
			}
		}
	case g.writers < g.maxWriters:
		g.writers++
		if g.lingerWindow > 0 && time.Since(g.lastEnd) < g.lingerWindow {
			// Under load: the callers just answered are about to call
			// again, and writing m alone would cost a group's statements
			// for one item. Wait a moment for them.
			g.lingering, linger = true, true
			select {
			case <-g.wake: // a wake-up meant for an earlier wait
			default:
			}
		} else {
			group = g.take() // m is first: nobody waits while a writer is free
		}
	}
	g.mu.Unlock()
	if linger {
		t := time.NewTimer(g.linger)
		select {
		case <-t.C:
		case <-g.wake:
			t.Stop()
		}
		g.mu.Lock()
		g.lingering = false
		group = g.take() // m is still first: nobody takes the queue while a writer lingers
		if len(g.queue) > 0 && g.writers < g.maxWriters {
			g.writers++
			next := g.queue[0]
			next.turn <- g.take()
		}
		g.mu.Unlock()
	}
	if group == nil {
		// Wait even if ctx ends: the group m is in is being written, or
		// the turn to write one that starts with m may come (and a retry
		// of the caller finds the write done).
		select {
		case <-m.done:
			return
		case group = <-m.turn: // a group that starts with m
		}
	}

	g.write(ctx, group, write, fail)

	g.mu.Lock()
	if g.lingerWindow > 0 {
		g.lastEnd = time.Now()
	}
	if len(g.queue) > 0 && !g.lingering {
		next := g.queue[0] // before take, which moves the front
		next.turn <- g.take()
	} else {
		g.writers--
	}
	g.mu.Unlock()
}

// write writes group. The group is other callers' too: it outlives this
// caller's ctx (but for a caller alone, with soloInCallerCtx), and
// whatever happens to it, every member hears.
func (g *groupCommit[T]) write(ctx context.Context, group []*groupMember[T], write func(context.Context, []T), fail func(T, any)) {
	items := make([]T, len(group))
	for i, m := range group {
		items[i] = m.item
	}
	defer func() {
		if p := recover(); p != nil {
			for _, it := range items {
				fail(it, p)
			}
		}
		for _, m := range group {
			close(m.done)
		}
	}()
	if len(group) > 1 || !g.soloInCallerCtx {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
		defer cancel()
	}
	write(ctx, items)
}

// take removes the next group from the queue; g.mu is held.
func (g *groupCommit[T]) take() []*groupMember[T] {
	n := min(len(g.queue), g.maxGroup)
	group := append([]*groupMember[T](nil), g.queue[:n]...)
	g.queue = g.queue[n:]
	return group
}
