package templates

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/render"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// fanOut is a body whose 21 templates each call the next twice: about
// two million calls if it ran.
func fanOut() string {
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, `{{define "t%d"}}{{template "t%d" .}}{{template "t%d" .}}{{end}}`, i, i+1, i+1)
	}
	b.WriteString(`{{define "t20"}}x{{end}}hi{{template "t0" .}}`)
	return b.String()
}

// chained assigns $a n times to four copies of itself: 16 × 4ⁿ bytes.
func chained(n int, f string) string {
	var b strings.Builder
	b.WriteString(`{{$a := "0123456789abcdef"}}`)
	for range n {
		fmt.Fprintf(&b, "{{$a = %s $a $a $a $a}}", f)
	}
	return b.String() + "{{len $a}}"
}

// TestBudgetRefusesAttacks: every body that could make a render run away
// (memory, CPU, output) is refused with 422 naming the line, when saved and
// when previewed, quickly and with little memory.
func TestBudgetRefusesAttacks(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	svc := New(s, Config{BusinessName: "安心家电"})
	ctx := context.Background()
	big := strings.Repeat("长", 4000) // 12 KiB a line, 11 lines in the sample
	tests := []struct {
		name, key, body string
		want            []string // substrings of the message
	}{
		{"range over a number with a huge printf", "birthday", `{{range 4000}}{{printf "%0999999d" 0}}{{end}}`, []string{"line 1", "range over a number (4000)"}},
		{"range over a huge number", "birthday", "hi\n{{range 150000000}}{{end}}", []string{"line 2", "range over a number (150000000)"}},
		{"range over an int field", "holiday", `{{range .Customer.Points}}{{$.Holiday.Name}}{{end}}`, []string{"line 1", "range over .Customer.Points", "a number"}},
		{"range with a variable over a number", "birthday", `{{range $i := 1000000}}{{$i}}{{end}}`, []string{"line 1", "range over a number (1000000)"}},
		{"range over a method result", "maintenance", "{{with .Asset}}\n{{range .DueDate.YearDay}}x{{end}}{{end}}", []string{"line 2", "range over .DueDate.YearDay", "a number"}},
		{"range over $ path to a number", "birthday", `{{range $.Customer.ID}}x{{end}}`, []string{"range over $.Customer.ID", "a number"}},
		{"range over a text", "birthday", `{{range .Customer.Name}}x{{end}}`, []string{"range over .Customer.Name", "a text"}},
		{"range over a call", "birthday", `{{range len .Extra}}x{{end}}`, []string{"range over len .Extra is not allowed"}},
		{"range over a variable", "birthday", `{{$n := 5}}{{range $n}}x{{end}}`, []string{"range over $n is not allowed"}},
		{"range over a parenthesised number", "birthday", `{{range (1000000)}}x{{end}}`, []string{"is not allowed"}},
		{"nested ranges over Extra", "task_digest", `{{range .Extra}}{{range $.Extra}}{{range $.Extra}}x{{end}}{{end}}{{end}}`, []string{"line 1", "range inside another range"}},
		{"nested range inside with", "task_digest", "{{range .Extra}}\n{{with $.Extra}}{{range .}}x{{end}}{{end}}{{end}}", []string{"line 2", "range inside another range"}},
		{"range in a template called in a range", "task_digest", `{{define "r"}}{{range $.Extra}}x{{end}}{{end}}{{range .Extra}}{{template "r" $}}{{end}}`, []string{"range inside another range"}},
		{"template calls itself", "birthday", `{{define "a"}}x{{template "a" .}}{{end}}{{template "a" .}}`, []string{"line 1", `template "a" calls itself`}},
		{"templates call each other", "birthday", "{{define \"a\"}}{{template \"b\" .}}{{end}}\n{{define \"b\"}}{{template \"a\" .}}{{end}}hi{{template \"a\" .}}", []string{`template "a" calls itself`}},
		{"block calls itself", "birthday", `{{block "a" .}}x{{template "a" .}}{{end}}`, []string{`template "a" calls itself`}},
		{"templates fan out", "birthday", fanOut(), []string{"too large"}},
		{"undefined template", "birthday", `hi{{template "nope" .}}`, []string{`template "nope" is not defined`}},
		{"huge printf width", "birthday", `{{printf "%0999999d" 0}}`, []string{"line 1", "printf width or precision 0999999 is over 100"}},
		{"huge printf precision", "birthday", `{{printf "%.999999f" 1.5}}`, []string{"printf width or precision 999999 is over 100"}},
		{"huge printf width in a pipeline", "birthday", `{{0 | printf "%-9999999d"}}`, []string{"is over 100"}},
		{"printf width from an argument", "birthday", `{{printf "%*d" 999999 0}}`, []string{"from an argument"}},
		{"printf width in a variable format", "birthday", `{{$f := "%0999999d"}}{{printf $f 0}}`, []string{"line 1", "error calling printf", "is over 100"}},
		{"printf doubling", "birthday", chained(10, "printf \"%s%s%s%s\""), []string{"error calling printf", "more than 64 KiB"}},
		{"print doubling", "birthday", chained(10, "print"), []string{"error calling print", "more than 64 KiB"}},
		{"html growth", "birthday", `{{$a := "<<<<<<<<<<<<<<<<"}}{{$a = html $a $a $a $a}}{{$a = html $a $a $a $a}}{{$a = html $a $a $a $a}}{{$a = html $a $a $a $a}}{{$a = html $a $a $a $a}}{{$a = html $a $a $a $a}}{{$a}}`, []string{"error calling html", "more than 64 KiB"}},
		{"printf growth in a range", "task_digest", `{{$a := "ab"}}{{range .Extra}}{{$a = printf "%s%s%s%s" $a $a $a $a}}{{end}}{{len $a}}`, []string{"error calling printf", "more than 64 KiB"}},
		{"output over the cap", "task_digest", "{{range .Extra}}" + big + "{{end}}", []string{"renders to more than 64 KiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(op string, err error) {
				t.Helper()
				if !store.IsCode(err, store.EINVALID) {
					t.Fatalf("%s: err = %v, want invalid", op, err)
				}
				msg := store.ErrorMessage(err)
				if !strings.HasPrefix(msg, "body: ") {
					t.Errorf("%s: message %q does not name the body", op, msg)
				}
				for _, w := range tt.want {
					if !strings.Contains(msg, w) {
						t.Errorf("%s: message %q lacks %q", op, msg, w)
					}
				}
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := svc.Preview(ctx, PreviewInput{Key: tt.key, Body: tt.body})
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			check("preview", err)
			_, err = svc.Save(ctx, tt.key, store.LocaleZH, tt.body, meg)
			check("save", err)
			if took > 300*time.Millisecond {
				t.Errorf("preview took %v", took)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
				t.Errorf("preview allocated %d KiB", n>>10)
			}
		})
	}
	if hs, err := s.TemplateHeads(ctx); err != nil || len(hs) != 0 {
		t.Errorf("refused saves wrote heads: %v %v", hs, err)
	}
}

// TestBudgetAllows: what managers legitimately write still passes.
func TestBudgetAllows(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	svc := New(s, Config{BusinessName: "安心家电"})
	ctx := context.Background()
	tests := []struct{ key, body, want string }{
		{"task_digest", `{{range $k, $v := .Extra}}{{if eq $k "date"}}{{$v}}{{end}}{{end}}`, "2027-03-05"},
		{"task_digest", `{{range .Extra}}{{if eq . "2027-03-05"}}{{.}}{{end}}{{else}}none{{end}}`, "2027-03-05"},
		{"task_digest", `{{with .Extra}}{{range .}}{{if eq . "2027-03-05"}}{{.}}{{end}}{{end}}{{end}}`, "2027-03-05"},
		{"task_digest", `{{range $.Extra}}{{break}}{{end}}{{index .Extra "date"}}`, "2027-03-05"},
		{"birthday", `{{define "sig"}}— {{.}}{{end}}生日快乐{{template "sig" .Business}}`, "生日快乐— 安心家电"},
		{"birthday", `{{block "greet" .Customer}}{{default "您" .Salutation}}好{{end}}`, "王先生好"},
		{"birthday", `{{define "a"}}{{template "b" .}}{{template "b" .}}{{end}}{{define "b"}}x{{end}}{{template "a"}}`, "xx"},
		{"birthday", `No. {{printf "%05d" .Customer.ID}} {{printf "%.2f|%-6s|%x|%%" 1.5 "ab" 255}}`, "No. 00001 1.50|ab    |ff|%"},
		{"birthday", `{{printf "%[1]s-%[1]s" "hi"}} {{print "a" 1}} {{urlquery "a b"}} {{html "<b>"}} {{js "'"}}`, `hi-hi a1 a+b &lt;b&gt; \'`},
		{"birthday", `{{clip 3 "生日快乐呀"}}|{{clip 5 "生日快乐呀"}}|{{clip 1 "ab"}}`, "生日…|生日快乐呀|…"},
	}
	for _, tt := range tests {
		pv, err := svc.Preview(ctx, PreviewInput{Key: tt.key, Body: tt.body})
		if err != nil {
			t.Errorf("%s: %v", tt.body, err)
			continue
		}
		if pv.Text != tt.want {
			t.Errorf("%s = %q, want %q", tt.body, pv.Text, tt.want)
		}
		if _, err := svc.Save(ctx, tt.key, store.LocaleZH, tt.body, meg); err != nil {
			t.Errorf("save %s: %v", tt.body, err)
		}
	}
}

// TestBudgetAtRunTime: a render stops at its deadline or when its caller
// is gone, and an idle instance keeps no big buffer.
func TestBudgetAtRunTime(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	svc := New(s, Config{})
	c, err := svc.compile("task_digest", store.LocaleZH, `{{range .Extra}}{{.}}{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	d := render.Data{Extra: map[string]string{"a": strings.Repeat("x", 30<<10), "b": strings.Repeat("y", 30<<10)}}
	if text, err := svc.execute(context.Background(), c, d, store.LocaleZH, time.Second); err != nil || len(text) != 60<<10 {
		t.Fatalf("60 KiB render: %d bytes, %v", len(text), err)
	}
	if in, ok := c.pool.Get().(*instance); ok && cap(in.r.out) > maxPooledBuffer {
		t.Errorf("pooled instance keeps a %d KiB buffer", cap(in.r.out)>>10)
	}
	d.Extra["c"] = strings.Repeat("z", 5<<10)
	if _, err := svc.execute(context.Background(), c, d, store.LocaleZH, time.Second); err == nil || !strings.Contains(err.Error(), "more than 64 KiB") {
		t.Errorf("over 64 KiB: %v", err)
	}
	if _, err := svc.execute(context.Background(), c, d, store.LocaleZH, -time.Second); err == nil || !strings.Contains(err.Error(), "takes too long") {
		t.Errorf("past the deadline: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := svc.execute(ctx, c, d, store.LocaleZH, time.Second); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("cancelled: %v", err)
	}
	// Over budget at send time: Render fails (the caller skips the
	// message) and the next render is unaffected.
	if _, err := svc.Save(context.Background(), "task_digest", store.LocaleZH, `{{range .Extra}}{{.}}{{end}}`, meg); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Render(context.Background(), "task_digest", store.LocaleZH, d); err == nil {
		t.Error("a render over 64 KiB succeeded")
	}
	if r, err := svc.Render(context.Background(), "task_digest", store.LocaleZH, render.Data{Extra: map[string]string{"a": "ok"}}); err != nil || r.Text != "ok" {
		t.Errorf("next render: %+v %v", r, err)
	}
	// Only the deadline stops a send-time render, not a cancelled caller.
	if r, err := svc.Render(ctx, "task_digest", store.LocaleZH, render.Data{Extra: map[string]string{"a": "ok"}}); err != nil || r.Text != "ok" {
		t.Errorf("render for a cancelled caller: %+v %v", r, err)
	}
}

func TestCheckFormat(t *testing.T) {
	for _, f := range []string{"", "plain", "%d", "%05d", "%-100s", "%.100f", "%100.100f", "%[2]d %[1]s", "100%%", "%+ #x", "%v%"} {
		if err := checkFormat(f); err != nil {
			t.Errorf("%q: %v", f, err)
		}
	}
	for _, f := range []string{"%101d", "%.101f", "%0999999d", "%*d", "%.*f", "%[1]*d", "%99999999999999999999999d", "ok %d then %-0200s"} {
		if err := checkFormat(f); err == nil {
			t.Errorf("%q passed", f)
		}
	}
}

// TestPreviewsAtOnce: previews beyond Config.Previews are refused with
// EUNAVAILABLE while the others run; a slot frees when one ends.
func TestPreviewsAtOnce(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	svc := New(s, Config{})
	ctx := context.Background()
	var releases []func()
	for range MaxPreviews {
		release, err := svc.acquire()
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	_, err := svc.Preview(ctx, PreviewInput{Key: "birthday", Body: "hi"})
	if !store.IsCode(err, store.EUNAVAILABLE) || !strings.Contains(store.ErrorMessage(err), "too many template previews at once (at most 4)") {
		t.Errorf("preview %d: %v, want unavailable", MaxPreviews+1, err)
	}
	if _, err := svc.Save(ctx, "birthday", store.LocaleZH, "hi", meg); !store.IsCode(err, store.EUNAVAILABLE) {
		t.Errorf("save while previews are full: %v", err)
	}
	releases[0]()
	if pv, err := svc.Preview(ctx, PreviewInput{Key: "birthday", Body: "hi"}); err != nil || pv.Text != "hi" {
		t.Errorf("after a slot freed: %+v %v", pv, err)
	}
	for _, r := range releases[1:] {
		r()
	}
}

// TestBrokenSavedVersion: a saved version that fails this build's checks
// (saved before them) does not stop rendering: its key falls back to the
// shipped text, with one warning, and every other key renders as saved.
func TestBrokenSavedVersion(t *testing.T) {
	clock := storetest.NewClock(time.Date(2027, 3, 5, 1, 0, 0, 0, time.UTC))
	s := storetest.Open(t, store.SQLite, store.WithClock(clock.Now))
	var logs bytes.Buffer
	svc := New(s, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()
	if _, err := svc.Save(ctx, "winback", store.LocaleZH, "好久不见！", meg); err != nil {
		t.Fatal(err)
	}
	// Written as an older build would have: straight to the store.
	if _, err := s.SaveTemplate(ctx, svc.change("birthday", store.LocaleZH, meg), "{{range 150000000}}{{end}}生日快乐"); err != nil {
		t.Fatal(err)
	}
	svc.invalidate()
	for range 3 {
		r, err := svc.Render(ctx, "birthday", store.LocaleZH, render.Data{Customer: render.Customer{Name: "王伟", Gender: "male"}})
		if err != nil || r.Version != 1 || !strings.HasPrefix(r.Text, "王先生，生日快乐") {
			t.Fatalf("broken key: %+v %v; want the shipped text", r, err)
		}
		if r, err := svc.Render(ctx, "winback", store.LocaleZH, render.Data{}); err != nil || r.Version != 2 || r.Text != "好久不见！" {
			t.Fatalf("other key: %+v %v", r, err)
		}
		clock.Advance(time.Minute) // reload the snapshot
	}
	if n := strings.Count(logs.String(), "msg=\"saved template version no longer passes"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
	_, err := svc.Preview(ctx, PreviewInput{Key: "birthday", Version: 2})
	if !store.IsCode(err, store.EINVALID) || !strings.Contains(store.ErrorMessage(err), "range over a number") {
		t.Errorf("preview of the broken version: %v", err)
	}
	if _, err := svc.Rollback(ctx, "birthday", store.LocaleZH, 2, meg); !store.IsCode(err, store.EINVALID) {
		t.Errorf("rollback to the broken version: %v", err)
	}
}
