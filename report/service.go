package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// Options are what cmd wires into the service.
type Options struct {
	Store *store.Store
	// Location is the business time zone: the days and their edges.
	Location *time.Location
	Logger   *slog.Logger
	// Holder names this process in the refresh lease (default host:pid).
	Holder string
	// CampaignAttributionDays is campaigns.attribution_days (default 7):
	// the campaigns report attributes as a campaign's results do.
	CampaignAttributionDays int
}

// Service computes the daily figures and answers the reports.
type Service struct {
	cfg   Config
	o     Options
	store *store.Store
	loc   *time.Location
}

// New builds the service.
func New(cfg Config, o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("report: a store is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o.Location = cmp.Or(o.Location, time.UTC)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	o.CampaignAttributionDays = cmp.Or(o.CampaignAttributionDays, 7)
	if o.Holder == "" {
		host, _ := os.Hostname()
		o.Holder = store.CutRunes(host+":"+strconv.Itoa(os.Getpid()), 64)
	}
	return &Service{cfg: cfg, o: o, store: o.Store, loc: o.Location}, nil
}

// maxDays bounds a period: a year and a day.
const maxDays = 366

// Period is a run of business days, From..To inclusive, and the run of as
// many days just before it.
type Period struct {
	From, To         time.Time // midnight of the first and of the last day
	PrevFrom, PrevTo time.Time
	Days             int
}

// date is a business day's midnight as YYYY-MM-DD.
func date(t time.Time) string { return t.Format(time.DateOnly) }

// ParsePeriod reads from and to (YYYY-MM-DD, business days, inclusive);
// empty to is today, empty from is 29 days before to.
func (s *Service) ParsePeriod(from, to string) (Period, error) {
	var p Period
	today := s.day(s.store.Now())
	p.To = today
	if to = strings.TrimSpace(to); to != "" {
		t, err := time.ParseInLocation(time.DateOnly, to, s.loc)
		if err != nil {
			return p, store.Invalid("to", "%q is not a date YYYY-MM-DD", to)
		}
		p.To = t
	}
	p.From = p.To.AddDate(0, 0, -29)
	if from = strings.TrimSpace(from); from != "" {
		t, err := time.ParseInLocation(time.DateOnly, from, s.loc)
		if err != nil {
			return p, store.Invalid("from", "%q is not a date YYYY-MM-DD", from)
		}
		p.From = t
	}
	if p.To.Before(p.From) {
		return p, store.Invalid("to", "%s is before from (%s)", date(p.To), date(p.From))
	}
	p.Days = dayCount(p.From, p.To)
	if p.Days > maxDays {
		return p, store.Invalid("from", "the period is %d days; at most %d", p.Days, maxDays)
	}
	if p.From.Year() < 2000 || p.To.Year() > 2200 {
		return p, store.Invalid("from", "dates must be in 2000-2200")
	}
	p.PrevTo = p.From.AddDate(0, 0, -1)
	p.PrevFrom = p.From.AddDate(0, 0, -p.Days)
	return p, nil
}

// dayCount counts the days from..to inclusive (DST-proof: by dates).
func dayCount(from, to time.Time) int {
	n := 0
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		n++
	}
	return n
}

// day is the midnight of the business day holding t.
func (s *Service) day(t time.Time) time.Time {
	y, m, d := t.In(s.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, s.loc)
}

// window is day's span and its attribution window.
func (s *Service) window(day time.Time, now time.Time) store.DayWindow {
	end := day.AddDate(0, 0, 1)
	return store.DayWindow{From: day, To: end, Now: now, AttributionEnd: end.AddDate(0, 0, s.cfg.AttributionDays),
		CampaignDays: s.o.CampaignAttributionDays}
}

// finalAt is when a day's figures change no more: its care and campaign
// attribution windows are over (a campaign message queued in the day may
// be sent the next morning, after the quiet hours).
func (s *Service) finalAt(w store.DayWindow) time.Time {
	c := w.To.AddDate(0, 0, 1+w.CampaignDays)
	if c.After(w.AttributionEnd) {
		return c
	}
	return w.AttributionEnd
}

// Refresh computes one business day's figures now and stores them.
func (s *Service) Refresh(ctx context.Context, day time.Time) error {
	day = s.day(day)
	now := s.store.Now()
	w := s.window(day, now)
	fs, err := s.store.DayFigures(ctx, date(day), w)
	if err != nil {
		return err
	}
	return s.store.ReplaceDailyFigures(ctx, date(day), fs, now, !now.Before(s.finalAt(w)))
}

// RefreshToday recomputes today's figures now (POST /reports/refresh).
func (s *Service) RefreshToday(ctx context.Context) (string, error) {
	today := s.day(s.store.Now())
	return date(today), s.Refresh(ctx, today)
}

// ensure computes the days from..to (up to today) that were never
// computed, and returns when the oldest of those days was computed.
func (s *Service) ensure(ctx context.Context, from, to time.Time) (time.Time, error) {
	today := s.day(s.store.Now())
	if to.After(today) {
		to = today
	}
	if from.After(to) {
		return s.store.Now(), nil
	}
	have, err := s.store.ReportDays(ctx, date(from), date(to))
	if err != nil {
		return time.Time{}, err
	}
	oldest := s.store.Now()
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		rd, ok := have[date(d)]
		if ok {
			// A day computed before it ended is as fresh as then.
			if !rd.Final && rd.ComputedAt.Before(oldest) {
				oldest = rd.ComputedAt
			}
			continue
		}
		if err := s.Refresh(ctx, d); err != nil {
			return time.Time{}, err
		}
	}
	return oldest, nil
}

// Nightly brings the figures up to date after the day before now ended:
// every day not final in the attribution window is recomputed, and days
// never computed are filled in back to backfill_days (not before the
// first customer). The analytics nightly job calls it when its run is
// done, so the stages it counts are the night's.
func (s *Service) Nightly(ctx context.Context, now time.Time) (int, error) {
	today := s.day(now)
	// Every replica's nightly job calls this; one does the work.
	ok, err := s.store.AcquireLease(ctx, "reports:nightly:"+date(today), s.o.Holder, 6*time.Hour)
	if err != nil || !ok {
		return 0, err
	}
	first, err := s.store.FirstActivity(ctx)
	if err != nil {
		return 0, err
	}
	if first.IsZero() {
		return 0, nil
	}
	from := today.AddDate(0, 0, -s.cfg.BackfillDays)
	if f := s.day(first); f.After(from) {
		from = f
	}
	have, err := s.store.ReportDays(ctx, date(from), date(today))
	if err != nil {
		return 0, err
	}
	n := 0
	for d := today; !d.Before(from); d = d.AddDate(0, 0, -1) {
		if rd, ok := have[date(d)]; ok && rd.Final {
			continue
		}
		if err := s.Refresh(ctx, d); err != nil {
			return n, fmt.Errorf("report figures of %s: %w", date(d), err)
		}
		n++
	}
	return n, nil
}

// Schedule recomputes today's figures every reports.refresh, and a day
// computed before it ended once it has, until ctx ends. Every replica
// runs it; one at a time does the work (a lease).
//
// The first refresh waits a minute (at most reports.refresh): a report
// asked for meanwhile computes a missing day itself, and a process that
// starts and stops at once (a migration, a test) never begins one — a
// statement cancelled mid-way by shutdown is what SQLite's driver handles
// worst.
func (s *Service) Schedule(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.Refresh)
	defer tick.Stop()
	first := time.NewTimer(min(s.cfg.Refresh, time.Minute))
	defer first.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-first.C:
	}
	for {
		if err := s.tick(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("reports: refreshing today's figures", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (s *Service) tick(ctx context.Context) error {
	ok, err := s.store.AcquireLease(ctx, "reports:refresh", s.o.Holder, s.cfg.Refresh+time.Minute)
	if err != nil || !ok {
		return err
	}
	now := s.store.Now()
	today := s.day(now)
	yesterday := today.AddDate(0, 0, -1)
	have, err := s.store.ReportDays(ctx, date(yesterday), date(yesterday))
	if err != nil {
		return err
	}
	if rd, ok := have[date(yesterday)]; ok && rd.ComputedAt.Before(today) {
		if err := s.Refresh(ctx, yesterday); err != nil {
			return err
		}
	}
	return s.Refresh(ctx, today)
}
