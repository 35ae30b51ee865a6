package store

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"time"
)

// CampaignResults is what a campaign did. Replies, orders and opt-outs
// are attributed to a sent message when they come after it and within
// the attribution window (sent_at < t <= sent_at + days).
type CampaignResults struct {
	// Queued is every message written; Pending those not yet sent.
	Queued  int            `json:"queued"`
	Pending int            `json:"pending"`
	Sent    int            `json:"sent"`
	Failed  int            `json:"failed"`
	Skipped map[string]int `json:"skipped"`
	// Replies: sent messages answered within the window.
	Replies int `json:"replies"`
	// Orders and Revenue within the window; Converted the sent messages
	// followed by at least one order, Conversion Converted/Sent.
	Orders     int     `json:"orders"`
	Revenue    Money   `json:"revenue"`
	Converted  int     `json:"converted"`
	Conversion float64 `json:"conversion"`
	OptOuts    int     `json:"opt_outs"`
	// WindowDays is the attribution window.
	WindowDays int                       `json:"window_days"`
	ByChannel  map[string]*ChannelResult `json:"by_channel"`
	ByDay      []*DayResult              `json:"by_day"`
}

// ChannelResult is a campaign's results on one channel.
type ChannelResult struct {
	Queued  int   `json:"queued"`
	Sent    int   `json:"sent"`
	Failed  int   `json:"failed"`
	Replies int   `json:"replies"`
	Orders  int   `json:"orders"`
	Revenue Money `json:"revenue"`
}

// DayResult is a campaign's results by the business day of sending.
type DayResult struct {
	Date    string `json:"date"`
	Sent    int    `json:"sent"`
	Replies int    `json:"replies"`
	Orders  int    `json:"orders"`
	Revenue Money  `json:"revenue"`
}

// campaignResultsBatch is how many sent messages one attribution step
// reads: the work is bounded per step whatever the campaign's size.
const campaignResultsBatch = 1000

// CampaignResultsOf computes a campaign's results over the outbox, the
// inbound messages, orders and opt-outs: the campaign's messages by their
// idempotency keys (an index range), the rest by customer (indexed).
// skipped are the runs' skips (opted out, cap...), added to the outbox's.
func (s *Store) CampaignResultsOf(ctx context.Context, id int64, days int, loc *time.Location, skipped map[string]int) (*CampaignResults, error) {
	keys, kargs := s.campaignKeys(id)
	return s.campaignResults(ctx, keys, kargs, days, loc, skipped)
}

// CampaignResultsCreated is CampaignResultsOf over the campaign's messages
// created in [from, to) only (a day's share, for the reports), without the
// runs' skips.
func (s *Store) CampaignResultsCreated(ctx context.Context, id int64, from, to time.Time, days int, loc *time.Location) (*CampaignResults, error) {
	keys, kargs := s.campaignKeys(id)
	return s.campaignResults(ctx, "("+keys+") AND created_at >= ? AND created_at < ?", append(kargs, from.UTC(), to.UTC()), days, loc, nil)
}

// campaignResults computes the results of the messages keys selects.
func (s *Store) campaignResults(ctx context.Context, keys string, kargs []any, days int, loc *time.Location, skipped map[string]int) (*CampaignResults, error) {
	if loc == nil {
		loc = time.UTC
	}
	res := &CampaignResults{Skipped: map[string]int{}, ByChannel: map[string]*ChannelResult{}, WindowDays: days}
	maps.Copy(res.Skipped, skipped)
	db := s.db.WithContext(ctx)
	var counts []struct {
		Status, Channel, Reason string
		N                       int
	}
	args := append(append([]any{StatusSkipped}, kargs...), StatusSkipped)
	if err := db.Raw(`SELECT status, channel, CASE WHEN status = ? THEN reason ELSE '' END AS reason, COUNT(*) AS n FROM messages
		WHERE `+keys+` GROUP BY status, channel, CASE WHEN status = ? THEN reason ELSE '' END`, args...).Scan(&counts).Error; err != nil {
		return nil, fmt.Errorf("campaign results: %w", err)
	}
	ch := func(c string) *ChannelResult {
		if res.ByChannel[c] == nil {
			res.ByChannel[c] = &ChannelResult{}
		}
		return res.ByChannel[c]
	}
	for _, c := range counts {
		res.Queued += c.N
		cr := ch(c.Channel)
		cr.Queued += c.N
		switch c.Status {
		case StatusSent:
			res.Sent += c.N
			cr.Sent += c.N
		case StatusFailed:
			res.Failed += c.N
			cr.Failed += c.N
		case StatusSkipped:
			res.Skipped[cmpReason(c.Reason)] += c.N
		default:
			res.Pending += c.N
		}
	}
	window := time.Duration(days) * 24 * time.Hour
	byDay := map[string]*DayResult{}
	after := ""
	for {
		var sent []struct {
			IdempotencyKey string
			CustomerID     int64
			Channel        string
			SentAt         time.Time
		}
		if err := db.Model(&Message{}).Select("idempotency_key, customer_id, channel, sent_at").
			Where(keys, kargs...).Where("idempotency_key > ? AND status = ?", after, StatusSent).
			Order("idempotency_key").Limit(campaignResultsBatch).Scan(&sent).Error; err != nil {
			return nil, fmt.Errorf("campaign results: %w", err)
		}
		if len(sent) == 0 {
			break
		}
		after = sent[len(sent)-1].IdempotencyKey
		ids := make([]int64, 0, len(sent))
		first, last := sent[0].SentAt, sent[0].SentAt
		for _, m := range sent {
			ids = append(ids, m.CustomerID)
			first, last = minTime(first, m.SentAt), maxTime(last, m.SentAt)
		}
		var ins []struct {
			CustomerID int64
			CreatedAt  time.Time
		}
		if err := db.Model(&Message{}).Select("customer_id, created_at").
			Where("customer_id IN ? AND direction = ? AND created_at > ? AND created_at <= ?", ids, DirectionIn, first, last.Add(window)).
			Scan(&ins).Error; err != nil {
			return nil, fmt.Errorf("campaign results: %w", err)
		}
		var orders []struct {
			CustomerID int64
			OccurredAt time.Time
			AmountFen  int64
		}
		if err := db.Model(&Order{}).Select("customer_id, occurred_at, amount_fen").
			Where("customer_id IN ? AND occurred_at > ? AND occurred_at <= ?", ids, first, last.Add(window)).
			Scan(&orders).Error; err != nil {
			return nil, fmt.Errorf("campaign results: %w", err)
		}
		var outs []struct {
			ID       int64
			OptOutAt *time.Time
		}
		if err := db.Model(&Customer{}).Select("id, opt_out_at").
			Where("id IN ? AND opt_out = ? AND opt_out_at > ?", ids, true, first).Scan(&outs).Error; err != nil {
			return nil, fmt.Errorf("campaign results: %w", err)
		}
		inBy := map[int64][]time.Time{}
		for _, m := range ins {
			inBy[m.CustomerID] = append(inBy[m.CustomerID], m.CreatedAt)
		}
		type ord struct {
			at  time.Time
			fen int64
		}
		ordBy := map[int64][]ord{}
		for _, o := range orders {
			ordBy[o.CustomerID] = append(ordBy[o.CustomerID], ord{o.OccurredAt, o.AmountFen})
		}
		outBy := map[int64]time.Time{}
		for _, o := range outs {
			if o.OptOutAt != nil {
				outBy[o.ID] = *o.OptOutAt
			}
		}
		within := func(sentAt, t time.Time) bool { return t.After(sentAt) && !t.After(sentAt.Add(window)) }
		for _, m := range sent {
			day := m.SentAt.In(loc).Format("2006-01-02")
			dr := byDay[day]
			if dr == nil {
				dr = &DayResult{Date: day}
				byDay[day] = dr
			}
			dr.Sent++
			cr := ch(m.Channel)
			for _, t := range inBy[m.CustomerID] {
				if within(m.SentAt, t) {
					res.Replies++
					cr.Replies++
					dr.Replies++
					break
				}
			}
			converted := false
			for _, o := range ordBy[m.CustomerID] {
				if !within(m.SentAt, o.at) {
					continue
				}
				if o.fen > 0 {
					res.Orders++
					cr.Orders++
					dr.Orders++
					converted = true
				}
				res.Revenue = Fen(res.Revenue.Fen() + o.fen)
				cr.Revenue = Fen(cr.Revenue.Fen() + o.fen)
				dr.Revenue = Fen(dr.Revenue.Fen() + o.fen)
			}
			if converted {
				res.Converted++
			}
			if t, ok := outBy[m.CustomerID]; ok && within(m.SentAt, t) {
				res.OptOuts++
			}
		}
		if len(sent) < campaignResultsBatch {
			break
		}
	}
	if res.Sent > 0 {
		res.Conversion = float64(res.Converted) / float64(res.Sent)
	}
	res.ByDay = make([]*DayResult, 0, len(byDay))
	for _, d := range byDay {
		res.ByDay = append(res.ByDay, d)
	}
	sort.Slice(res.ByDay, func(i, j int) bool { return res.ByDay[i].Date < res.ByDay[j].Date })
	return res, nil
}

func cmpReason(r string) string {
	if r == "" {
		return "skipped"
	}
	return r
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
