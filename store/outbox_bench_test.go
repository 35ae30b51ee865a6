package store_test

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// BenchmarkOutboxCycle is the send engine's database work alone: b.N
// queued rows claimed RAPPORT_BENCH_BATCH (default 500) at a time and
// completed as sent, with two claimed batches in flight as the dispatcher
// keeps them (one being sent, one being recorded). It reports the CPU of this process and of MariaDB per message
// and the server's row reads per message (global counters: other users of
// the server add to them).
func BenchmarkOutboxCycle(b *testing.B) {
	batch, inFlight := envInt("RAPPORT_BENCH_BATCH", 500), 2
	ctx := context.Background()
	s := storetest.Open(b, store.MySQL)
	items := make([]store.Outbound, 0, 5000)
	for i := 0; i < b.N; i++ {
		k := "c" + strconv.Itoa(i)
		items = append(items, store.Outbound{Channel: store.ChannelTelegram, ChatID: strconv.Itoa(10000 + i), Text: k, IdempotencyKey: k})
		if len(items) == cap(items) || i == b.N-1 {
			if _, err := s.Enqueue(ctx, items); err != nil {
				b.Fatal(err)
			}
			items = items[:0]
		}
	}
	root, err := sql.Open("mysql", storetest.MySQLServerDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	dbPID := storetest.ServerPID()
	h0 := storetest.ServerStatus(b, root, "Variable_name LIKE 'Handler\\_%'")
	self0, db0 := storetest.CPUSeconds("self"), storetest.CPUSeconds(dbPID)
	b.ResetTimer()
	var pending [][]*store.Message
	complete := func(ms []*store.Message) {
		ds := make([]store.Delivery, len(ms))
		for i, m := range ms {
			ds[i] = store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusSent, ProviderMsgID: strconv.FormatInt(m.ID, 10), Attempted: true}
		}
		if err := s.CompleteOutbox(ctx, ds); err != nil {
			b.Fatal(err)
		}
	}
	var c store.OutboxCursor
	for done := 0; done < b.N; {
		ms, next, err := s.ClaimOutboxAfter(ctx, store.ChannelTelegram, batch, time.Minute, c)
		if err != nil {
			b.Fatal(err)
		}
		c = next
		done += len(ms)
		pending = append(pending, ms)
		if len(pending) > inFlight || done >= b.N {
			complete(pending[0])
			pending = pending[1:]
		}
	}
	for _, ms := range pending {
		complete(ms)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric((storetest.CPUSeconds("self")-self0)/n*1e6, "proc-cpu-us/msg")
	b.ReportMetric((storetest.CPUSeconds(dbPID)-db0)/n*1e6, "db-cpu-us/msg")
	h1 := storetest.ServerStatus(b, root, "Variable_name LIKE 'Handler\\_%'")
	for _, k := range []string{"Handler_read_next", "Handler_read_key", "Handler_update"} {
		b.ReportMetric(float64(h1[k]-h0[k])/n, k+"/msg")
	}
	ds, err := s.OutboxDepth(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if len(ds) != 0 {
		b.Fatalf("rows left in the outbox: %v", ds)
	}
}

// envInt reads a benchmark size from the environment.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
