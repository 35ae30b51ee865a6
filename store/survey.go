package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Survey is one satisfaction survey sent to a customer, and its answer.
// Key is the care idempotency key of the survey message, so a re-planned
// run finds the survey it already created instead of making another.
type Survey struct {
	ID         int64  `gorm:"primaryKey" json:"id"`
	CustomerID int64  `gorm:"not null;index:ix_surveys_customer,priority:1" json:"customer_id"`
	Key        string `gorm:"column:survey_key;size:191;not null;uniqueIndex" json:"-"`
	Channel    string `gorm:"size:16;not null" json:"channel"`
	ChatID     string `gorm:"size:128;not null;default:''" json:"-"`
	IdentityID *int64 `json:"-"`
	OrderDate  string `gorm:"size:10;not null;default:''" json:"order_date"`
	// ExpiresAt ends the answer window (3 days after sending).
	ExpiresAt  time.Time  `gorm:"not null" json:"expires_at"`
	Score      *int       `json:"score"`
	Comment    string     `gorm:"type:text" json:"comment"`
	AnsweredAt *time.Time `gorm:"index" json:"answered_at,omitempty"`
	CreatedAt  time.Time  `gorm:"index:ix_surveys_customer,priority:2" json:"created_at"`
}

// CreateSurveys inserts surveys whose Key is new and returns the id of
// every given key (new or existing).
func (s *Store) CreateSurveys(ctx context.Context, ss []Survey) (map[string]int64, error) {
	out := map[string]int64{}
	if len(ss) == 0 {
		return out, nil
	}
	now := s.Now().Truncate(time.Millisecond)
	keys := make([]string, len(ss))
	for i := range ss {
		ss[i].ID = 0
		ss[i].CreatedAt = now
		keys[i] = ss[i].Key
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&ss).Error; err != nil {
			return err
		}
		// Batch-insert ids are unreliable with ignored duplicates: re-read.
		var rows []Survey
		if err := tx.Select("id", "survey_key").Where("survey_key IN ?", keys).Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			out[r.Key] = r.ID
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create surveys: %w", err)
	}
	return out, nil
}

// SurveyByID loads one survey.
func (s *Store) SurveyByID(ctx context.Context, id int64) (*Survey, error) {
	return byID[Survey](ctx, s, "survey", id)
}

// OpenSurvey is the customer's newest survey that is unanswered and still
// in its answer window, or nil.
func (s *Store) OpenSurvey(ctx context.Context, customerID int64) (*Survey, error) {
	return s.latestSurvey(ctx, "customer_id = ? AND score IS NULL AND expires_at > ?", customerID, s.Now())
}

// CommentableSurvey is the customer's newest answered survey without a
// comment, still in its window, or nil: the next text is its comment.
func (s *Store) CommentableSurvey(ctx context.Context, customerID int64) (*Survey, error) {
	return s.latestSurvey(ctx, "customer_id = ? AND score IS NOT NULL AND (comment = '' OR comment IS NULL) AND expires_at > ?", customerID, s.Now())
}

func (s *Store) latestSurvey(ctx context.Context, where string, args ...any) (*Survey, error) {
	var sv Survey
	err := s.db.WithContext(ctx).Where(where, args...).Order("created_at DESC, id DESC").Take(&sv).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("survey: %w", err)
	}
	return &sv, nil
}

// AnswerSurvey records a score (1-5) and optional comment on an open
// survey. It reports false when the survey was already answered or its
// window has closed; the first answer wins. The answer is the customer's
// last score in their figures, at once.
func (s *Store) AnswerSurvey(ctx context.Context, id int64, score int, comment string) (bool, error) {
	if score < 1 || score > 5 {
		return false, Invalid("score", "must be 1-5")
	}
	now := s.Now().Truncate(time.Millisecond)
	compute := s.figureCompute(ctx)
	var customerID int64
	err := s.tx(ctx, func(tx *gorm.DB) error {
		customerID = 0
		res := tx.Model(&Survey{}).Where("id = ? AND score IS NULL AND expires_at > ?", id, now).
			Updates(map[string]any{"score": score, "comment": CutRunes(strings.TrimSpace(comment), 2000), "answered_at": now})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		var sv Survey
		if err := tx.Select("customer_id").Take(&sv, id).Error; err != nil {
			return err
		}
		customerID = sv.CustomerID
		if err := s.surveyBonus(tx, customerID, id, now); err != nil {
			return err
		}
		if compute == nil {
			if err := noteStats(tx, customerID, map[string]any{"last_score": score, "last_score_at": now}); err != nil {
				return err
			}
			return touchCustomers(tx, now, customerID)
		}
		// The customer and their stats row are locked first, as an
		// order's transaction locks them, then the score goes in.
		l, err := s.lockFigureRow(tx, customerID)
		if err != nil {
			return err
		}
		if err := noteStats(tx, customerID, map[string]any{"last_score": score, "last_score_at": now}); err != nil {
			return err
		}
		if l.r.Stats == nil {
			l.r.Stats = &CustomerStats{CustomerID: customerID, TierComputed: TierC, StageComputed: StagePotential, FiguresAt: unset()}
		}
		l.r.Stats.LastScore, l.r.Stats.LastScoreAt = &score, &now
		_, err = s.refreshLocked(tx, l, compute, now, nil)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("answer survey: %w", err)
	}
	return customerID != 0, nil
}

// CommentSurvey keeps a comment sent after the score, once, within the
// window.
func (s *Store) CommentSurvey(ctx context.Context, id int64, comment string) (bool, error) {
	comment = CutRunes(strings.TrimSpace(comment), 2000)
	if comment == "" {
		return false, nil
	}
	res := s.db.WithContext(ctx).Model(&Survey{}).
		Where("id = ? AND score IS NOT NULL AND (comment = '' OR comment IS NULL) AND expires_at > ?", id, s.Now()).
		Update("comment", comment)
	if res.Error != nil {
		return false, fmt.Errorf("comment survey: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SurveyFilter narrows survey responses: answered in [From, To), on a
// channel, of a customer.
type SurveyFilter struct {
	From, To   time.Time
	Channel    string
	CustomerID int64
	// Viewer, when set, limits the answers to customers they may see
	// (access.go).
	Viewer *Actor
	Page
}

// SurveyResponse is one answer, as GET /surveys/responses lists it.
type SurveyResponse struct {
	ID         int64     `json:"id"`
	CustomerID int64     `json:"customer_id"`
	Channel    string    `json:"channel"`
	Score      int       `json:"score"`
	Comment    string    `json:"comment"`
	CreatedAt  time.Time `json:"created_at"` // when answered
}

// surveyAnswers is the answered surveys matching f (paging aside), scoped
// to what f.Viewer may see.
func (s *Store) surveyAnswers(ctx context.Context, f SurveyFilter) *gorm.DB {
	q := s.db.WithContext(ctx).Model(&Survey{}).Where("score IS NOT NULL")
	if !f.From.IsZero() {
		q = q.Where("answered_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("answered_at < ?", f.To.UTC())
	}
	if f.Channel != "" {
		q = q.Where("channel = ?", f.Channel)
	}
	if f.CustomerID != 0 {
		q = q.Where("customer_id = ?", f.CustomerID)
	}
	if f.Viewer != nil {
		q = s.scopeCustomers(q, *f.Viewer, "customer_id")
	}
	return q
}

// ListSurveyResponses returns answered surveys, newest id first.
func (s *Store) ListSurveyResponses(ctx context.Context, f SurveyFilter) ([]SurveyResponse, string, error) {
	limit, before, err := f.Page.parse()
	if err != nil {
		return nil, "", err
	}
	q := s.surveyAnswers(ctx, f)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	rows, next, err := pageOf(q.Order("id DESC"), limit, func(r Survey) int64 { return r.ID })
	if err != nil {
		return nil, "", fmt.Errorf("survey responses: %w", err)
	}
	out := make([]SurveyResponse, len(rows))
	for i, r := range rows {
		out[i] = SurveyResponse{ID: r.ID, CustomerID: r.CustomerID, Channel: r.Channel, Score: deref(r.Score), Comment: r.Comment, CreatedAt: deref(r.AnsweredAt)}
	}
	return out, next, nil
}

// Tally is the answers of one group: counts per score (index 1-5) and CSAT,
// the share of 4s and 5s.
type Tally struct {
	Responses int            `json:"responses"`
	CSAT      float64        `json:"csat"`
	Scores    [6]int         `json:"-"`
	ByScore   map[string]int `json:"scores"`
}

func (t *Tally) add(score int) {
	if score >= 1 && score <= 5 {
		t.Scores[score]++
		t.Responses++
	}
}

func (t *Tally) finish() {
	t.ByScore = map[string]int{}
	for i := 1; i <= 5; i++ {
		t.ByScore[string(rune('0'+i))] = t.Scores[i]
	}
	if t.Responses > 0 {
		t.CSAT = float64(t.Scores[4]+t.Scores[5]) / float64(t.Responses)
	}
}

// PeriodTally is one period of one channel.
type PeriodTally struct {
	Period  string `json:"period"` // first day of the period, YYYY-MM-DD
	Channel string `json:"channel"`
	Tally
}

// SurveySummary is CSAT and score counts overall, per channel and per
// period.
type SurveySummary struct {
	From     string           `json:"from,omitempty"`
	To       string           `json:"to,omitempty"`
	Period   string           `json:"period"`
	Total    Tally            `json:"total"`
	Channels map[string]Tally `json:"channels"`
	Periods  []PeriodTally    `json:"periods"`
}

// SummarizeSurveys aggregates the answers f selects (paging aside; the
// viewer's rule applies as for ListSurveyResponses), grouped by period
// (day, week or month; default day) in the business zone loc. It reads
// the answers in batches, so a long period stays small in memory.
func (s *Store) SummarizeSurveys(ctx context.Context, f SurveyFilter, period string, loc *time.Location) (*SurveySummary, error) {
	switch period {
	case "":
		period = "day"
	case "day", "week", "month":
	default:
		return nil, Invalid("period", "%q is not day, week or month", period)
	}
	if f.Channel != "" && !ValidChannel(f.Channel) {
		return nil, Invalid("channel", "%q is not telegram, wechat or webchat", f.Channel)
	}
	sum := &SurveySummary{Period: period, Channels: map[string]Tally{}, Periods: []PeriodTally{}}
	if !f.From.IsZero() {
		sum.From = f.From.In(loc).Format(time.DateOnly)
	}
	if !f.To.IsZero() {
		sum.To = f.To.In(loc).Format(time.DateOnly)
	}
	type key struct{ period, channel string }
	periods := map[key]*Tally{}
	channels := map[string]*Tally{}
	var after int64
	for {
		var rows []Survey
		err := s.surveyAnswers(ctx, f).Select("id", "channel", "score", "answered_at").
			Where("id > ?", after).Order("id").Limit(1000).Find(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("survey summary: %w", err)
		}
		for _, r := range rows {
			score := deref(r.Score)
			sum.Total.add(score)
			if channels[r.Channel] == nil {
				channels[r.Channel] = &Tally{}
			}
			channels[r.Channel].add(score)
			k := key{periodStart(deref(r.AnsweredAt).In(loc), period), r.Channel}
			if periods[k] == nil {
				periods[k] = &Tally{}
			}
			periods[k].add(score)
		}
		if len(rows) < 1000 {
			break
		}
		after = rows[len(rows)-1].ID
	}
	sum.Total.finish()
	for ch, t := range channels {
		t.finish()
		sum.Channels[ch] = *t
	}
	for k, t := range periods {
		t.finish()
		sum.Periods = append(sum.Periods, PeriodTally{Period: k.period, Channel: k.channel, Tally: *t})
	}
	slices.SortFunc(sum.Periods, func(a, b PeriodTally) int {
		return cmp.Or(strings.Compare(a.Period, b.Period), strings.Compare(a.Channel, b.Channel))
	})
	return sum, nil
}

// periodStart is the first day (YYYY-MM-DD) of the day, ISO week (from
// Monday) or month of t.
func periodStart(t time.Time, period string) string {
	y, m, d := t.Date()
	switch period {
	case "month":
		d = 1
	case "week":
		d -= (int(t.Weekday()) + 6) % 7
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}
