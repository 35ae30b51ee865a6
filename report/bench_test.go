package report

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// BenchmarkReports measures, on MySQL/MariaDB, with RAPPORT_BENCH_CUSTOMERS
// customers (default 20,000; BENCHMARKS.md uses 1,000,000) and about five
// orders, two messages, a tenth of a task, an eighth of a survey answer
// and one stage change each, spread over 2025-2026:
//   - day: computing one day's figures (what the nightly job and the
//     refresh of today do per day);
//   - each report for December 2026 beside November, 200 times after the
//     days are computed: p50 and p99.
//
// The seeded database (rapport_bench_report_N) is kept and reused by the
// next run with the same N. Run with -benchtime 1x.
func BenchmarkReports(b *testing.B) {
	n := envInt("RAPPORT_BENCH_CUSTOMERS", 20000)
	ctx := context.Background()
	loc, _ := time.LoadLocation("Asia/Shanghai")
	now := time.Date(2026, 12, 31, 12, 0, 0, 0, loc)
	clock := storetest.NewClock(now)
	server := storetest.MySQLServerDSN()
	name := fmt.Sprintf("rapport_bench_report_%d", n)
	root, err := sql.Open("mysql", server)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := root.Exec("CREATE DATABASE IF NOT EXISTS " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		b.Fatalf("MySQL/MariaDB is required at %s: %v", server, err)
	}
	root.Close()
	cfg := store.Config{Driver: store.MySQL, DSN: server + name}
	s, err := store.Open(ctx, cfg, store.WithClock(clock.Now))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("migrated in %s", time.Since(start).Round(time.Millisecond))
	raw, err := sql.Open("mysql", cfg.DSN+"?parseTime=true&loc=UTC&interpolateParams=true")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	start = time.Now()
	if benchSeed(b, raw, n) {
		b.Logf("seeded in %s", time.Since(start).Round(time.Second))
	}
	start = time.Now()
	if benchSeedMore(b, raw, n) {
		b.Logf("campaigns and points seeded in %s", time.Since(start).Round(time.Second))
	}
	for _, t := range []string{"customers", "orders", "messages", "tasks", "surveys", "customer_changes", "campaigns", "points_entries", "vouchers"} {
		var c int
		raw.QueryRow("SELECT COUNT(*) FROM " + t).Scan(&c)
		b.Logf("%s: %d", t, c)
	}
	svc, err := New(DefaultConfig(), Options{Store: s, Location: loc})
	if err != nil {
		b.Fatal(err)
	}
	// One day, timed (and the 10th, a campaign's day: its ~10,000
	// messages attributed); then every day the reports read.
	for _, day := range []int{15, 10} {
		start = time.Now()
		if err := svc.Refresh(ctx, time.Date(2026, 12, day, 0, 0, 0, 0, loc)); err != nil {
			b.Fatal(err)
		}
		b.Logf("the figures of 2026-12-%d computed in %s", day, time.Since(start).Round(time.Millisecond))
	}
	start = time.Now()
	if _, err := svc.ensure(ctx, time.Date(2026, 11, 1, 0, 0, 0, 0, loc), time.Date(2026, 12, 31, 0, 0, 0, 0, loc)); err != nil {
		b.Fatal(err)
	}
	b.Logf("Nov-Dec figures ensured in %s", time.Since(start).Round(time.Millisecond))
	const runs = 200
	for _, r := range reports() {
		var took []time.Duration
		for range runs {
			t0 := time.Now()
			if _, err := svc.Report(ctx, r.Name, "2026-12-01", "2026-12-31", ""); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t0))
		}
		slices.Sort(took)
		b.Logf("report %-12s p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms", r.Name,
			ms(took[runs/2]), ms(took[runs*99/100-1]), ms(took[runs-1]))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// mix is a deterministic hash of (id, salt).
func mix(id, salt int) uint64 {
	x := uint64(id)*0x9E3779B97F4A7C15 + uint64(salt)*0xBF58476D1CE4E5B9
	x ^= x >> 31
	x *= 0x94D049BB133111EB
	x ^= x >> 29
	return x
}

// benchSeed fills the database unless a finished seed of n is there, with
// multi-row INSERTs, and reports whether it seeded.
func benchSeed(b *testing.B, db *sql.DB, n int) bool {
	var done int
	db.QueryRow("SELECT COUNT(*) FROM bench_seed WHERE customers = ?", n).Scan(&done)
	if done == 1 {
		return false
	}
	for _, q := range []string{"CREATE TABLE IF NOT EXISTS bench_seed (customers INT NOT NULL)", "DELETE FROM bench_seed",
		"DELETE FROM daily_figures", "DELETE FROM report_days", "DELETE FROM task_events", "DELETE FROM tasks", "DELETE FROM surveys",
		"DELETE FROM customer_changes", "DELETE FROM messages", "DELETE FROM orders", "DELETE FROM customers", "DELETE FROM staff"} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	ins := newInserter(b, db)
	base := time.Date(2024, 12, 31, 16, 0, 0, 0, time.UTC) // 2025-01-01 in Shanghai
	span := 730 * 24 * time.Hour
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }
	for i := 1; i <= 20; i++ {
		ins.add("staff (id,name,role,active,created_at,updated_at,epoch)", fmt.Sprintf("(%d,'Agent %d','agent',1,'%s','%s',0)", i, i, ts(base), ts(base)))
	}
	sources := []string{"wechat", "telegram", "web", "import", "referral", "store"}
	tiers := []string{"A", "B", "B", "C", "C", "C"}
	channels := []string{"wechat", "telegram", "webchat"}
	workflows := []string{"birthday", "holiday", "maintenance", "survey", "winback"}
	kinds := []string{"complaint", "survey_recovery", "revisit", "manual", "winback"}
	taskID := 0
	for id := 1; id <= n; id++ {
		created := base.Add(time.Duration(mix(id, 1)%uint64(span/time.Second)) * time.Second)
		stage := stages[mix(id, 2)%5]
		owner := "NULL"
		if mix(id, 3)%4 != 0 {
			owner = strconv.Itoa(1 + int(mix(id, 4)%20))
		}
		ins.add("customers (id,name,phone,email,birth_month,birth_day,birth_year,gender,company,source,tier,stage,opt_out,owner_staff_id,points,locale,city,region,created_at,updated_at)",
			fmt.Sprintf("(%d,'Customer %d','','',0,0,0,'','','%s','%s','%s',0,%s,0,'zh-CN','','','%s','%s')",
				id, id, sources[mix(id, 5)%6], tiers[mix(id, 6)%6], stage, owner, ts(created), ts(created)))
		// Orders: about five, after creation.
		k := int(mix(id, 7) % 11)
		for j := 0; j < k; j++ {
			at := created.Add(time.Duration(mix(id, 10+j)%uint64(span/time.Second)) * time.Second / 2)
			ins.add("orders (customer_id,kind,amount_fen,occurred_at,order_ref,created_at)",
				fmt.Sprintf("(%d,'purchase',%d,'%s','','%s')", id, 1000+mix(id, 30+j)%499000, ts(at), ts(at)))
		}
		// Two messages: one in, one out (a fifth of those care).
		ch := channels[mix(id, 40)%3]
		at := created.Add(time.Duration(mix(id, 41)%(200*86400)) * time.Second)
		wf := ""
		if mix(id, 42)%5 == 0 {
			wf = workflows[mix(id, 43)%5]
		}
		ins.add("messages (customer_id,direction,channel,chat_id,kind,text,status,workflow,template_key,created_at,updated_at)",
			fmt.Sprintf("(%d,'out','%s','c%d','text','hello','sent','%s','','%s','%s')", id, ch, id, wf, ts(at), ts(at)))
		ins.add("messages (customer_id,direction,channel,chat_id,kind,text,status,workflow,template_key,created_at,updated_at)",
			fmt.Sprintf("(%d,'in','%s','c%d','text','hi','processed','','','%s','%s')", id, ch, id, ts(at.Add(time.Hour)), ts(at.Add(time.Hour))))
		// A stage change.
		ins.add("customer_changes (customer_id,field,from_value,to_value,at,reason)",
			fmt.Sprintf("(%d,'stage','%s','%s','%s','bench')", id, stages[mix(id, 50)%5], stage, ts(at.Add(2*time.Hour))))
		// A survey answer for one in eight.
		if mix(id, 60)%8 == 0 {
			ins.add("surveys (customer_id,survey_key,channel,chat_id,order_date,expires_at,score,comment,answered_at,created_at)",
				fmt.Sprintf("(%d,'b%d','%s','c%d','','%s',%d,'','%s','%s')", id, id, ch, id, ts(at.Add(72*time.Hour)), 1+mix(id, 61)%5, ts(at.Add(3*time.Hour)), ts(at)))
		}
		// A task for one in ten; most done.
		if mix(id, 70)%10 == 0 {
			taskID++
			kind := kinds[mix(id, 71)%5]
			due := at.Add(48 * time.Hour)
			status, closed := "open", "NULL"
			if mix(id, 72)%5 != 0 {
				status, closed = "done", "'"+ts(at.Add(time.Duration(1+mix(id, 73)%(72*60))*time.Minute))+"'"
			}
			ins.add("tasks (id,customer_id,kind,priority,title,detail,assignee_id,status,due_at,outcome,source,assign_seq,notified_seq,closed_at,created_at,updated_at)",
				fmt.Sprintf("(%d,%d,'%s','normal','t','',%d,'%s','%s','','bench',1,1,%s,'%s','%s')",
					taskID, id, kind, 1+mix(id, 74)%20, status, ts(due), closed, ts(at), ts(at)))
			ins.add("task_events (task_id,staff_id,via,action,from_value,to_value,note,created_at)",
				fmt.Sprintf("(%d,%d,'console','note','','','x','%s')", taskID, 1+mix(id, 74)%20, ts(at.Add(time.Duration(1+mix(id, 75)%600)*time.Minute))))
		}
		if id%100000 == 0 {
			b.Logf("seeded %d customers", id)
		}
	}
	ins.flush()
	if _, err := db.Exec("INSERT INTO bench_seed VALUES (?)", n); err != nil {
		b.Fatal(err)
	}
	return true
}

// benchSeedMore adds, unless there are campaigns already, 24 campaigns
// (one a month; a quarter of the customers receive one: 85 % sent, 5 %
// failed, 10 % skipped, a tenth of those sent answer within the hour) and
// the points: an earn entry for each order of half the customers (keyed
// order:N, expiring at the end of the next year), a birthday bonus for one
// in twenty, and one in ten redeeming a voucher (a third of them used).
func benchSeedMore(b *testing.B, db *sql.DB, n int) bool {
	var have int
	db.QueryRow("SELECT COUNT(*) FROM campaigns").Scan(&have)
	if have > 0 {
		return false
	}
	for _, q := range []string{"DELETE FROM daily_figures", "DELETE FROM report_days", "DELETE FROM campaign_runs", "DELETE FROM vouchers",
		"DELETE FROM rewards", "DELETE FROM points_entries", "DELETE FROM messages WHERE workflow LIKE 'campaign:%'"} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	ins := newInserter(b, db)
	base := time.Date(2024, 12, 31, 16, 0, 0, 0, time.UTC) // 2025-01-01 in Shanghai
	span := 730 * 24 * time.Hour
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }
	const camps = 24
	day := func(c int) time.Time { return base.AddDate(0, c-1, 9) } // the 10th of month c
	for c := 1; c <= camps; c++ {
		ins.add("campaigns (id,name,segment_id,template_key,bodies,status,cap_exempt,created_at,updated_at,started_at,finished_at)",
			fmt.Sprintf("(%d,'Campaign %d',1,'','{\"*\":\"hi\"}','done',0,'%s','%s','%s','%s')", c, c, ts(day(c)), ts(day(c)), ts(day(c)), ts(day(c).Add(8*time.Hour))))
		ins.add("campaign_runs (campaign_id,trigger_key,vars,status,planned,queued,skipped,failed,reasons,created_at,updated_at)",
			fmt.Sprintf("(%d,'','','done',0,0,0,0,'{\"opted out\":%d}','%s','%s')", c, 10+c, ts(day(c)), ts(day(c))))
	}
	for r := 1; r <= 5; r++ {
		ins.add("rewards (id,name,points,value_fen,kind,valid_days,active,created_at,updated_at)",
			fmt.Sprintf("(%d,'Reward %d',%d,%d,'voucher',90,1,'%s','%s')", r, r, 100*r, 1000*r, ts(base), ts(base)))
	}
	channels := []string{"wechat", "telegram", "webchat"}
	key := 0
	for id := 1; id <= n; id++ {
		created := base.Add(time.Duration(mix(id, 1)%uint64(span/time.Second)) * time.Second)
		ch := channels[mix(id, 40)%3]
		if mix(id, 80)%4 == 0 {
			c := 1 + int(mix(id, 81)%camps)
			at := day(c).Add(time.Duration(mix(id, 82)%(8*3600)) * time.Second)
			status, reason, sent := "sent", "", ts(at.Add(time.Minute))
			switch v := mix(id, 83) % 20; {
			case v == 0:
				status, sent = "failed", "1970-01-01 00:00:00"
			case v <= 2:
				status, reason, sent = "skipped", "cap", "1970-01-01 00:00:00"
			}
			ins.add("messages (customer_id,direction,channel,chat_id,kind,text,status,idempotency_key,workflow,template_key,reason,sent_at,created_at,updated_at)",
				fmt.Sprintf("(%d,'out','%s','c%d','text','hi','%s','campaign:%d:%d:1','campaign:%d','','%s','%s','%s','%s')",
					id, ch, id, status, c, id, c, reason, sent, ts(at), ts(at)))
			if status == "sent" && mix(id, 84)%10 == 0 {
				ins.add("messages (customer_id,direction,channel,chat_id,kind,text,status,workflow,template_key,created_at,updated_at)",
					fmt.Sprintf("(%d,'in','%s','c%d','text','ok','processed','','','%s','%s')", id, ch, id, ts(at.Add(time.Hour)), ts(at.Add(time.Hour))))
			}
		}
		// The same orders benchSeed wrote (same hashes), earned on.
		if mix(id, 90)%2 == 0 {
			k := int(mix(id, 7) % 11)
			for j := 0; j < k; j++ {
				at := created.Add(time.Duration(mix(id, 10+j)%uint64(span/time.Second)) * time.Second / 2)
				key++
				ins.add("points_entries (customer_id,kind,points,reason,idem_key,expires_at,created_at)",
					fmt.Sprintf("(%d,'earn',%d,'purchase order','order:%d','%d-12-31 16:00:00','%s')", id, (1000+mix(id, 30+j)%499000)/100, key, at.Year()+1, ts(at)))
			}
		}
		if mix(id, 91)%20 == 0 {
			at := base.Add(time.Duration(mix(id, 92)%uint64(span/time.Second)) * time.Second)
			ins.add("points_entries (customer_id,kind,points,reason,idem_key,expires_at,created_at)",
				fmt.Sprintf("(%d,'earn',50,'birthday bonus','birthday:%d:%d','%d-12-31 16:00:00','%s')", id, id, at.Year(), at.Year()+1, ts(at)))
		}
		if mix(id, 90)%2 == 0 && mix(id, 93)%10 == 0 && mix(id, 7)%11 > 0 {
			r := 1 + int(mix(id, 94)%5)
			at := created.Add(time.Duration(mix(id, 95)%uint64(span/time.Second)) * time.Second / 2)
			status, used := "unused", "NULL"
			if mix(id, 96)%3 == 0 {
				status, used = "used", "'"+ts(at.Add(72*time.Hour))+"'"
			}
			ins.add("vouchers (customer_id,reward_id,code,name,kind,value_fen,points,status,expires_at,used_at,created_at)",
				fmt.Sprintf("(%d,%d,'B%d','Reward %d','voucher',%d,%d,'%s','%s',%s,'%s')", id, r, id, r, 1000*r, 100*r, status, ts(at.Add(90*24*time.Hour)), used, ts(at)))
			ins.add("points_entries (customer_id,kind,points,reason,idem_key,expires_at,created_at)",
				fmt.Sprintf("(%d,'redeem',%d,'Reward %d',NULL,NULL,'%s')", id, -100*r, r, ts(at)))
		}
		if id%100000 == 0 {
			b.Logf("seeded campaigns and points of %d customers", id)
		}
	}
	ins.flush()
	return true
}

// inserter batches rows per table into multi-row INSERTs.
type inserter struct {
	b    *testing.B
	db   *sql.DB
	rows map[string][]string
}

func newInserter(b *testing.B, db *sql.DB) *inserter {
	return &inserter{b: b, db: db, rows: map[string][]string{}}
}

func (in *inserter) add(table, row string) {
	in.rows[table] = append(in.rows[table], row)
	if len(in.rows[table]) >= 5000 {
		in.write(table)
	}
}

func (in *inserter) write(table string) {
	if len(in.rows[table]) == 0 {
		return
	}
	if _, err := in.db.Exec("INSERT INTO " + table + " VALUES " + strings.Join(in.rows[table], ",")); err != nil {
		in.b.Fatalf("%s: %v", table, err)
	}
	in.rows[table] = in.rows[table][:0]
}

func (in *inserter) flush() {
	// Parents first.
	for _, t := range []string{"staff", "customers"} {
		for k := range in.rows {
			if strings.HasPrefix(k, t+" ") {
				in.write(k)
			}
		}
	}
	for k := range in.rows {
		in.write(k)
	}
}
