package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// ChatFacts are what the chat hooks look up about a customer for every
// message they write: an open complaint or recovery task (follow-up relays
// the message to its assignee) and the surveys waiting for an answer or a
// comment (care). The router reads them for a batch of messages in two
// statements (ChatFactsOf) instead of two per message, just before it
// processes the batch; see bots.Router for when a message gets them.
type ChatFacts struct {
	// OpenComplaint is what OpenComplaintTask returns.
	OpenComplaint *Task
	// surveys are the customer's surveys that were unanswered or
	// answered without a comment, and not expired, when read; newest
	// first.
	surveys []*Survey
}

// OpenSurvey is what Store.OpenSurvey returns, as of now: the newest
// unanswered survey still in its window.
func (f *ChatFacts) OpenSurvey(now time.Time) *Survey {
	return f.firstSurvey(now, func(sv *Survey) bool { return sv.Score == nil })
}

// CommentableSurvey is what Store.CommentableSurvey returns, as of now.
func (f *ChatFacts) CommentableSurvey(now time.Time) *Survey {
	return f.firstSurvey(now, func(sv *Survey) bool { return sv.Score != nil && sv.Comment == "" })
}

func (f *ChatFacts) firstSurvey(now time.Time, match func(*Survey) bool) *Survey {
	for _, sv := range f.surveys {
		if sv.ExpiresAt.After(now) && match(sv) {
			c := *sv
			return &c
		}
	}
	return nil
}

// ChatFactsOf reads the chat facts of the customers: one statement for
// all of them, which finds nothing for almost every customer, and the
// rows it found in full. Every customer asked for gets facts (empty when
// nothing is open).
func (s *Store) ChatFactsOf(ctx context.Context, customerIDs []int64) (map[int64]*ChatFacts, error) {
	out := make(map[int64]*ChatFacts, len(customerIDs))
	if len(customerIDs) == 0 {
		return out, nil
	}
	for _, id := range customerIDs {
		out[id] = &ChatFacts{}
	}
	db := s.db.WithContext(ctx)
	complaints := []string{TaskComplaint, TaskSurveyRecovery}
	rows, err := db.Raw("SELECT 0, id FROM tasks WHERE customer_id IN ? AND status = ? AND kind IN ? "+
		"UNION ALL SELECT 1, id FROM surveys WHERE customer_id IN ? AND expires_at > ? AND (score IS NULL OR comment = '' OR comment IS NULL)",
		customerIDs, TaskOpen, complaints, customerIDs, s.Now()).Rows()
	if err != nil {
		return nil, fmt.Errorf("chat facts: %w", err)
	}
	var taskIDs, surveyIDs []int64
	for rows.Next() {
		var kind, id int64
		if err := rows.Scan(&kind, &id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("chat facts: %w", err)
		}
		if kind == 0 {
			taskIDs = append(taskIDs, id)
		} else {
			surveyIDs = append(surveyIDs, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("chat facts: %w", err)
	}
	if len(taskIDs) > 0 {
		var tasks []*Task
		if err := db.Where("id IN ?", taskIDs).Order("id DESC").Find(&tasks).Error; err != nil {
			return nil, fmt.Errorf("chat facts: %w", err)
		}
		for _, t := range tasks {
			// Read again: a task closed in between is not open.
			if f := out[t.CustomerID]; f != nil && f.OpenComplaint == nil && t.Status == TaskOpen && slices.Contains(complaints, t.Kind) {
				f.OpenComplaint = t // the newest: rows come by id, descending
			}
		}
	}
	if len(surveyIDs) > 0 {
		var surveys []*Survey
		if err := db.Where("id IN ?", surveyIDs).Order("created_at DESC, id DESC").Find(&surveys).Error; err != nil {
			return nil, fmt.Errorf("chat facts: %w", err)
		}
		for _, sv := range surveys {
			if f := out[sv.CustomerID]; f != nil {
				f.surveys = append(f.surveys, sv) // OpenSurvey and CommentableSurvey check them as they are
			}
		}
	}
	return out, nil
}
