package care

import (
	"context"
	"sort"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// SummaryQuery selects survey answers for a summary: answered in
// [From, To), optionally on one channel, grouped by Period (day, week or
// month; default day) in the business zone.
type SummaryQuery struct {
	From, To time.Time
	Channel  string
	Period   string
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

// Summary is CSAT and score counts overall, per channel and per period.
type Summary struct {
	From     string           `json:"from,omitempty"`
	To       string           `json:"to,omitempty"`
	Period   string           `json:"period"`
	Total    Tally            `json:"total"`
	Channels map[string]Tally `json:"channels"`
	Periods  []PeriodTally    `json:"periods"`
}

// SurveySummary aggregates survey answers.
func (s *Service) SurveySummary(ctx context.Context, q SummaryQuery) (*Summary, error) {
	switch q.Period {
	case "":
		q.Period = "day"
	case "day", "week", "month":
	default:
		return nil, store.Invalid("period", "%q is not day, week or month", q.Period)
	}
	if q.Channel != "" && !store.ValidChannel(q.Channel) {
		return nil, store.Invalid("channel", "%q is not telegram, wechat or webchat", q.Channel)
	}
	loc := s.o.Location
	sum := &Summary{Period: q.Period, Channels: map[string]Tally{}}
	if !q.From.IsZero() {
		sum.From = q.From.In(loc).Format("2006-01-02")
	}
	if !q.To.IsZero() {
		sum.To = q.To.In(loc).Format("2006-01-02")
	}
	type key struct{ period, channel string }
	periods := map[key]*Tally{}
	channels := map[string]*Tally{}
	err := s.store.EachSurveyAnswer(ctx, store.SurveyFilter{From: q.From, To: q.To, Channel: q.Channel}, func(a store.SurveyAnswer) {
		sum.Total.add(a.Score)
		if channels[a.Channel] == nil {
			channels[a.Channel] = &Tally{}
		}
		channels[a.Channel].add(a.Score)
		k := key{periodStart(a.AnsweredAt.In(loc), q.Period), a.Channel}
		if periods[k] == nil {
			periods[k] = &Tally{}
		}
		periods[k].add(a.Score)
	})
	if err != nil {
		return nil, err
	}
	sum.Total.finish()
	for ch, t := range channels {
		t.finish()
		sum.Channels[ch] = *t
	}
	sum.Periods = []PeriodTally{}
	for k, t := range periods {
		t.finish()
		sum.Periods = append(sum.Periods, PeriodTally{Period: k.period, Channel: k.channel, Tally: *t})
	}
	sort.Slice(sum.Periods, func(i, j int) bool {
		a, b := sum.Periods[i], sum.Periods[j]
		return a.Period < b.Period || (a.Period == b.Period && a.Channel < b.Channel)
	})
	return sum, nil
}

func periodStart(t time.Time, period string) string {
	y, m, d := t.Date()
	switch period {
	case "month":
		d = 1
	case "week": // ISO weeks start on Monday
		wd := (int(t.Weekday()) + 6) % 7
		return time.Date(y, m, d-wd, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
}

// SurveySummaryJSON is SurveySummary for the API (web takes it through an
// interface without importing care).
func (s *Service) SurveySummaryJSON(ctx context.Context, from, to time.Time, channel, period string) (any, error) {
	return s.SurveySummary(ctx, SummaryQuery{From: from, To: to, Channel: channel, Period: period})
}
