package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// TestChatFactsOf: what the router reads for a batch is what the hooks
// would have read one by one (OpenComplaintTask, OpenSurvey,
// CommentableSurvey), for customers in every state at once.
func TestChatFactsOf(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		// Whole milliseconds: TiDB rounds a DATETIME(3) where MariaDB
		// truncates, and the expiry is compared with this instant below.
		hour := s.Now().Add(time.Hour).Truncate(time.Millisecond)
		tasks := func(c *store.Customer, kinds ...string) {
			for _, k := range kinds {
				closed := k[0] == '-'
				if closed {
					k = k[1:]
				}
				tk, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: k, Title: k})
				if err != nil {
					t.Fatal(err)
				}
				if closed {
					if _, err := s.UpdateTask(ctx, tk.ID, store.TaskUpdate{Status: ptr(store.TaskDone)}, store.SystemActor()); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		// surveys: "open", "expired", "scored" (no comment), "commented".
		surveys := func(c *store.Customer, states ...string) {
			for i, st := range states {
				sv := store.Survey{CustomerID: c.ID, Key: c.Name + st + string(rune('a'+i)), Channel: store.ChannelTelegram, ExpiresAt: hour}
				if st == "expired" {
					sv.ExpiresAt = s.Now().Add(-time.Minute)
				}
				ids, err := s.CreateSurveys(ctx, []store.Survey{sv})
				if err != nil {
					t.Fatal(err)
				}
				if st == "scored" || st == "commented" {
					if _, err := s.AnswerSurvey(ctx, ids[sv.Key], 4, ""); err != nil {
						t.Fatal(err)
					}
				}
				if st == "commented" {
					if _, err := s.CommentSurvey(ctx, ids[sv.Key], "fine"); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		cases := []struct {
			name    string
			tasks   []string
			surveys []string
		}{
			{name: "nothing"},
			{name: "open complaint", tasks: []string{store.TaskComplaint}},
			{name: "closed complaint, then a recovery", tasks: []string{"-" + store.TaskComplaint, store.TaskSurveyRecovery}},
			{name: "only other tasks", tasks: []string{store.TaskManual, "-" + store.TaskComplaint}},
			{name: "open survey", surveys: []string{"open"}},
			{name: "two open surveys", surveys: []string{"open", "open"}},
			{name: "scored, then open", surveys: []string{"scored", "open"}},
			{name: "commented and expired", surveys: []string{"commented", "expired"}},
			{name: "complaint and scored", tasks: []string{store.TaskComplaint}, surveys: []string{"scored"}},
		}
		var ids []int64
		byName := map[string]int64{}
		for _, c := range cases {
			cust, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr(c.name)})
			if err != nil {
				t.Fatal(err)
			}
			tasks(cust, c.tasks...)
			surveys(cust, c.surveys...)
			ids = append(ids, cust.ID)
			byName[c.name] = cust.ID
		}
		facts, err := s.ChatFactsOf(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		// Ids of: open complaint, open survey, commentable survey.
		idOf := func(t *store.Task, sv ...*store.Survey) [3]int64 {
			var out [3]int64
			if t != nil {
				out[0] = t.ID
			}
			for i, v := range sv {
				if v != nil {
					out[i+1] = v.ID
				}
			}
			return out
		}
		want, got := map[string][3]int64{}, map[string][3]int64{}
		now := s.Now()
		for name, id := range byName {
			tk, err := s.OpenComplaintTask(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			open, err := s.OpenSurvey(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			commentable, err := s.CommentableSurvey(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want[name] = idOf(tk, open, commentable)
			f := facts[id]
			if f == nil {
				t.Fatalf("%s: no facts", name)
			}
			got[name] = idOf(f.OpenComplaint, f.OpenSurvey(now), f.CommentableSurvey(now))
			if later := idOf(nil, f.OpenSurvey(hour), f.CommentableSurvey(hour)); later != [3]int64{} {
				t.Errorf("%s: surveys still open once expired: %v", name, later)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("facts (-one by one +batch):\n%s", diff)
		}
		if want["nothing"] != [3]int64{} || want["open complaint"][0] == 0 || want["scored, then open"][1] == 0 || want["scored, then open"][2] == 0 {
			t.Errorf("the cases do not cover what they say: %v", want)
		}
	})
}
