package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The reports (package report) read daily figures: per business day, a
// count or a sum of each metric split by one dimension. DayFigures
// computes one day from the raw tables with indexed range reads; the
// report package stores them (ReplaceDailyFigures) nightly and for today,
// and a report sums the days of its period.

// DailyFigure is one figure of one business day.
type DailyFigure struct {
	Day    string `gorm:"primaryKey;size:10" json:"day"` // YYYY-MM-DD, business time zone
	Metric string `gorm:"primaryKey;size:32" json:"metric"`
	Dim    string `gorm:"primaryKey;size:96" json:"dim"` // "" for none
	Value  int64  `gorm:"not null;default:0" json:"value"`
}

func (DailyFigure) TableName() string { return "daily_figures" }

// ReportDay records when a day's figures were computed; Final: after the
// day and its attribution window ended, so they change no more.
type ReportDay struct {
	Day        string    `gorm:"primaryKey;size:10"`
	ComputedAt time.Time `gorm:"not null"`
	Final      bool      `gorm:"not null;default:false"`
}

func (ReportDay) TableName() string { return "report_days" }

// reportFigures adds the daily figures and the indexes their day reads
// range over (each a time column, so a day is one index range).
func reportFigures(tx *gorm.DB) error {
	if err := tx.AutoMigrate(&DailyFigure{}, &ReportDay{}); err != nil {
		return err
	}
	for _, ix := range []struct{ table, name, cols string }{
		{"customers", "ix_customers_created", "created_at"},
		{"messages", "ix_messages_created", "created_at"},
		{"tasks", "ix_tasks_created", "created_at"},
		{"customer_changes", "ix_customer_changes_at", "at"},
		{"task_events", "ix_task_events_task_staff", "task_id, staff_id, created_at"},
	} {
		if tx.Migrator().HasIndex(ix.table, ix.name) {
			continue
		}
		if err := tx.Exec("CREATE INDEX " + ix.name + " ON " + ix.table + " (" + ix.cols + ")").Error; err != nil {
			return err
		}
	}
	return nil
}

// Metrics of the daily figures. Snapshot metrics (SnapshotMetrics) hold
// the state at the day's end (or when today was computed); the others
// count what happened in the day.
const (
	MetricCustomersNew       = "customers_new"        // dim: source
	MetricCustomersTotal     = "customers_total"      // snapshot, dim ""
	MetricCustomersTier      = "customers_tier"       // snapshot, dim: tier
	MetricCustomersStage     = "customers_stage"      // snapshot, dim: stage
	MetricCustomersSource    = "customers_source"     // snapshot, dim: source
	MetricMessages           = "messages"             // dim: "in|channel" or "out|channel"
	MetricTasksOpened        = "tasks_opened"         // dim: kind
	MetricTasksClosed        = "tasks_closed"         // dim: kind
	MetricSurveys            = "surveys"              // dim: "channel|score"
	MetricSurveysAgent       = "surveys_agent"        // dim: "staff|score" (the customer's owner; 0 for none)
	MetricOrders             = "orders"               // dim: kind
	MetricRevenue            = "revenue_fen"          // dim: kind
	MetricStageMoves         = "stage_moves"          // dim: "from>to"
	MetricCarePlanned        = "care_planned"         // dim: workflow
	MetricCareQueued         = "care_queued"          // dim: workflow
	MetricCareSkipped        = "care_skipped"         // dim: "workflow|reason"
	MetricCareSent           = "care_sent"            // dim: workflow
	MetricCareFailed         = "care_failed"          // dim: workflow
	MetricCareReplied        = "care_replied"         // dim: workflow
	MetricCareOrdered        = "care_ordered"         // dim: workflow
	MetricCareRevenue        = "care_revenue_fen"     // dim: workflow
	MetricComplaintsOpened   = "complaints_opened"    // dim: kind
	MetricComplaintsClosed   = "complaints_closed"    // dim: kind
	MetricComplaintsResolveS = "complaints_resolve_s" // dim: kind (seconds, summed)
	MetricComplaintsAnswered = "complaints_answered"  // dim: kind (opened this day, answered by staff)
	MetricComplaintsAnswerS  = "complaints_answer_s"  // dim: kind (seconds to first answer, summed)
	MetricComplaintsOpen     = "complaints_open"      // snapshot, dim: kind
	MetricComplaintsLate     = "complaints_late"      // snapshot, dim: kind
	MetricStaffOpen          = "staff_open"           // snapshot, dim: assignee (0: none)
	MetricStaffOverdue       = "staff_overdue"        // snapshot, dim: assignee
	MetricStaffDone          = "staff_done"           // dim: assignee
	MetricStaffDoneBucket    = "staff_done_bucket"    // dim: "assignee|bucket" (DurationBucket of created → done)
)

// SnapshotMetrics are the metrics that hold a state, not a count of events.
var SnapshotMetrics = map[string]bool{
	MetricCustomersTotal: true, MetricCustomersTier: true, MetricCustomersStage: true, MetricCustomersSource: true,
	MetricComplaintsOpen: true, MetricComplaintsLate: true, MetricStaffOpen: true, MetricStaffOverdue: true,
	MetricPointsExpiring: true, MetricPointsExpiringCustomers: true,
}

// bucketBase is the ratio between neighbouring duration buckets: a median
// read from buckets is within 5 % of the true one.
const bucketBase = 1.05

// DurationBucket is the bucket of a duration in minutes for the medians:
// bucket b holds [BucketMinutes(b), BucketMinutes(b+1)).
func DurationBucket(d time.Duration) int {
	m := d.Minutes()
	if m < 1 {
		return 0
	}
	return 1 + int(math.Log(m)/math.Log(bucketBase))
}

// BucketMinutes is where bucket b starts, in minutes.
func BucketMinutes(b int) float64 {
	if b <= 0 {
		return 0
	}
	return math.Pow(bucketBase, float64(b-1))
}

// DayWindow is the span of one business day, and how far after it replies
// and orders still count for the care messages sent in it.
type DayWindow struct {
	From, To time.Time // [From, To)
	// Now is when the figures are computed; a day not over yet ends at
	// Now for its snapshots.
	Now time.Time
	// AttributionEnd: replies and orders until then count for the day's
	// care messages.
	AttributionEnd time.Time
	// CampaignDays is campaigns.attribution_days: a campaign message's
	// replies, orders and opt-outs count that long after it was sent
	// (default 7).
	CampaignDays int
}

// maxDims bounds the dimensions of one metric on one day (free-text ones:
// source); the rest add up under DimOther.
const maxDims = 200

// DimOther is where the dimensions beyond the first maxDims add up.
const DimOther = "(other)"

// figureSet gathers one day's figures.
type figureSet struct {
	day string
	m   map[[2]string]int64
	n   map[string]int // dims per metric
}

func (f *figureSet) add(metric, dim string, v int64) {
	if v == 0 {
		return
	}
	dim = CutRunes(dim, 96)
	k := [2]string{metric, dim}
	if _, ok := f.m[k]; !ok {
		if f.n[metric] >= maxDims {
			k[1] = DimOther
		} else {
			f.n[metric]++
		}
	}
	f.m[k] += v
}

func (f *figureSet) list() []DailyFigure {
	out := make([]DailyFigure, 0, len(f.m))
	for k, v := range f.m {
		out = append(out, DailyFigure{Day: f.day, Metric: k[0], Dim: k[1], Value: v})
	}
	return out
}

// DayFigures computes the figures of the business day day over w.
func (s *Store) DayFigures(ctx context.Context, day string, w DayWindow) ([]DailyFigure, error) {
	db := s.db.WithContext(ctx)
	from, to := w.From.UTC(), w.To.UTC()
	end := to // snapshots: the day's end, or now for today
	if !w.Now.IsZero() && w.Now.Before(end) {
		end = w.Now.UTC()
	}
	f := &figureSet{day: day, m: map[[2]string]int64{}, n: map[string]int{}}
	type kv struct {
		A, B string
		N    int64
	}
	group := func(metric string, join func(a, b string) string, q string, args ...any) error {
		var rows []kv
		if err := db.Raw(q, args...).Scan(&rows).Error; err != nil {
			return fmt.Errorf("day figures %s: %w", metric, err)
		}
		for _, r := range rows {
			f.add(metric, join(r.A, r.B), r.N)
		}
		return nil
	}
	first := func(a, _ string) string { return a }
	pair := func(a, b string) string { return a + "|" + b }
	steps := []func() error{
		// Customers: new by source; the population by tier, stage and
		// source as it stands (one scan).
		func() error {
			return group(MetricCustomersNew, first, `SELECT source AS a, '' AS b, COUNT(*) AS n FROM customers
				WHERE created_at >= ? AND created_at < ? GROUP BY source`, from, to)
		},
		func() error {
			var rows []struct {
				Tier, Stage, Source string
				N                   int64
			}
			err := db.Raw(`SELECT tier, stage, source, COUNT(*) AS n FROM customers WHERE created_at < ? GROUP BY tier, stage, source`, end).
				Scan(&rows).Error
			if err != nil {
				return fmt.Errorf("day figures customers: %w", err)
			}
			for _, r := range rows {
				f.add(MetricCustomersTotal, "", r.N)
				f.add(MetricCustomersTier, r.Tier, r.N)
				f.add(MetricCustomersStage, r.Stage, r.N)
				f.add(MetricCustomersSource, r.Source, r.N)
			}
			return nil
		},
		// Customers' messages: every inbound one, and outbound ones sent.
		func() error {
			return group(MetricMessages, pair, `SELECT direction AS a, channel AS b, COUNT(*) AS n FROM messages
				WHERE created_at >= ? AND created_at < ? AND customer_id IS NOT NULL
				AND (direction = ? OR status = ?) GROUP BY direction, channel`, from, to, DirectionIn, StatusSent)
		},
		func() error {
			return group(MetricTasksOpened, first, `SELECT kind AS a, '' AS b, COUNT(*) AS n FROM tasks
				WHERE created_at >= ? AND created_at < ? GROUP BY kind`, from, to)
		},
		func() error {
			return group(MetricTasksClosed, first, `SELECT kind AS a, '' AS b, COUNT(*) AS n FROM tasks
				WHERE closed_at >= ? AND closed_at < ? GROUP BY kind`, from, to)
		},
		func() error {
			return group(MetricSurveys, pair, `SELECT channel AS a, CAST(score AS CHAR) AS b, COUNT(*) AS n FROM surveys
				WHERE answered_at >= ? AND answered_at < ? AND score IS NOT NULL GROUP BY channel, score`, from, to)
		},
		func() error {
			return group(MetricSurveysAgent, pair, `SELECT CAST(COALESCE(c.owner_staff_id, 0) AS CHAR) AS a, CAST(s.score AS CHAR) AS b, COUNT(*) AS n
				FROM surveys s JOIN customers c ON c.id = s.customer_id
				WHERE s.answered_at >= ? AND s.answered_at < ? AND s.score IS NOT NULL GROUP BY c.owner_staff_id, s.score`, from, to)
		},
		func() error {
			var rows []struct {
				Kind string
				N    int64
				Fen  int64
			}
			err := db.Raw(`SELECT kind, COUNT(*) AS n, COALESCE(SUM(amount_fen), 0) AS fen FROM orders
				WHERE occurred_at >= ? AND occurred_at < ? GROUP BY kind`, from, to).Scan(&rows).Error
			if err != nil {
				return fmt.Errorf("day figures orders: %w", err)
			}
			for _, r := range rows {
				f.add(MetricOrders, r.Kind, r.N)
				f.add(MetricRevenue, r.Kind, r.Fen)
			}
			return nil
		},
		func() error {
			return group(MetricStageMoves, func(a, b string) string { return a + ">" + b }, `SELECT from_value AS a, to_value AS b, COUNT(*) AS n
				FROM customer_changes WHERE at >= ? AND at < ? AND field = ? GROUP BY from_value, to_value`, from, to, FieldStage)
		},
		func() error { return s.dayCare(db, f, day, w) },
		func() error { return s.dayTasks(db, f, from, to, end) },
		func() error { return s.dayCampaigns(ctx, db, f, w) },
		func() error { return s.dayPoints(ctx, db, f, w, from, to, end) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return f.list(), nil
}

// dayCare: the care runs of the day (planned, queued, skipped by reason),
// the care messages (not the campaigns': they have their own) created in it (sent, failed, skipped by reason), and
// of the customers they reached, who replied and who ordered by
// w.AttributionEnd.
func (s *Store) dayCare(db *gorm.DB, f *figureSet, day string, w DayWindow) error {
	from, to := w.From.UTC(), w.To.UTC()
	var runs []CareRun
	if err := db.Where("date = ? AND dry_run = ?", day, false).Find(&runs).Error; err != nil {
		return fmt.Errorf("day figures care runs: %w", err)
	}
	for _, r := range runs {
		r.decode()
		f.add(MetricCarePlanned, r.Workflow, int64(r.Planned))
		f.add(MetricCareQueued, r.Workflow, int64(r.Queued))
		for reason, n := range r.SkipReasons {
			f.add(MetricCareSkipped, r.Workflow+"|"+reason, int64(n))
		}
	}
	var rows []struct {
		Workflow, Status, Reason string
		N                        int64
	}
	err := db.Raw(`SELECT workflow, status, CASE WHEN status = ? THEN reason ELSE '' END AS reason, COUNT(*) AS n FROM messages
		WHERE created_at >= ? AND created_at < ? AND workflow <> '' AND workflow NOT LIKE ? AND direction = ? AND customer_id IS NOT NULL
		GROUP BY workflow, status, CASE WHEN status = ? THEN reason ELSE '' END`, StatusSkipped, from, to, campaignWorkflow+"%", DirectionOut, StatusSkipped).Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("day figures care messages: %w", err)
	}
	for _, r := range rows {
		switch r.Status {
		case StatusSent:
			f.add(MetricCareSent, r.Workflow, r.N)
		case StatusFailed:
			f.add(MetricCareFailed, r.Workflow, r.N)
		case StatusSkipped:
			f.add(MetricCareSkipped, r.Workflow+"|"+cmpOr(r.Reason, "skipped"), r.N)
		}
	}
	until := w.AttributionEnd.UTC()
	var replied []struct {
		Workflow string
		N        int64
	}
	err = db.Raw(`SELECT m.workflow, COUNT(DISTINCT m.customer_id) AS n FROM messages m
		WHERE m.created_at >= ? AND m.created_at < ? AND m.workflow <> '' AND m.workflow NOT LIKE ? AND m.direction = ? AND m.status = ? AND m.customer_id IS NOT NULL
		AND EXISTS (SELECT 1 FROM messages r WHERE r.customer_id = m.customer_id AND r.created_at > m.created_at AND r.created_at < ? AND r.direction = ?)
		GROUP BY m.workflow`, from, to, campaignWorkflow+"%", DirectionOut, StatusSent, until, DirectionIn).Scan(&replied).Error
	if err != nil {
		return fmt.Errorf("day figures care replies: %w", err)
	}
	for _, r := range replied {
		f.add(MetricCareReplied, r.Workflow, r.N)
	}
	var ordered []struct {
		Workflow string
		N        int64
		Fen      int64
	}
	err = db.Raw(`SELECT m.workflow, COUNT(DISTINCT m.customer_id) AS n, COALESCE(SUM(o.amount_fen), 0) AS fen FROM messages m
		JOIN orders o ON o.customer_id = m.customer_id AND o.occurred_at >= m.created_at AND o.occurred_at < ?
		WHERE m.created_at >= ? AND m.created_at < ? AND m.workflow <> '' AND m.workflow NOT LIKE ? AND m.direction = ? AND m.status = ? AND m.customer_id IS NOT NULL
		GROUP BY m.workflow`, until, from, to, campaignWorkflow+"%", DirectionOut, StatusSent).Scan(&ordered).Error
	if err != nil {
		return fmt.Errorf("day figures care orders: %w", err)
	}
	for _, r := range ordered {
		f.add(MetricCareOrdered, r.Workflow, r.N)
		f.add(MetricCareRevenue, r.Workflow, r.Fen)
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// staffActions are the task events that count as staff answering a
// complaint (a status change, a note, a message relayed to the customer).
var staffActions = []string{"status", "note", "relayed_out", "due"}

// dayTasks: complaints (opened, closed with their time to resolution,
// answered with their time to the first staff action, open and late at
// the end) and each assignee's open, overdue and done tasks.
func (s *Store) dayTasks(db *gorm.DB, f *figureSet, from, to, end time.Time) error {
	kinds := []string{TaskComplaint, TaskSurveyRecovery}
	type openedTask struct {
		ID      int64
		Kind    string
		Created anyTime
	}
	var opened []openedTask
	err := scanRows(db.Raw(`SELECT id, kind, created_at FROM tasks WHERE created_at >= ? AND created_at < ? AND kind IN ?`, from, to, kinds),
		func(r *sql.Rows) error {
			var t openedTask
			if err := r.Scan(&t.ID, &t.Kind, &t.Created); err != nil {
				return err
			}
			opened = append(opened, t)
			return nil
		})
	if err != nil {
		return fmt.Errorf("day figures complaints: %w", err)
	}
	if len(opened) > 0 {
		ids := make([]int64, len(opened))
		for i, t := range opened {
			ids[i] = t.ID
			f.add(MetricComplaintsOpened, t.Kind, 1)
		}
		first := map[int64]time.Time{}
		for lo := 0; lo < len(ids); lo += 1000 {
			err := scanRows(db.Raw(`SELECT task_id, MIN(created_at) FROM task_events WHERE task_id IN ? AND staff_id IS NOT NULL AND action IN ?
				GROUP BY task_id`, ids[lo:min(lo+1000, len(ids))], staffActions), func(r *sql.Rows) error {
				var id int64
				var at anyTime
				if err := r.Scan(&id, &at); err != nil {
					return err
				}
				first[id] = at.t
				return nil
			})
			if err != nil {
				return fmt.Errorf("day figures complaint answers: %w", err)
			}
		}
		for _, t := range opened {
			if at, ok := first[t.ID]; ok && !at.After(end) {
				f.add(MetricComplaintsAnswered, t.Kind, 1)
				f.add(MetricComplaintsAnswerS, t.Kind, int64(at.Sub(t.Created.t).Seconds()))
			}
		}
	}
	err = scanRows(db.Raw(`SELECT kind, status, assignee_id, created_at, closed_at FROM tasks WHERE closed_at >= ? AND closed_at < ?`, from, to),
		func(r *sql.Rows) error {
			var kind, status string
			var assignee *int64
			var created, closed anyTime
			if err := r.Scan(&kind, &status, &assignee, &created, &closed); err != nil {
				return err
			}
			took := closed.t.Sub(created.t)
			if IsComplaintKind(kind) {
				f.add(MetricComplaintsClosed, kind, 1)
				f.add(MetricComplaintsResolveS, kind, int64(took.Seconds()))
			}
			if status == TaskDone {
				a := staffKey(assignee)
				f.add(MetricStaffDone, a, 1)
				f.add(MetricStaffDoneBucket, a+"|"+strconv.Itoa(DurationBucket(took)), 1)
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("day figures closed tasks: %w", err)
	}
	// Open at the end: made before it and not closed by then.
	var open []struct {
		Kind       string
		AssigneeID *int64
		Late       int64
		N          int64
	}
	err = db.Raw(`SELECT kind, assignee_id, SUM(CASE WHEN due_at < ? THEN 1 ELSE 0 END) AS late, COUNT(*) AS n FROM tasks
		WHERE created_at < ? AND (closed_at IS NULL OR closed_at >= ?) AND (status = ? OR closed_at IS NOT NULL)
		GROUP BY kind, assignee_id`, end, end, end, TaskOpen).Scan(&open).Error
	if err != nil {
		return fmt.Errorf("day figures open tasks: %w", err)
	}
	for _, t := range open {
		if IsComplaintKind(t.Kind) {
			f.add(MetricComplaintsOpen, t.Kind, t.N)
			f.add(MetricComplaintsLate, t.Kind, t.Late)
		}
		a := staffKey(t.AssigneeID)
		f.add(MetricStaffOpen, a, t.N)
		f.add(MetricStaffOverdue, a, t.Late)
	}
	return nil
}

func staffKey(id *int64) string {
	if id == nil {
		return "0"
	}
	return strconv.FormatInt(*id, 10)
}

// scanRows runs q and hands each row to fn.
func scanRows(q *gorm.DB, fn func(*sql.Rows) error) error {
	rows, err := q.Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ReplaceDailyFigures stores a day's figures in place of what it had.
func (s *Store) ReplaceDailyFigures(ctx context.Context, day string, fs []DailyFigure, computedAt time.Time, final bool) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("day = ?", day).Delete(&DailyFigure{}).Error; err != nil {
			return fmt.Errorf("daily figures: %w", err)
		}
		for lo := 0; lo < len(fs); lo += 500 {
			// Another process replacing the same day at once: the later
			// write wins, row by row.
			err := tx.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "day"}, {Name: "metric"}, {Name: "dim"}},
				DoUpdates: clause.AssignmentColumns([]string{"value"}),
			}).Create(fs[lo:min(lo+500, len(fs))]).Error
			if err != nil {
				return fmt.Errorf("daily figures: %w", err)
			}
		}
		rd := ReportDay{Day: day, ComputedAt: computedAt.UTC().Truncate(time.Millisecond), Final: final}
		return tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "day"}},
			DoUpdates: clause.AssignmentColumns([]string{"computed_at", "final"}),
		}).Create(&rd).Error
	})
}

// DailyFiguresIn returns the figures of the days from..to (inclusive,
// YYYY-MM-DD) of the given metrics (all when none).
func (s *Store) DailyFiguresIn(ctx context.Context, from, to string, metrics ...string) ([]DailyFigure, error) {
	q := s.db.WithContext(ctx).Where("day >= ? AND day <= ?", from, to)
	if len(metrics) > 0 {
		q = q.Where("metric IN ?", metrics)
	}
	var out []DailyFigure
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("daily figures: %w", err)
	}
	return out, nil
}

// ReportDays returns the computed days from..to, by day.
func (s *Store) ReportDays(ctx context.Context, from, to string) (map[string]ReportDay, error) {
	var rs []ReportDay
	if err := s.db.WithContext(ctx).Where("day >= ? AND day <= ?", from, to).Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("report days: %w", err)
	}
	out := make(map[string]ReportDay, len(rs))
	for _, r := range rs {
		out[r.Day] = r
	}
	return out, nil
}

// FirstActivity is when the earliest customer was created (zero before
// any): days before it need no figures.
func (s *Store) FirstActivity(ctx context.Context) (time.Time, error) {
	var t anyTime
	var ok bool
	t.ok = &ok
	err := s.db.WithContext(ctx).Raw("SELECT MIN(created_at) FROM customers").Row().Scan(&t)
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return time.Time{}, fmt.Errorf("first activity: %w", err)
	}
	return t.t, nil
}

// ReportAnswer is a report: its period, the period before, and its
// sections. Package report fills it; web encodes it.
type ReportAnswer struct {
	Report       string          `json:"report"`
	From         string          `json:"from"`
	To           string          `json:"to"`
	PreviousFrom string          `json:"previous_from"`
	PreviousTo   string          `json:"previous_to"`
	Timezone     string          `json:"timezone"`
	Days         int             `json:"days"`
	FreshAsOf    time.Time       `json:"fresh_as_of"`
	Sections     []ReportSection `json:"sections"`
}

// ReportSection is one table of a report (and one chart of the dashboard).
type ReportSection struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
	// Series: the keys are the period's days (previous: the same day of
	// the period before); otherwise they are dimensions.
	Series bool `json:"series,omitempty"`
	// Drill is the customer list's query for a row: {key} stands for the
	// row's key (URL-encoded); "" when the section has no drill-down.
	Drill string `json:"drill,omitempty"`
	// Now: the rows are a current figure (as of the answer), not the
	// period's; previous is 0.
	Now  bool        `json:"now,omitempty"`
	Rows []ReportRow `json:"rows"`
}

// ReportRow is one value of a section in the period and in the one before.
type ReportRow struct {
	Key      string `json:"key"`
	Label    string `json:"label,omitempty"`
	Current  int64  `json:"current"`
	Previous int64  `json:"previous"`
}

// ReportDoc describes one report for the API description.
type ReportDoc struct{ Name, Summary, Description string }
