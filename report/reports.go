package report

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/rapport-crm/rapport/store"
)

// The six first reports (campaigns.go and points.go hold the other two).
// Each is one Report value; docs/api.md lists their sections.

// stages in funnel order.
var stages = []string{string(store.StagePotential), string(store.StageNew), string(store.StageActive), string(store.StageAtRisk), string(store.StageChurned)}

// prefix keeps the dims "a|..." whose first part is a.
func prefix(a string) func(string) bool {
	return func(dim string) bool { return strings.HasPrefix(dim, a+"|") }
}

// part is the i-th "|"-separated part of a dim.
func part(i int) func(string) string {
	return func(dim string) string {
		ps := strings.Split(dim, "|")
		if i < len(ps) {
			return ps[i]
		}
		return ""
	}
}

// created is the drill-down query of the customers created in the period.
func created(d *Data) string {
	return "created_from=" + url.QueryEscape(date(d.p.From)) + "&created_to=" + url.QueryEscape(date(d.p.To))
}

// csatOf folds "x|score" dims of metric into CSAT rows by x (share of
// 4 and 5) and response counts by x.
func csatOf(d *Data, metric string, keyOf func(string) string) (csat, responses []Row) {
	responses = d.byDim(metric, keyOf)
	for _, r := range responses {
		happy := d.total("", metric, func(dim string) bool {
			sc := part(len(strings.Split(dim, "|")) - 1)(dim)
			return keyOf(dim) == r.Key && (sc == "4" || sc == "5")
		})
		csat = append(csat, rate(r.Key, happy, r))
	}
	if csat == nil {
		csat = []Row{}
	}
	return csat, responses
}

// happy keeps scores 4 and 5.
func happy(dim string) bool { return strings.HasSuffix(dim, "|4") || strings.HasSuffix(dim, "|5") }

var overview = Report{
	Name:    "overview",
	Summary: "Overview: customers, messages, tasks, satisfaction and revenue",
	Description: "Customers in total and new (by source), by tier, stage and source; customers' messages in and out by channel; " +
		"tasks opened and closed; CSAT; revenue and orders from orders (exact fen).",
	Metrics: []string{store.MetricCustomersNew, store.MetricCustomersTotal, store.MetricCustomersTier, store.MetricCustomersStage,
		store.MetricCustomersSource, store.MetricMessages, store.MetricTasksOpened, store.MetricTasksClosed, store.MetricSurveys,
		store.MetricOrders, store.MetricRevenue},
	Build: func(ctx context.Context, s *Service, d *Data) ([]Section, error) {
		surveys := d.total("responses", store.MetricSurveys, nil)
		in := func(dim string) bool { return strings.HasPrefix(dim, "in|") }
		out := func(dim string) bool { return strings.HasPrefix(dim, "out|") }
		return []Section{
			{Name: "customers", Unit: UnitCount, Rows: []Row{
				d.row("total", store.MetricCustomersTotal, ""), d.total("new", store.MetricCustomersNew, nil)}},
			{Name: "customers.new_by_source", Unit: UnitCount, Drill: "source={key}&" + created(d), Rows: d.byDim(store.MetricCustomersNew, nil)},
			{Name: "customers.new_by_day", Unit: UnitCount, Series: true, Rows: d.series(store.MetricCustomersNew, nil)},
			{Name: "customers.by_tier", Unit: UnitCount, Drill: "tier={key}", Rows: d.byDim(store.MetricCustomersTier, nil)},
			{Name: "customers.by_stage", Unit: UnitCount, Drill: "stage={key}", Rows: d.byDim(store.MetricCustomersStage, nil)},
			{Name: "customers.by_source", Unit: UnitCount, Drill: "source={key}", Rows: d.byDim(store.MetricCustomersSource, nil)},
			{Name: "messages", Unit: UnitCount, Rows: []Row{d.total("in", store.MetricMessages, in), d.total("out", store.MetricMessages, out)}},
			{Name: "messages.in_by_channel", Unit: UnitCount, Rows: d.byDim(store.MetricMessages, func(dim string) string {
				if in(dim) {
					return part(1)(dim)
				}
				return ""
			})},
			{Name: "messages.out_by_channel", Unit: UnitCount, Rows: d.byDim(store.MetricMessages, func(dim string) string {
				if out(dim) {
					return part(1)(dim)
				}
				return ""
			})},
			{Name: "messages.by_day", Unit: UnitCount, Series: true, Rows: d.series(store.MetricMessages, nil)},
			{Name: "tasks", Unit: UnitCount, Rows: []Row{d.total("opened", store.MetricTasksOpened, nil), d.total("closed", store.MetricTasksClosed, nil)}},
			{Name: "tasks.opened_by_kind", Unit: UnitCount, Rows: d.byDim(store.MetricTasksOpened, nil)},
			{Name: "satisfaction", Unit: UnitBP, Rows: []Row{rate("csat", d.total("", store.MetricSurveys, happy), surveys)}},
			{Name: "satisfaction.responses", Unit: UnitCount, Rows: []Row{surveys}},
			{Name: "revenue", Unit: UnitFen, Rows: []Row{d.total("total", store.MetricRevenue, nil)}},
			{Name: "revenue.orders", Unit: UnitCount, Rows: []Row{d.total("orders", store.MetricOrders, nil)}},
			{Name: "revenue.by_kind", Unit: UnitFen, Rows: d.byDim(store.MetricRevenue, nil)},
			{Name: "revenue.by_day", Unit: UnitFen, Series: true, Rows: d.series(store.MetricRevenue, nil)},
		}, nil
	},
}

// moves counts the stage moves accepted by keep(from, to).
func moves(d *Data, key string, keep func(from, to string) bool) Row {
	return d.total(key, store.MetricStageMoves, func(dim string) bool {
		from, to, _ := strings.Cut(dim, ">")
		return keep(from, to)
	})
}

// wonBack is a return from at-risk or churned to active or new.
func wonBack(from, to string) bool {
	return (from == string(store.StageAtRisk) || from == string(store.StageChurned)) &&
		(to == string(store.StageActive) || to == string(store.StageNew))
}

var lifecycle = Report{
	Name:    "lifecycle",
	Summary: "Lifecycle: the funnel potential → new → active, at-risk, churned, won back; moves between stages",
	Description: "The funnel is the customers in each stage at the period's end; the flows count the stage history's moves in " +
		"the period (customer_changes): new customers, moves into each stage, and won back (at-risk or churned to active or new).",
	Metrics: []string{store.MetricCustomersStage, store.MetricStageMoves, store.MetricCustomersNew},
	Build: func(ctx context.Context, s *Service, d *Data) ([]Section, error) {
		funnel := []Row{}
		for _, st := range stages {
			funnel = append(funnel, d.row(st, store.MetricCustomersStage, st))
		}
		into := func(st string) Row {
			return moves(d, st, func(from, to string) bool { return to == st && !wonBack(from, to) })
		}
		flows := []Row{d.total("new_customers", store.MetricCustomersNew, nil), into(string(store.StageNew)), into(string(store.StageActive)),
			into(string(store.StageAtRisk)), into(string(store.StageChurned)), moves(d, "won_back", wonBack)}
		flows[1].Key, flows[2].Key, flows[3].Key, flows[4].Key = "became_new", "became_active", "became_at_risk", "churned"
		wonBackDay := d.series(store.MetricStageMoves, func(dim string) bool { f, t, _ := strings.Cut(dim, ">"); return wonBack(f, t) })
		churnDay := d.series(store.MetricStageMoves, func(dim string) bool { return strings.HasSuffix(dim, ">"+string(store.StageChurned)) })
		return []Section{
			{Name: "lifecycle.funnel", Unit: UnitCount, Drill: "stage={key}", Rows: funnel},
			{Name: "lifecycle.flows", Unit: UnitCount, Rows: flows},
			{Name: "lifecycle.transitions", Unit: UnitCount, Rows: d.byDim(store.MetricStageMoves, nil)},
			{Name: "lifecycle.won_back_by_day", Unit: UnitCount, Series: true, Rows: wonBackDay},
			{Name: "lifecycle.churned_by_day", Unit: UnitCount, Series: true, Rows: churnDay},
		}, nil
	},
}

var care = Report{
	Name:    "care",
	Summary: "Care: per workflow — planned, queued, sent, failed, skipped by reason, replies and orders after it",
	Description: "Planned, queued and skipped from the care runs of the period's days (real runs, not dry runs); sent, failed and " +
		"skipped from the outbox; replied and ordered: customers who wrote back or ordered after a care message sent in the " +
		"period, until the end of reports.attribution_days days after the day it was sent; revenue: those orders' amounts.",
	Metrics: []string{store.MetricCarePlanned, store.MetricCareQueued, store.MetricCareSkipped, store.MetricCareSent,
		store.MetricCareFailed, store.MetricCareReplied, store.MetricCareOrdered, store.MetricCareRevenue},
	Build: func(ctx context.Context, s *Service, d *Data) ([]Section, error) {
		sent := d.byDim(store.MetricCareSent, nil)
		replied := d.byDim(store.MetricCareReplied, nil)
		var replyRate []Row
		for _, r := range sent {
			i := slices.IndexFunc(replied, func(x Row) bool { return x.Key == r.Key })
			var rep Row
			if i >= 0 {
				rep = replied[i]
			}
			replyRate = append(replyRate, rate(r.Key, rep, r))
		}
		if replyRate == nil {
			replyRate = []Row{}
		}
		return []Section{
			{Name: "care.planned", Unit: UnitCount, Rows: d.byDim(store.MetricCarePlanned, nil)},
			{Name: "care.queued", Unit: UnitCount, Rows: d.byDim(store.MetricCareQueued, nil)},
			{Name: "care.sent", Unit: UnitCount, Rows: sent},
			{Name: "care.failed", Unit: UnitCount, Rows: d.byDim(store.MetricCareFailed, nil)},
			{Name: "care.skipped", Unit: UnitCount, Rows: d.byDim(store.MetricCareSkipped, nil)},
			{Name: "care.replied", Unit: UnitCount, Rows: replied},
			{Name: "care.reply_rate", Unit: UnitBP, Rows: replyRate},
			{Name: "care.ordered", Unit: UnitCount, Rows: d.byDim(store.MetricCareOrdered, nil)},
			{Name: "care.revenue", Unit: UnitFen, Rows: d.byDim(store.MetricCareRevenue, nil)},
		}, nil
	},
}

var satisfaction = Report{
	Name:    "satisfaction",
	Summary: "Satisfaction: CSAT and scores by channel, by agent, by day",
	Description: "Survey answers given in the period. CSAT is the share of 4 and 5 (basis points). By agent: the answering " +
		"customer's owner (key 0: customers without one).",
	Metrics: []string{store.MetricSurveys, store.MetricSurveysAgent},
	Build: func(ctx context.Context, s *Service, d *Data) ([]Section, error) {
		all := d.total("responses", store.MetricSurveys, nil)
		csatCh, respCh := csatOf(d, store.MetricSurveys, part(0))
		csatAg, respAg := csatOf(d, store.MetricSurveysAgent, part(0))
		if err := s.labelStaff(ctx, csatAg); err != nil {
			return nil, err
		}
		if err := s.labelStaff(ctx, respAg); err != nil {
			return nil, err
		}
		byDay := d.series(store.MetricSurveys, nil)
		happyDay := d.series(store.MetricSurveys, happy)
		csatDay := make([]Row, len(byDay))
		for i := range byDay {
			csatDay[i] = rate(byDay[i].Key, happyDay[i], byDay[i])
		}
		scores := []Row{}
		for sc := 1; sc <= 5; sc++ {
			k := string(rune('0' + sc))
			scores = append(scores, d.total(k, store.MetricSurveys, func(dim string) bool { return strings.HasSuffix(dim, "|"+k) }))
		}
		return []Section{
			{Name: "satisfaction", Unit: UnitBP, Rows: []Row{rate("csat", d.total("", store.MetricSurveys, happy), all)}},
			{Name: "satisfaction.responses", Unit: UnitCount, Rows: []Row{all}},
			{Name: "satisfaction.scores", Unit: UnitCount, Rows: scores},
			{Name: "satisfaction.csat_by_channel", Unit: UnitBP, Rows: csatCh},
			{Name: "satisfaction.responses_by_channel", Unit: UnitCount, Rows: respCh},
			{Name: "satisfaction.csat_by_agent", Unit: UnitBP, Drill: "owner_staff_id={key}", Rows: csatAg},
			{Name: "satisfaction.responses_by_agent", Unit: UnitCount, Drill: "owner_staff_id={key}", Rows: respAg},
			{Name: "satisfaction.csat_by_day", Unit: UnitBP, Series: true, Rows: csatDay},
			{Name: "satisfaction.responses_by_day", Unit: UnitCount, Series: true, Rows: byDay},
		}, nil
	},
}

var complaints = Report{
	Name:    "complaints",
	Summary: "Complaints: by category, time to first response and to resolution, open and late",
	Description: "Complaint tasks; the category is the kind: complaint (a complaining chat message) or survey_recovery (a low " +
		"survey score). First response: the first staff action on it (status, note, message relayed to the customer), for " +
		"complaints opened in the period; resolution: opened to closed, for those closed in it; open and late (past due) at the " +
		"period's end.",
	Metrics: []string{store.MetricComplaintsOpened, store.MetricComplaintsClosed, store.MetricComplaintsResolveS,
		store.MetricComplaintsAnswered, store.MetricComplaintsAnswerS, store.MetricComplaintsOpen, store.MetricComplaintsLate},
	Build: func(ctx context.Context, s *Service, d *Data) ([]Section, error) {
		kinds := []string{store.TaskComplaint, store.TaskSurveyRecovery}
		avg := func(secMetric, nMetric string) []Row {
			out := []Row{}
			for _, k := range append([]string{"all"}, kinds...) {
				var sec, n Row
				if k == "all" {
					sec, n = d.total(k, secMetric, nil), d.total(k, nMetric, nil)
				} else {
					sec, n = d.row(k, secMetric, k), d.row(k, nMetric, k)
				}
				out = append(out, Row{Key: k, Current: avgMinutes(sec.Current, n.Current), Previous: avgMinutes(sec.Previous, n.Previous)})
			}
			return out
		}
		per := func(metric string) []Row {
			out := []Row{d.total("all", metric, nil)}
			for _, k := range kinds {
				out = append(out, d.row(k, metric, k))
			}
			return out
		}
		return []Section{
			{Name: "complaints.opened", Unit: UnitCount, Rows: per(store.MetricComplaintsOpened)},
			{Name: "complaints.closed", Unit: UnitCount, Rows: per(store.MetricComplaintsClosed)},
			{Name: "complaints.open", Unit: UnitCount, Rows: per(store.MetricComplaintsOpen)},
			{Name: "complaints.late", Unit: UnitCount, Rows: per(store.MetricComplaintsLate)},
			{Name: "complaints.first_response_minutes", Unit: UnitMinutes, Rows: avg(store.MetricComplaintsAnswerS, store.MetricComplaintsAnswered)},
			{Name: "complaints.resolution_minutes", Unit: UnitMinutes, Rows: avg(store.MetricComplaintsResolveS, store.MetricComplaintsClosed)},
			{Name: "complaints.opened_by_day", Unit: UnitCount, Series: true, Rows: d.series(store.MetricComplaintsOpened, nil)},
		}, nil
	},
}

var staff = Report{
	Name:    "staff",
	Summary: "Staff: per agent — open, overdue, done, median time to done, CSAT of their customers",
	Description: "Keys are staff ids (0: unassigned / no owner), labels their names. Open and overdue at the period's end; done " +
		"in the period with the median time from a task's creation to done (minutes, within 5 %); CSAT of survey answers " +
		"given in the period by the customers each owns.",
	Metrics: []string{store.MetricStaffOpen, store.MetricStaffOverdue, store.MetricStaffDone, store.MetricStaffDoneBucket, store.MetricSurveysAgent},
	Build: func(ctx context.Context, s *Service, d *Data) ([]Section, error) {
		done := d.byDim(store.MetricStaffDone, nil)
		median := []Row{}
		for _, r := range done {
			median = append(median, Row{Key: r.Key,
				Current:  d.median(r.Key, d.p.From, d.p.To),
				Previous: d.median(r.Key, d.p.PrevFrom, d.p.PrevTo)})
		}
		csat, _ := csatOf(d, store.MetricSurveysAgent, part(0))
		secs := []Section{
			{Name: "staff.open", Unit: UnitCount, Rows: d.byDim(store.MetricStaffOpen, nil)},
			{Name: "staff.overdue", Unit: UnitCount, Rows: d.byDim(store.MetricStaffOverdue, nil)},
			{Name: "staff.done", Unit: UnitCount, Rows: done},
			{Name: "staff.median_done_minutes", Unit: UnitMinutes, Rows: median},
			{Name: "staff.csat", Unit: UnitBP, Drill: "owner_staff_id={key}", Rows: csat},
		}
		for i := range secs {
			if err := s.labelStaff(ctx, secs[i].Rows); err != nil {
				return nil, err
			}
		}
		return secs, nil
	},
}
