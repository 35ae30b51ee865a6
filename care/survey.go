package care

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// attachSurveys creates the survey rows of a batch's survey messages (or
// finds those an earlier attempt created) and puts their ids in the
// Telegram buttons; WeChat customers answer with a digit.
func (x *execution) attachSurveys(ctx context.Context, msgs []outbound, sendAt time.Time) error {
	var rows []store.Survey
	for _, m := range msgs {
		if m.a.survey == nil {
			continue
		}
		sv := *m.a.survey
		sv.CustomerID, sv.Key, sv.Channel, sv.ChatID, sv.IdentityID = *m.out.CustomerID, m.out.IdempotencyKey, m.out.Channel, m.out.ChatID, m.out.IdentityID
		sv.ExpiresAt = sendAt.AddDate(0, 0, x.s.cfg.Survey.AnswerDays).UTC().Truncate(time.Millisecond)
		rows = append(rows, sv)
	}
	if len(rows) == 0 {
		return nil
	}
	ids, err := x.s.store.CreateSurveys(ctx, rows)
	if err != nil {
		return err
	}
	for i := range msgs {
		m := &msgs[i]
		if len(m.buttons) == 0 {
			continue
		}
		id, ok := ids[m.out.IdempotencyKey]
		if !ok {
			return fmt.Errorf("survey %s: not created", m.out.IdempotencyKey)
		}
		row := make([]store.Button, len(m.buttons))
		for i, label := range m.buttons {
			row[i] = store.Button{Text: label, Data: fmt.Sprintf("sv:%d:%d", id, i+1)}
		}
		m.out.Extras = &store.Extras{Keyboard: [][]store.Button{row}}
	}
	return nil
}

// ReadsChatFacts tells the router (bots.FactReader) that HandleChat takes
// the customer's surveys from store.ChatEvent.Facts.
func (s *Service) ReadsChatFacts() {}

// HandleChat takes survey answers: a Telegram button ("sv:ID:N"), or from a
// customer with an open survey a bare digit 1-5, optionally followed by a
// comment; a later text within the window after a score is its comment.
// Everything else is left to other hooks.
func (s *Service) HandleChat(ctx context.Context, ev *store.ChatEvent) (bool, error) {
	if ev == nil || ev.Staff != nil || ev.Identity == nil || ev.Message == nil {
		return false, nil
	}
	if ev.CallbackData != "" {
		id, score, ok := parseCallback(ev.CallbackData)
		if !ok {
			return false, nil
		}
		sv, err := s.store.SurveyByID(ctx, id)
		if store.IsCode(err, store.ENOTFOUND) {
			return true, nil
		} else if err != nil {
			return false, err
		}
		if sv.CustomerID != ev.Identity.CustomerID {
			return true, nil // someone else's button: ignore
		}
		return true, s.answer(ctx, ev, sv, score, "")
	}
	if ev.Command != "" {
		return false, nil
	}
	text := strings.TrimSpace(ev.Message.Text)
	if text == "" {
		return false, nil
	}
	cid := ev.Identity.CustomerID
	open, commentable := s.store.OpenSurvey, s.store.CommentableSurvey
	if f := ev.Facts; f != nil { // read for the router's batch
		open = func(context.Context, int64) (*store.Survey, error) { return f.OpenSurvey(s.store.Now()), nil }
		commentable = func(context.Context, int64) (*store.Survey, error) { return f.CommentableSurvey(s.store.Now()), nil }
	}
	if score, comment, ok := parseScore(text); ok {
		sv, err := open(ctx, cid)
		if err != nil {
			return false, err
		}
		if sv != nil {
			return true, s.answer(ctx, ev, sv, score, comment)
		}
	}
	sv, err := commentable(ctx, cid)
	if err != nil || sv == nil {
		return false, err
	}
	// The comment is kept (once); the message stays in the conversation
	// either way, and other hooks (relays to staff) may still want it.
	_, err = s.store.CommentSurvey(ctx, sv.ID, text)
	return false, err
}

func (s *Service) answer(ctx context.Context, ev *store.ChatEvent, sv *store.Survey, score int, comment string) error {
	ok, err := s.store.AnswerSurvey(ctx, sv.ID, score, comment)
	if err != nil || !ok {
		return err // already answered or expired: nothing more to do
	}
	c, err := s.store.CustomerByID(ctx, sv.CustomerID)
	if err != nil {
		return err
	}
	locale := cmp.Or(c.Locale, store.LocaleZH)
	orderDate, _ := s.ParseDate(sv.OrderDate) // zero if unreadable: templates leave it out
	r, err := s.o.Templates.Render(ctx, "survey_thanks", locale, render.Data{
		Business: s.o.Business, Customer: render.CustomerOf(c),
		Survey: &render.Survey{Score: score, Comment: comment, OrderDate: orderDate},
		Extra:  map[string]string{"order_date": sv.OrderDate},
	})
	if err != nil {
		return fmt.Errorf("survey thanks: %w", err)
	}
	if _, err := s.store.Enqueue(ctx, []store.Outbound{r.ReplyTo(ev, "survey_thanks:"+strconv.FormatInt(sv.ID, 10))}); err != nil {
		return err
	}
	if score <= s.cfg.Survey.LowScore {
		detail := fmt.Sprintf(s.staffText("%[2]s 的订单满意度评分 %[1]d/5。", "Survey score %d/5 for the order of %s."), score, sv.OrderDate)
		if comment != "" {
			detail += s.staffText(" 留言：", " Comment: ") + comment
		}
		_, _, err := s.store.CreateTask(ctx, store.TaskInput{
			CustomerID: c.ID, Kind: "survey_recovery", Priority: "high",
			Title:  store.Clip(fmt.Sprintf(s.staffText("%[2]s 满意度评分 %[1]d 分", "Low survey score %d from %s"), score, displayName(c)), 120),
			Detail: detail, Source: "care:survey", DedupKey: "survey:" + strconv.FormatInt(sv.ID, 10),
			AssigneeID: c.OwnerStaffID,
		})
		if err != nil {
			return fmt.Errorf("survey recovery task: %w", err)
		}
	}
	return nil
}

// parseCallback reads "sv:ID:N".
func parseCallback(data string) (id int64, score int, ok bool) {
	parts := strings.Split(data, ":")
	if len(parts) != 3 || parts[0] != "sv" {
		return 0, 0, false
	}
	id, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || id <= 0 {
		return 0, 0, false
	}
	score, err = strconv.Atoi(parts[2])
	if err != nil || score < 1 || score > 5 {
		return 0, 0, false
	}
	return id, score, true
}

// parseScore reads a reply that starts with a digit 1-5 (ASCII or
// full-width) standing alone: "4", "4 good", "5，很好", "2分 太慢".
// "45" or "3.5" are not scores.
func parseScore(text string) (score int, comment string, ok bool) {
	r, size := utf8.DecodeRuneInString(text)
	switch {
	case r >= '1' && r <= '5':
		score = int(r - '0')
	case r >= '１' && r <= '５':
		score = int(r-'１') + 1
	default:
		return 0, "", false
	}
	rest := text[size:]
	if rest == "" {
		return score, "", true
	}
	next, n := utf8.DecodeRuneInString(rest)
	if unicode.IsDigit(next) || next == '.' {
		return 0, "", false
	}
	if next == '分' || next == '星' {
		rest = rest[n:]
	} else if !unicode.IsSpace(next) && !unicode.IsPunct(next) {
		return 0, "", false
	}
	comment = strings.TrimLeftFunc(rest, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) })
	return score, strings.TrimSpace(comment), true
}
