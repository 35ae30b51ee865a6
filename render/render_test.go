package render_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
)

// text renders its own string, whatever the key.
type text string

func (t text) Render(_ context.Context, key, locale string, _ render.Data) (render.Rendered, error) {
	return render.Rendered{Key: key, Locale: locale, Version: 3, Text: string(t)}, nil
}

func TestLabels(t *testing.T) {
	tests := []struct {
		text string
		n    int
		want []string // nil: an error
	}{
		{"✅ Done\n💤 Snooze\n🔗 Open", 3, []string{"✅ Done", "💤 Snooze", "🔗 Open"}},
		{"\n  a \n\nb\n", 2, []string{"a", "b"}},
		{"a\nb", 3, nil},
		{"a\nb\nc\nd", 3, nil},
	}
	for _, tt := range tests {
		got, err := render.Labels(context.Background(), text(tt.text), "k", "en", render.Data{}, tt.n)
		if (err != nil) != (tt.want == nil) || !cmp.Equal(got, tt.want) {
			t.Errorf("%q for %d buttons = %q, %v", tt.text, tt.n, got, err)
		}
	}
}

func TestOf(t *testing.T) {
	if got := render.CustomerOf(nil); got != (render.Customer{}) {
		t.Errorf("CustomerOf(nil) = %+v", got)
	}
	b, err := store.ParseBirthday("05-17", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := &store.Customer{ID: 7, Name: "王芳", Gender: "female", Tier: "A", Points: 88, Birthday: b, Locale: "zh-CN", Phone: "+8613800138000"}
	want := render.Customer{ID: 7, Name: "王芳", Gender: "female", Tier: "A", Points: 88, Birthday: "05-17", Locale: "zh-CN", Phone: "+8613800138000"}
	if diff := cmp.Diff(want, render.CustomerOf(c)); diff != "" {
		t.Errorf("CustomerOf (-want +got):\n%s", diff)
	}
	due := time.Date(2027, 3, 5, 8, 0, 0, 0, time.UTC)
	got := render.TaskOf(&store.Task{ID: 5, Title: "回电", Kind: "complaint", Priority: "high", Detail: "d", DueAt: &due}, "card")
	if diff := cmp.Diff(&render.Task{ID: 5, Title: "回电", Kind: "complaint", Priority: "high", Detail: "d", DueAt: due, CustomerSummary: "card"}, got); diff != "" {
		t.Errorf("TaskOf (-want +got):\n%s", diff)
	}
	if render.TaskOf(nil, "") != nil || !render.TaskOf(&store.Task{ID: 1}, "").DueAt.IsZero() {
		t.Error("TaskOf of no task or no due time")
	}
}

// A text fills a classic WeChat template one line per field, as the
// adapter sends it and a preview shows it.
func TestWeChatFields(t *testing.T) {
	for text, want := range map[string]map[string]string{
		"王先生，生日快乐！\n安心家电祝您平安喜乐。\n截止：3月5日\n回复即可预约": {"first": "王先生，生日快乐！", "keyword1": "安心家电祝您平安喜乐。", "keyword2": "截止：3月5日", "remark": "回复即可预约"},
		"a\n\nb\nc\nd\ne": {"first": "a", "keyword1": "b", "keyword2": "c d", "remark": "e"},
		"生日快乐！\n本月到店送保养一次": {"first": "生日快乐！", "keyword1": "本月到店送保养一次", "keyword2": "", "remark": ""},
		"": {"first": "", "keyword1": "", "keyword2": "", "remark": ""},
	} {
		if diff := cmp.Diff(want, render.Rendered{Text: text}.WeChatFields()); diff != "" {
			t.Errorf("%q (-want +got):\n%s", text, diff)
		}
	}
}
