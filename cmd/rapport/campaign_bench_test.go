package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/campaign"
	"github.com/rapport-crm/rapport/care"
	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
	"github.com/rapport-crm/rapport/templates"
)

// BenchmarkCampaign measures, on MySQL over RAPPORT_BENCH_CUSTOMERS
// customers (default 20,000; BENCHMARKS.md uses 1,000,000) with a Telegram
// identity and figures each: a segment's count over combined filters, and
// a campaign to everyone queued through the care engine (send + the loop's
// tick). Run with -benchtime 1x.
func BenchmarkCampaign(b *testing.B) {
	n := 20000
	if v := os.Getenv("RAPPORT_BENCH_CUSTOMERS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	now := time.Date(2027, 3, 10, 2, 0, 0, 0, time.UTC)
	clock := storetest.NewClock(now)
	cfg := storetest.Config(b, store.MySQL)
	st := storetest.OpenConfig(b, cfg, store.WithClock(clock.Now))
	t0 := time.Now()
	seedCampaign(b, cfg.DSN, n, now)
	b.Logf("seeded %d customers, identities and figures in %s", n, time.Since(t0).Round(time.Millisecond))
	tpl := templates.New(st, templates.Config{Location: testShanghai, Logger: quietTestLog})
	cc := care.DefaultConfig()
	cc.Cap.Messages = 0
	cs, err := care.New(cc, care.Options{Store: st, Templates: tpl, Location: testShanghai, Logger: quietTestLog})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := campaign.New(campaign.DefaultConfig(), campaign.Options{Store: st, Deliver: careDeliverer{cs},
		Inline: func(m map[string]string) (render.Renderer, error) { return tpl.Inline(m) }, CheckTemplate: templates.CheckCampaignTemplate,
		Location: testShanghai, Logger: quietTestLog})
	if err != nil {
		b.Fatal(err)
	}
	combined, err := store.ParseSegmentFilter([]byte(`{"tier":["A"],"city":["上海","杭州"],"last_order_before":"150d","churn_risk_min":30,"tags_none":["blocked"]}`))
	if err != nil {
		b.Fatal(err)
	}
	all, _ := store.ParseSegmentFilter([]byte(`{}`))
	seg, err := st.CreateSegment(ctx, "everyone", all, nil)
	if err != nil {
		b.Fatal(err)
	}
	explainCount(b, cfg.DSN)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 = time.Now()
		cnt, err := st.CountSegment(ctx, store.SegmentQuery{Filter: combined, Now: now, Loc: testShanghai})
		if err != nil {
			b.Fatal(err)
		}
		countD := time.Since(t0)
		// Again, its pages now in the buffer pool, as a manager's second
		// look (or any count after the first of the day) finds them.
		t0 = time.Now()
		if _, err := st.CountSegment(ctx, store.SegmentQuery{Filter: combined, Now: now, Loc: testShanghai}); err != nil {
			b.Fatal(err)
		}
		warmD := time.Since(t0)
		t0 = time.Now()
		cntAll, err := st.CountSegment(ctx, store.SegmentQuery{Filter: all, Now: now, Loc: testShanghai})
		if err != nil {
			b.Fatal(err)
		}
		countAllD := time.Since(t0)
		c, err := svc.Create(ctx, store.CampaignInput{Name: "all", SegmentID: seg.ID, Body: "{{.Customer.Salutation}}，春季保养 8 折，回复预约。"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		if _, err := svc.Send(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
		if err := svc.Tick(ctx); err != nil {
			b.Fatal(err)
		}
		sendD := time.Since(t0)
		runs, err := st.CampaignRuns(ctx, c.ID)
		if err != nil || len(runs) != 1 {
			b.Fatal(err, len(runs))
		}
		b.ReportMetric(countD.Seconds(), "count-combined-s")
		b.ReportMetric(warmD.Seconds(), "count-combined-warm-s")
		b.ReportMetric(countAllD.Seconds(), "count-all-s")
		b.ReportMetric(sendD.Seconds(), "queue-all-s")
		b.ReportMetric(float64(runs[0].Queued), "queued")
		b.ReportMetric(float64(benchHWM())/1024, "peak-RSS-MB")
		b.Logf("combined count %d in %s (warm %s); count all %d in %s; campaign to all: %d queued in %s; VmHWM %d MB",
			cnt, countD, warmD, cntAll, countAllD, runs[0].Queued, sendD, benchHWM()/1024)
	}
}

// seedCampaign inserts n customers (tiers, cities, tags) with a Telegram
// identity and a figures row each, by multi-row INSERTs.
func seedCampaign(b *testing.B, dsn string, n int, now time.Time) {
	db, err := sql.Open("mysql", dsn+"?parseTime=true&loc=UTC&interpolateParams=true")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	cities := []string{"上海", "北京", "杭州", "广州", "深圳", "成都", "南京", "苏州", "武汉", "西安"}
	const batch = 5000
	ts := "2026-01-01 00:00:00"
	for lo := 1; lo <= n; lo += batch {
		hi := min(lo+batch-1, n)
		var cb, ib, sb, tb strings.Builder
		cb.WriteString("INSERT INTO customers (id,name,phone,email,birth_month,birth_day,birth_year,gender,company,source,tier,stage,opt_out,points,locale,city,region,district,created_at,updated_at) VALUES ")
		ib.WriteString("INSERT INTO identities (customer_id,channel,external_id,display_name,unreachable,unreachable_reason,created_at) VALUES ")
		sb.WriteString("INSERT INTO customer_stats (customer_id,churn_risk,clv_fen,last_order_at,figures_at) VALUES ")
		tb.WriteString("INSERT INTO customer_tags (customer_id,tag) VALUES ")
		tags := 0
		for id := lo; id <= hi; id++ {
			if id > lo {
				cb.WriteByte(',')
				ib.WriteByte(',')
				sb.WriteByte(',')
			}
			tier := []string{"A", "B", "C", "C", "C"}[id%5]
			opt := 0
			if id%50 == 0 {
				opt = 1
			}
			fmt.Fprintf(&cb, "(%d,'Customer %d','','',%d,%d,1990,'','','import','%s','active',%d,0,'zh-CN','%s','','','%s','%s')",
				id, id, 1+id%12, 1+id%28, tier, opt, cities[id%len(cities)], ts, ts)
			fmt.Fprintf(&ib, "(%d,'telegram','%d','',0,'','%s')", id, 200000000+id, ts)
			last := now.AddDate(0, 0, -(id % 400)).Format("2006-01-02 15:04:05")
			fmt.Fprintf(&sb, "(%d,%d,%d,'%s','%s')", id, id%100, (id%1000)*100, last, ts)
			if id%7 == 0 {
				if tags > 0 {
					tb.WriteByte(',')
				}
				fmt.Fprintf(&tb, "(%d,'%s')", id, []string{"vip", "blocked"}[id%2])
				tags++
			}
		}
		for _, q := range []string{cb.String(), ib.String(), sb.String(), tb.String()} {
			if _, err := db.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := db.Exec("ANALYZE TABLE customers, identities, customer_stats, customer_tags"); err != nil {
		b.Fatal(err)
	}
}

func benchHWM() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// explainCount logs the plan of the combined count.
func explainCount(b *testing.B, dsn string) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`EXPLAIN SELECT COUNT(*) FROM customers c WHERE c.opt_out = 0 AND c.tier IN ('A') AND c.city IN ('上海','杭州')
		AND NOT EXISTS (SELECT 1 FROM customer_tags t WHERE t.customer_id = c.id AND t.tag IN ('blocked'))
		AND EXISTS (SELECT 1 FROM customer_stats cs WHERE cs.customer_id = c.id AND cs.churn_risk >= 30 AND cs.last_order_at < '2026-10-10')`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		rows.Scan(ptrs...)
		var sb strings.Builder
		for i, c := range cols {
			fmt.Fprintf(&sb, "%s=%s ", c, vals[i].String)
		}
		b.Logf("EXPLAIN count: %s", sb.String())
	}
}
