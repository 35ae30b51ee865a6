package points

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/rapport-crm/rapport/store"
)

// Options are what the service needs besides its config.
type Options struct {
	Store *store.Store
	// Location is the business time zone: years end, birthdays happen
	// and the daily job runs in it.
	Location *time.Location
	Logger   *slog.Logger
	// Now is the clock (tests: storetest.Clock.Now).
	Now func() time.Time
}

// Service applies the points rules over time: the year-end expiry and the
// birthday bonus, daily.
type Service struct {
	cfg Config
	o   Options
}

// New builds the service.
func New(cfg Config, o Options) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o.Location = cmp.Or(o.Location, time.UTC)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{cfg: cfg, o: o}, nil
}

// Rules are the store's earning rules (cmd sets them with OnPoints).
func (s *Service) Rules() store.PointsRules { return Rules(s.cfg, s.o.Location) }

// DailyResult is what Daily did.
type DailyResult struct {
	Expiry    store.ExpiryResult `json:"expiry"`
	Birthdays int                `json:"birthdays"`
}

// Daily is the day's points work for the business date of day: the
// expiry whose instant is the latest at or before the end of that day
// (under end_of_next_year, the start of its year: a run any day of the
// year applies the last year-end, once), and the birthday bonus of those
// born that day. The cron job, `rapport points expire --date` and tests
// call it; every replica may, at once: each block and bonus applies once.
func (s *Service) Daily(ctx context.Context, day time.Time) (DailyResult, error) {
	var res DailyResult
	d := day.In(s.o.Location)
	if s.cfg.Expire == ExpireEndOfNextYear {
		end := time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, s.o.Location)
		// Never ahead of now: a date given in advance expires nothing early.
		last := end.Add(-time.Nanosecond)
		if now := s.o.Now(); now.Before(last) {
			last = now
		}
		at := Boundary(last, s.o.Location)
		r, err := s.o.Store.ExpirePoints(ctx, at)
		if err != nil {
			return res, err
		}
		res.Expiry = r
	}
	if s.cfg.BirthdayBonus > 0 {
		var after int64
		for {
			last, n, err := s.o.Store.BirthdayBonuses(ctx, int(d.Month()), d.Day(), d.Year(), after, 1000)
			if err != nil {
				return res, err
			}
			res.Birthdays += n
			if last == 0 {
				break
			}
			after = last
		}
	}
	return res, nil
}

// NoticeFor is, for the start of a business day, the expiry instant whose
// reminder is due that day: expiry_notice_days before it (care's
// points_expiry workflow asks).
func (s *Service) NoticeFor(day time.Time) (time.Time, bool) {
	if s.cfg.Expire != ExpireEndOfNextYear || s.cfg.ExpiryNoticeDays == 0 {
		return time.Time{}, false
	}
	d := day.In(s.o.Location)
	next := time.Date(d.Year()+1, 1, 1, 0, 0, 0, 0, s.o.Location)
	notice := next.AddDate(0, 0, -s.cfg.ExpiryNoticeDays)
	if notice.Year() == d.Year() && notice.YearDay() == d.YearDay() {
		return next.UTC(), true
	}
	return time.Time{}, false
}

// dailySpec runs the day's work a minute past midnight, business time:
// the year-end expiry applies in the first minute of the year.
const dailySpec = "1 0 * * *"

// Schedule runs Daily every day until ctx ends, and once at start (a
// replica down at midnight catches up; done work is skipped).
func (s *Service) Schedule(ctx context.Context) error {
	run := func() {
		if r, err := s.Daily(ctx, s.o.Now()); err != nil && ctx.Err() == nil {
			s.o.Logger.Error("points: daily run failed", "err", err)
		} else if r.Expiry.Customers > 0 || r.Birthdays > 0 {
			s.o.Logger.Info("points: daily run", "expired_customers", r.Expiry.Customers, "expired_points", r.Expiry.Points, "birthday_bonuses", r.Birthdays)
		}
	}
	c := cron.New(cron.WithLocation(s.o.Location))
	if _, err := c.AddFunc(dailySpec, run); err != nil {
		return err
	}
	c.Start()
	// The catch-up (a midnight missed while down) waits a minute: a
	// process that starts and stops at once never begins one mid-way.
	catchUp := time.NewTimer(time.Minute)
	defer catchUp.Stop()
	select {
	case <-ctx.Done():
	case <-catchUp.C:
		run()
		<-ctx.Done()
	}
	<-c.Stop().Done()
	return nil
}
