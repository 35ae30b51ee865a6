package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/report"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

var shanghai = mustZone("Asia/Shanghai")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, shanghai)
	if err != nil {
		panic(err)
	}
	return t
}

// fixture is a small business, hand-counted: the period December 2026
// beside 31 October - 30 November.
type fixture struct {
	s          *store.Store
	clock      *storetest.Clock
	svc        *report.Service
	a, b, c    int64 // customers
	s1, s2     int64 // staff
	complaintB int64
}

func newFixture(t *testing.T, s *store.Store, clock *storetest.Clock) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{s: s, clock: clock}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(at("2026-10-01 09:00:00"))
	for i, name := range []string{"Li Lei", "Han Meimei"} {
		st, err := s.CreateStaff(ctx, store.StaffInput{Name: name, Role: store.RoleAgent})
		must(err)
		if i == 0 {
			f.s1 = st.ID
		} else {
			f.s2 = st.ID
		}
	}
	customer := func(when, name, source string, owner *int64, chat string) int64 {
		clock.Set(at(when))
		c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: &name, Source: &source, OwnerStaffID: owner,
			Identities: []store.IdentityRef{{Channel: store.ChannelTelegram, ExternalID: chat}}})
		must(err)
		return c.ID
	}
	// The period's edge: A a second before December, B at its first instant.
	f.a = customer("2026-11-30 23:59:59", "A", "wechat", nil, "100")
	f.b = customer("2026-12-01 00:00:00", "B", "wechat", nil, "200")
	f.c = customer("2026-12-05 10:00:00", "C", "store", &f.s1, "300")
	order := func(cid int64, when, yuan string) {
		tm := at(when)
		m, err := store.ParseMoney("amount", yuan)
		must(err)
		_, err = s.CreateOrder(ctx, store.OrderInput{CustomerID: cid, Kind: "purchase", Amount: m, OccurredAt: &tm}, shanghai)
		must(err)
	}
	clock.Set(at("2026-12-15 09:00:00"))
	order(f.a, "2026-11-30 23:59:59", "100.00")
	order(f.b, "2026-12-01 00:00:00", "250.50")
	order(f.c, "2026-12-10 12:00:00", "0.01")
	// Care: a holiday message to B (B answers an hour later), a birthday
	// one to C (C orders five days later).
	care := func(cid int64, chat, wf, when string) {
		clock.Set(at(when))
		c := cid
		_, err := s.Enqueue(ctx, []store.Outbound{{CustomerID: &c, Channel: store.ChannelTelegram, ChatID: chat, Text: "hi",
			IdempotencyKey: wf + ":" + chat, Workflow: wf, TemplateKey: wf}})
		must(err)
		ms, err := s.ClaimOutbox(ctx, store.ChannelTelegram, 10, time.Minute)
		must(err)
		var ds []store.Delivery
		for _, m := range ms {
			ds = append(ds, store.Delivery{ID: m.ID, ClaimedBy: m.ClaimedBy, Status: store.StatusSent, Attempted: true})
		}
		must(s.CompleteOutbox(ctx, ds))
	}
	care(f.b, "200", "holiday", "2026-12-02 08:00:00")
	care(f.c, "300", "birthday", "2026-12-05 12:00:00")
	clock.Set(at("2026-12-02 09:00:00"))
	ident, err := s.ResolveIdentity(ctx, store.Contact{Channel: store.ChannelTelegram, ExternalID: "200"})
	must(err)
	_, _, err = s.RecordInbound(ctx, ident, store.Inbound{Channel: store.ChannelTelegram, DedupKey: "u1", ChatID: "200", Kind: "text", Text: "谢谢"})
	must(err)
	// Surveys: A 5 on the edge (previous period), B 2, C 4.
	answer := func(cid int64, key, sent, when string, score int) {
		clock.Set(at(sent))
		ids, err := s.CreateSurveys(ctx, []store.Survey{{CustomerID: cid, Key: key, Channel: store.ChannelTelegram, ExpiresAt: at(sent).Add(72 * time.Hour)}})
		must(err)
		clock.Set(at(when))
		_, err = s.AnswerSurvey(ctx, ids[key], score, "")
		must(err)
	}
	answer(f.a, "sa", "2026-11-30 20:00:00", "2026-11-30 23:59:59", 5)
	answer(f.b, "sb", "2026-12-03 08:00:00", "2026-12-03 09:00:00", 2)
	answer(f.c, "sc", "2026-12-06 08:00:00", "2026-12-06 09:00:00", 4)
	// Complaints: B's, answered by S1 after 30 minutes and done after 4
	// hours; C's, given to S2, still open and past due.
	task := func(cid int64, when string, to int64) int64 {
		clock.Set(at(when))
		due := at(when).Add(2 * time.Hour)
		tk, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: cid, Kind: store.TaskComplaint, Title: "投诉", DueAt: &due, Source: "complaint", AssigneeID: &to})
		must(err)
		return tk.ID
	}
	f.complaintB = task(f.b, "2026-12-02 10:00:00", f.s1)
	task(f.c, "2026-12-06 10:00:00", f.s2)
	s1 := store.Actor{StaffID: &f.s1, Role: store.RoleAgent, Via: "api"}
	clock.Set(at("2026-12-02 10:30:00"))
	note := "在处理"
	_, err = s.UpdateTask(ctx, f.complaintB, store.TaskUpdate{Note: &note}, s1)
	must(err)
	clock.Set(at("2026-12-02 14:00:00"))
	done := store.TaskDone
	_, err = s.UpdateTask(ctx, f.complaintB, store.TaskUpdate{Status: &done}, s1)
	must(err)
	// Stages: B becomes active; C churns and is won back.
	pin := func(cid int64, when string, st store.Stage) {
		clock.Set(at(when))
		_, err := s.UpdateCustomer(ctx, cid, store.CustomerInput{Stage: store.PinTo(st)})
		must(err)
	}
	pin(f.b, "2026-12-03 10:00:00", store.StageActive)
	pin(f.c, "2026-12-07 10:00:00", store.StageChurned)
	pin(f.c, "2026-12-08 10:00:00", store.StageActive)
	clock.Set(at("2026-12-20 12:00:00"))
	f.svc, err = report.New(report.DefaultConfig(), report.Options{Store: s, Location: shanghai})
	must(err)
	return f
}

// section finds a section's rows as key -> [current, previous].
func section(t *testing.T, a *report.Answer, name string) map[string][2]int64 {
	t.Helper()
	for _, s := range a.Sections {
		if s.Name == name {
			out := map[string][2]int64{}
			for _, r := range s.Rows {
				out[r.Key] = [2]int64{r.Current, r.Previous}
			}
			return out
		}
	}
	t.Fatalf("report %s has no section %s", a.Report, name)
	return nil
}

func TestReports(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, clock *storetest.Clock) {
		f := newFixture(t, s, clock)
		ctx := context.Background()
		get := func(name string) *report.Answer {
			t.Helper()
			a, err := f.svc.Report(ctx, name, "2026-12-01", "2026-12-31", "")
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		ov := get("overview")
		if ov.PreviousFrom != "2026-10-31" || ov.PreviousTo != "2026-11-30" || ov.Days != 31 || ov.Timezone != "Asia/Shanghai" {
			t.Errorf("period: %+v", ov)
		}
		type want struct {
			section string
			rows    map[string][2]int64
		}
		checks := map[string][]want{
			"overview": {
				{"customers", map[string][2]int64{"total": {3, 1}, "new": {2, 1}}},
				{"customers.new_by_source", map[string][2]int64{"wechat": {1, 1}, "store": {1, 0}}},
				{"messages", map[string][2]int64{"in": {1, 0}, "out": {2, 0}}},
				{"messages.in_by_channel", map[string][2]int64{"telegram": {1, 0}}},
				{"tasks", map[string][2]int64{"opened": {2, 0}, "closed": {1, 0}}},
				{"satisfaction", map[string][2]int64{"csat": {5000, 10000}}},
				{"satisfaction.responses", map[string][2]int64{"responses": {2, 1}}},
				{"revenue", map[string][2]int64{"total": {25051, 10000}}},
				{"revenue.orders", map[string][2]int64{"orders": {2, 1}}},
			},
			"lifecycle": {
				{"lifecycle.flows", map[string][2]int64{"new_customers": {2, 1}, "became_new": {0, 0}, "became_active": {1, 0},
					"became_at_risk": {0, 0}, "churned": {1, 0}, "won_back": {1, 0}}},
				{"lifecycle.transitions", map[string][2]int64{"potential>active": {1, 0}, "active>churned": {0, 0}, "potential>churned": {1, 0}, "churned>active": {1, 0}}},
			},
			"care": {
				{"care.sent", map[string][2]int64{"holiday": {1, 0}, "birthday": {1, 0}}},
				{"care.replied", map[string][2]int64{"holiday": {1, 0}}},
				{"care.reply_rate", map[string][2]int64{"holiday": {10000, 0}, "birthday": {0, 0}}},
				{"care.ordered", map[string][2]int64{"birthday": {1, 0}}},
				{"care.revenue", map[string][2]int64{"birthday": {1, 0}}},
			},
			"satisfaction": {
				{"satisfaction.scores", map[string][2]int64{"1": {0, 0}, "2": {1, 0}, "3": {0, 0}, "4": {1, 0}, "5": {0, 1}}},
				{"satisfaction.csat_by_channel", map[string][2]int64{"telegram": {5000, 10000}}},
				{"satisfaction.csat_by_agent", map[string][2]int64{"0": {0, 10000}, itoa(f.s1): {10000, 0}}},
			},
			"complaints": {
				{"complaints.opened", map[string][2]int64{"all": {2, 0}, "complaint": {2, 0}, "survey_recovery": {0, 0}}},
				{"complaints.closed", map[string][2]int64{"all": {1, 0}, "complaint": {1, 0}, "survey_recovery": {0, 0}}},
				{"complaints.open", map[string][2]int64{"all": {1, 0}, "complaint": {1, 0}, "survey_recovery": {0, 0}}},
				{"complaints.late", map[string][2]int64{"all": {1, 0}, "complaint": {1, 0}, "survey_recovery": {0, 0}}},
				{"complaints.first_response_minutes", map[string][2]int64{"all": {30, 0}, "complaint": {30, 0}, "survey_recovery": {0, 0}}},
				{"complaints.resolution_minutes", map[string][2]int64{"all": {240, 0}, "complaint": {240, 0}, "survey_recovery": {0, 0}}},
			},
			"staff": {
				{"staff.open", map[string][2]int64{itoa(f.s2): {1, 0}}},
				{"staff.overdue", map[string][2]int64{itoa(f.s2): {1, 0}}},
				{"staff.done", map[string][2]int64{itoa(f.s1): {1, 0}}},
				{"staff.csat", map[string][2]int64{"0": {0, 10000}, itoa(f.s1): {10000, 0}}},
			},
		}
		for name, ws := range checks {
			a := ov
			if name != "overview" {
				a = get(name)
			}
			for _, w := range ws {
				got := section(t, a, w.section)
				for k, v := range w.rows {
					if got[k] != v {
						t.Errorf("%s %s[%q] = %v, want %v (all: %v)", name, w.section, k, got[k], v, got)
					}
				}
			}
		}
		// The median of one task done in 240 minutes, within 5 %.
		st := get("staff")
		med := section(t, st, "staff.median_done_minutes")[itoa(f.s1)][0]
		if math.Abs(float64(med)-240) > 12 {
			t.Errorf("median done minutes = %d, want 240 ± 5 %%", med)
		}
		for _, s := range st.Sections {
			for _, r := range s.Rows {
				if r.Key == itoa(f.s1) && r.Label != "Li Lei" {
					t.Errorf("%s: label %q", s.Name, r.Label)
				}
			}
		}
		// Funnel at the end: A potential, B and C active.
		fun := section(t, get("lifecycle"), "lifecycle.funnel")
		if fun["potential"][0] != 1 || fun["active"][0] != 2 {
			t.Errorf("funnel %v", fun)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// each runs fn on every dialect with a fresh store on a test clock.
func each(t *testing.T, fn func(t *testing.T, s *store.Store, clock *storetest.Clock)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			clock := storetest.NewClock(at("2026-10-01 09:00:00"))
			fn(t, storetest.Open(t, d, store.WithClock(clock.Now)), clock)
		})
	}
}

// The day's edge is midnight in Asia/Shanghai: 23:59:59 on 30 November
// is November's, 00:00 on 1 December is December's.
func TestPeriodEdges(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, clock *storetest.Clock) {
		f := newFixture(t, s, clock)
		ctx := context.Background()
		for _, tc := range []struct {
			from, to                 string
			newCustomers, revenue    int64
			prevNew, prevRevenueFen  int64
			wantPrevFrom, wantPrevTo string
		}{
			{"2026-11-30", "2026-11-30", 1, 10000, 0, 0, "2026-11-29", "2026-11-29"},
			{"2026-12-01", "2026-12-01", 1, 25050, 1, 10000, "2026-11-30", "2026-11-30"},
			{"2026-11-30", "2026-12-01", 2, 35050, 0, 0, "2026-11-28", "2026-11-29"},
		} {
			a, err := f.svc.Report(ctx, "overview", tc.from, tc.to, "")
			if err != nil {
				t.Fatal(err)
			}
			c, r := section(t, a, "customers")["new"], section(t, a, "revenue")["total"]
			if c != [2]int64{tc.newCustomers, tc.prevNew} || r != [2]int64{tc.revenue, tc.prevRevenueFen} ||
				a.PreviousFrom != tc.wantPrevFrom || a.PreviousTo != tc.wantPrevTo {
				t.Errorf("%s..%s: new %v revenue %v previous %s..%s", tc.from, tc.to, c, r, a.PreviousFrom, a.PreviousTo)
			}
		}
	})
}

func TestCSV(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, clock *storetest.Clock) {
		f := newFixture(t, s, clock)
		a, err := f.svc.Report(context.Background(), "overview", "2026-12-01", "2026-12-31", "")
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := report.WriteCSV(&buf, a); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(buf.Bytes(), []byte("\ufeff")) {
			t.Error("no byte order mark")
		}
		recs, err := csv.NewReader(bytes.NewReader(buf.Bytes()[3:])).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(report.CSVHeader, recs[0]); diff != "" {
			t.Errorf("header (-want +got):\n%s", diff)
		}
		want := map[string][]string{
			"revenue/total":      {"revenue", "total", "", "250.51", "100.00", "yuan"},
			"satisfaction/csat":  {"satisfaction", "csat", "", "50.00", "100.00", "percent"},
			"customers/new":      {"customers", "new", "", "2", "1", "count"},
			"messages.by_day/01": nil,
		}
		seen := map[string]bool{}
		for _, r := range recs[1:] {
			if len(r) != len(report.CSVHeader) {
				t.Fatalf("row %v: %d columns", r, len(r))
			}
			k := r[0] + "/" + r[1]
			if w, ok := want[k]; ok && w != nil {
				seen[k] = true
				if diff := cmp.Diff(w, r); diff != "" {
					t.Errorf("%s (-want +got):\n%s", k, diff)
				}
			}
		}
		if len(seen) != 3 {
			t.Errorf("rows seen: %v", seen)
		}
	})
}

// Bad periods are 422s naming the field.
func TestParsePeriod(t *testing.T) {
	s := storetest.Open(t, "sqlite", store.WithClock(storetest.NewClock(at("2026-12-20 12:00:00")).Now))
	svc, err := report.New(report.DefaultConfig(), report.Options{Store: s, Location: shanghai})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, to, field string }{
		{"2026-13-01", "", "from"},
		{"", "yesterday", "to"},
		{"2026-12-02", "2026-12-01", "to"},
		{"2025-01-01", "2026-12-31", "from"},
		{"1999-12-31", "2000-01-01", "from"},
	} {
		_, err := svc.ParsePeriod(tc.from, tc.to)
		var se *store.Error
		if !errors.As(err, &se) || se.Code != store.EINVALID || se.Field != tc.field {
			t.Errorf("%q..%q: %v, want invalid %s", tc.from, tc.to, err, tc.field)
		}
	}
	p, err := svc.ParsePeriod("", "")
	if err != nil || date(p.From) != "2026-11-21" || date(p.To) != "2026-12-20" || p.Days != 30 {
		t.Errorf("default period %v %v", p, err)
	}
	if _, err := svc.Report(context.Background(), "nope", "", "", ""); !store.IsCode(err, store.ENOTFOUND) {
		t.Errorf("unknown report: %v", err)
	}
}

func date(t time.Time) string { return t.Format(time.DateOnly) }
