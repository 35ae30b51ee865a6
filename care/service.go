package care

import (
	"cmp"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// Options are what cmd wires into the service.
type Options struct {
	Store     *store.Store
	Templates render.Renderer
	// Location is the business time zone: dates, schedules, quiet hours.
	Location   *time.Location
	QuietHours QuietHours
	// HasWeChatTemplate tells whether a workflow has a WeChat template
	// message, which the WeChat adapter sends outside the 48 h
	// customer-service window; without one such a customer gets a staff
	// task instead. nil: no workflow has one.
	HasWeChatTemplate func(workflow string) bool
	Business          string // business name for templates
	// StaffLocale is the language of the tasks care opens (zh-CN | en).
	StaffLocale string
	Registry    *prometheus.Registry
	Logger      *slog.Logger
	// Holder names this process in run claims (default host:pid).
	Holder string
	// BatchSize is how many customers a run handles per batch (5000).
	BatchSize int
	// Lease is how long a run claim lasts without a heartbeat (2 min);
	// another process resumes the run after that.
	Lease time.Duration
	// SampleSize is how many rendered messages a dry run returns (20).
	SampleSize int
	// PointsExpiry tells, for the start of a business day, the expiry
	// instant whose reminder is due that day (ok false: none); cmd wires
	// package points. nil: the points_expiry workflow sends nothing.
	PointsExpiry func(day time.Time) (at time.Time, ok bool)
}

// Service runs care workflows and handles survey answers in chat.
type Service struct {
	cfg     Config
	o       Options
	store   *store.Store
	quiet   quietWindow
	metrics *metrics
	// afterBatch, when set (tests), is called after each batch is written.
	afterBatch func(run *store.CareRun, batch int)
}

// New builds the service.
func New(cfg Config, o Options) (*Service, error) {
	if o.Store == nil || o.Templates == nil {
		return nil, fmt.Errorf("care: store and templates are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o.Location = cmp.Or(o.Location, time.UTC)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	o.Registry = cmp.Or(o.Registry, prometheus.NewRegistry())
	o.Holder = cmp.Or(o.Holder, store.HolderName())
	o.BatchSize = cmp.Or(o.BatchSize, 5000)
	o.Lease = cmp.Or(o.Lease, 2*time.Minute)
	o.SampleSize = cmp.Or(o.SampleSize, 20)
	q, err := parseQuiet(o.QuietHours)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, o: o, store: o.Store, quiet: q, metrics: m}, nil
}

// day is a business-calendar date.
type day struct{ y, m, d int }

func dayOf(t time.Time) day {
	y, m, d := t.Date()
	return day{y, int(m), d}
}

func (d day) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.y, d.m, d.d) }

// start is the first instant of the day in loc.
func (d day) start(loc *time.Location) time.Time {
	return time.Date(d.y, time.Month(d.m), d.d, 0, 0, 0, 0, loc)
}

// utc is the day as midnight UTC (how date columns are stored).
func (d day) utc() time.Time { return time.Date(d.y, time.Month(d.m), d.d, 0, 0, 0, 0, time.UTC) }

func (d day) add(n int) day { return dayOf(d.utc().AddDate(0, 0, n)) }

// ParseDate parses YYYY-MM-DD as a date in the business zone.
func (s *Service) ParseDate(v string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(v), s.o.Location)
	if err != nil {
		return time.Time{}, store.Invalid("date", "%q is not YYYY-MM-DD", v)
	}
	return t, nil
}

// Today is the current business date.
func (s *Service) Today() time.Time {
	return dayOf(s.store.Now().In(s.o.Location)).start(s.o.Location)
}

// hasWeChatTemplate tells whether workflow has a WeChat template message.
func (s *Service) hasWeChatTemplate(workflow string) bool {
	return s.o.HasWeChatTemplate != nil && s.o.HasWeChatTemplate(workflow)
}

// staffText picks the staff-locale variant of a task's title or detail.
func (s *Service) staffText(zh, en string) string { return render.Pick(s.o.StaffLocale, zh, en) }
