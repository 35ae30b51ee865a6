package templates

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// FuzzPreviewBody: template bodies come from managers, who may be
// careless or hostile. Whatever the body, a preview answers quickly with a
// text that fits Telegram or a 422, never a panic or an internal error, and
// saving would decide the same. Inputs are kept small (512 bytes) so the
// fuzzer explores structure rather than size; size is bounded by
// store.MaxTemplateBody and tested in TestBudgetRefusesAttacks.
func FuzzPreviewBody(f *testing.F) {
	for _, b := range []string{
		`{{range 4000}}{{printf "%0999999d" 0}}{{end}}`,
		`{{range .Customer.Points}}x{{end}}`,
		`{{range $i := 1000000}}{{$i}}{{end}}`,
		`{{range .Extra}}{{range $.Extra}}x{{end}}{{end}}`,
		`{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`,
		`{{$a := "ab"}}{{range .Extra}}{{$a = printf "%s%s%s%s" $a $a $a $a}}{{end}}{{$a}}`,
		`{{printf "%*d" 9 1}}`,
		`{{range $k, $v := .Extra}}{{$k}}={{$v}} {{end}}`,
		`{{with .Holiday}}{{.Name}}{{end}}{{block "x" .Customer}}{{.Name}}{{end}}`,
		"📋 {{index .Extra \"date\"}}\n{{default \"-\" (index .Extra \"digest\")}}",
	} {
		f.Add(uint8(0), b)
	}
	s := storetest.Open(f, store.SQLite)
	svc := New(s, Config{BusinessName: "安心家电"})
	for r, body := range svc.defaults {
		if key, locale, _ := strings.Cut(r, "\x00"); locale == store.LocaleZH && key == "task_digest" {
			f.Add(uint8(0), body)
		}
	}
	keys := []string{"task_digest", "holiday", "maintenance", "birthday"}
	f.Fuzz(func(t *testing.T, k uint8, body string) {
		if body == "" || len(body) > 512 {
			t.Skip() // no body previews the active version
		}
		key := keys[int(k)%len(keys)]
		start := time.Now()
		pv, err := svc.Preview(context.Background(), PreviewInput{Key: key, Body: body})
		if took := time.Since(start); took > time.Second {
			t.Fatalf("preview of %q took %v", body, took)
		}
		if err != nil {
			if !store.IsCode(err, store.EINVALID) {
				t.Fatalf("preview of %q: %v, want invalid", body, err)
			}
		} else if strings.TrimSpace(pv.Text) == "" || utf8.RuneCountInString(pv.Text) > TelegramLimit {
			t.Fatalf("preview of %q accepted %d characters", body, utf8.RuneCountInString(pv.Text))
		}
		if _, _, cerr := svc.check(key, store.LocaleZH, body); (cerr == nil) != (err == nil) {
			t.Fatalf("%q: preview %v but save would %v", body, err, cerr)
		}
	})
}
