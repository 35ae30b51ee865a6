package templates

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

var meg = Actor{Name: "Meg", Source: store.TemplateSourceAPI}

func TestSaveRejectsBrokenBodies(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	svc := New(s, Config{})
	ctx := context.Background()
	long := strings.Repeat("生日快乐", 1100)
	longLine := "{{.Customer.Name}}" + strings.Repeat("祝", 250)
	tests := []struct {
		name, key, body string
		want            []string // substrings of the message
	}{
		{"parse error", "birthday", "生日快乐\n{{.Customer.Name", []string{"line 2", "unclosed action"}},
		{"unknown field", "birthday", "Hi\n\n{{.Customer.Nmae}}", []string{"line 3", "can't evaluate field Nmae in type Customer"}},
		{"unknown function", "birthday", "{{shout .Customer.Name}}", []string{"line 1", `function "shout" not defined`}},
		{"missing extra", "task_digest", "{{.Extra.nope}}", []string{"line 1", `map has no entry for key "nope"`}},
		{"optional section without with", "birthday", "{{.Customer.Name}} {{.Asset.Name}}", []string{"line 1", "nil pointer", "no name"}},
		{"empty", "birthday", "  \n ", []string{"empty"}},
		{"renders empty", "birthday", "{{if false}}x{{end}}", []string{"renders to an empty text"}},
		{"too long for Telegram", "welcome", long, []string{"4400 characters", "Telegram allows 4096"}},
		{"line too long for a WeChat field", "birthday", longLine, []string{"WeChat template field", "at most 200"}},
		{"a button short", "survey_buttons", "1 差\n2\n3\n4", []string{"renders 4 lines; it needs 5, one per button"}},
		{"a button too many", "staff_task_buttons", "完成\n推迟\n\n打开\n转交", []string{"renders 4 lines; it needs 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Save(ctx, tt.key, store.LocaleZH, tt.body, meg)
			if !store.IsCode(err, store.EINVALID) {
				t.Fatalf("err = %v, want invalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(store.ErrorMessage(err), w) {
					t.Errorf("message %q lacks %q", store.ErrorMessage(err), w)
				}
			}
		})
	}
	if hs, err := s.TemplateHeads(ctx); err != nil || len(hs) != 0 {
		t.Errorf("rejected saves wrote heads: %v %v", hs, err)
	}
	r, err := svc.Render(ctx, "birthday", store.LocaleZH, render.Data{})
	if err != nil || r.Version != 1 {
		t.Errorf("after rejected saves: %+v %v; want the shipped version 1", r, err)
	}
	if _, err := svc.Save(ctx, "nope", store.LocaleZH, "x", meg); !store.IsCode(err, store.ENOTFOUND) {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := svc.Save(ctx, "birthday", "fr", "x", meg); !store.IsCode(err, store.EINVALID) {
		t.Errorf("unknown locale: %v", err)
	}
}

func TestSaveRenderRollback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		clock := storetest.NewClock(time.Date(2027, 3, 5, 1, 0, 0, 0, time.UTC))
		s2 := storetest.OpenConfig(t, configOf(t, s), store.WithClock(clock.Now))
		// Two replicas on one database.
		a := New(s2, Config{BusinessName: "安心家电"})
		b := New(s2, Config{BusinessName: "安心家电"})
		d := render.Data{Customer: render.Customer{Name: "王伟", Gender: "male"}}
		renderBy := func(svc *Service) render.Rendered {
			t.Helper()
			r, err := svc.Render(ctx, "birthday", store.LocaleZH, d)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := renderBy(b); r.Version != 1 || !strings.HasPrefix(r.Text, "王先生，生日快乐") {
			t.Fatalf("shipped render = %+v", r)
		}
		got, err := a.Save(ctx, "birthday", store.LocaleZH, "{{.Customer.Salutation}}，{{.Business}}祝您生日快乐！", meg)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 || got.UpdatedBy != "Meg" {
			t.Errorf("saved = %+v", got)
		}
		if r := renderBy(a); r.Version != 2 || r.Text != "王先生，安心家电祝您生日快乐！" {
			t.Errorf("saving replica renders %+v", r)
		}
		// The other replica serves its cache until the TTL passes.
		if r := renderBy(b); r.Version != 1 {
			t.Errorf("other replica before TTL: v%d", r.Version)
		}
		clock.Advance(3 * time.Second)
		if r := renderBy(b); r.Version != 2 {
			t.Errorf("other replica after TTL: v%d, want 2", r.Version)
		}
		// English is untouched.
		if r, _ := b.Render(ctx, "birthday", "en-US", d); r.Version != 1 || r.Locale != "en" || !strings.HasPrefix(r.Text, "Happy birthday, 王伟!") {
			t.Errorf("en = %+v", r)
		}
		if _, err := a.Rollback(ctx, "birthday", store.LocaleZH, 1, meg); err != nil {
			t.Fatal(err)
		}
		if r := renderBy(a); r.Version != 1 {
			t.Errorf("after rollback v%d", r.Version)
		}
		cur, err := b.Get(ctx, "birthday", store.LocaleZH)
		if err != nil || cur.Version != 1 || cur.UpdatedBy != "Meg" || cur.UpdatedAt == nil {
			t.Errorf("get after rollback = %+v %v", cur, err)
		}
		vs, _, err := a.Versions(ctx, "birthday", store.LocaleZH, store.Page{})
		if err != nil || len(vs) != 2 || !vs[1].Active || vs[0].Active {
			t.Errorf("versions = %+v %v", vs, err)
		}
		pv, err := a.Preview(ctx, PreviewInput{Key: "birthday", Version: 2})
		if err != nil || pv.Version != 2 || !strings.Contains(pv.Text, "祝您生日快乐") {
			t.Errorf("preview v2 = %+v %v", pv, err)
		}
	})
}

// configOf reopens the database of s (to get a store with a test clock).
func configOf(t *testing.T, s *store.Store) store.Config {
	t.Helper()
	return storetest.Config(t, s.Dialect())
}

func TestRenderData(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	svc := New(s, Config{Location: shanghai})
	ctx := context.Background()
	tests := []struct {
		key, locale string
		d           render.Data
		want        string
	}{
		{"holiday", "zh-CN", render.Data{Holiday: &render.Holiday{Key: "mid_autumn", Name: "mid_autumn"}}, "中秋节快乐！"},
		{"holiday", "en", render.Data{Holiday: &render.Holiday{Key: "christmas"}}, "Happy Christmas!"},
		{"holiday", "zh-CN", render.Data{Holiday: &render.Holiday{Key: "shop_day", Name: "店庆"}}, "店庆快乐！"},
		{"holiday", "fr", render.Data{Customer: render.Customer{Name: "欧阳娜娜", Gender: "female"}, Holiday: &render.Holiday{Key: "spring_festival"}}, "欧阳女士，春节快乐！"},
		{"maintenance", "zh-CN", render.Data{Asset: &render.Asset{Name: "热水器", DueDate: time.Date(2027, 3, 12, 0, 0, 0, 0, shanghai)}}, "您的热水器将于2027年3月12日到了保养的时候"},
		{"birthday_saved", "en", render.Data{Customer: render.Customer{Birthday: "02-29"}}, "Your birthday is February 29."},
		{"survey_thanks", "zh-CN", render.Data{Survey: &render.Survey{Score: 2}}, "非常抱歉"},
		{"task_overdue", "zh-CN", render.Data{Task: &render.Task{ID: 9, Title: "回电", DueAt: time.Date(2027, 3, 5, 8, 30, 0, 0, time.UTC)}}, "任务 #9 已逾期（截止 3月5日 16:30）"},
		{"welcome", "en", render.Data{Customer: render.Customer{Name: "Emma Jane Wilson", Gender: "female"}}, "Welcome to our shop, Ms. Wilson!"},
	}
	for _, tt := range tests {
		r, err := svc.Render(ctx, tt.key, tt.locale, tt.d)
		if err != nil {
			t.Errorf("%s %s: %v", tt.key, tt.locale, err)
			continue
		}
		if !strings.Contains(r.Text, tt.want) {
			t.Errorf("%s %s = %q, want it to contain %q", tt.key, tt.locale, r.Text, tt.want)
		}
	}
	if _, err := svc.Render(ctx, "nope", "zh-CN", render.Data{}); !store.IsCode(err, store.ENOTFOUND) {
		t.Errorf("unknown key: %v", err)
	}
}

// TestRenderReadsNoRowPerCall: within the cache TTL Render works with the
// database gone, so it costs no query per message.
func TestRenderReadsNoRowPerCall(t *testing.T) {
	clock := storetest.NewClock(time.Date(2027, 3, 5, 1, 0, 0, 0, time.UTC))
	s := storetest.Open(t, store.SQLite, store.WithClock(clock.Now))
	svc := New(s, Config{})
	ctx := context.Background()
	if _, err := svc.Save(ctx, "winback", store.LocaleZH, "好久不见{{with .Customer.Salutation}}，{{.}}{{end}}！", meg); err != nil {
		t.Fatal(err)
	}
	if r, err := svc.Render(ctx, "winback", store.LocaleZH, render.Data{}); err != nil || r.Version != 2 {
		t.Fatalf("render: %+v %v", r, err)
	}
	s.Close()
	for range 3 {
		if r, err := svc.Render(ctx, "winback", store.LocaleZH, render.Data{}); err != nil || r.Text != "好久不见！" {
			t.Fatalf("render with the database closed: %+v %v", r, err)
		}
	}
	// Past the TTL a failed reload keeps the last known texts.
	clock.Advance(time.Minute)
	if r, err := svc.Render(ctx, "winback", store.LocaleZH, render.Data{}); err != nil || r.Version != 2 {
		t.Fatalf("render after a failed reload: %+v %v", r, err)
	}
}

// TestRenderWhileSaving renders from several goroutines while versions
// are saved (run with -race); every text comes from a saved version.
func TestRenderWhileSaving(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	svc := New(s, Config{CacheTTL: time.Millisecond})
	ctx := context.Background()
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				r, err := svc.Render(ctx, "opted_in", store.LocaleZH, render.Data{})
				if err != nil || (r.Version > 1 && r.Text != fmt.Sprint("v", r.Version)) {
					errs <- fmt.Errorf("render %+v: %v", r, err)
					return
				}
			}
		}()
	}
	for v := 2; v <= 6; v++ {
		if _, err := svc.Save(ctx, "opted_in", store.LocaleZH, fmt.Sprint("v", v), meg); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := svc.Render(ctx, "opted_in", store.LocaleZH, render.Data{}); r.Version != 6 {
		t.Errorf("final version %d", r.Version)
	}
}
