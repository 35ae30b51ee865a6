// Package render is the contract between the texts and those who send
// them: the data a text is rendered from, the rendered result, and the
// Renderer that makes one from the other. templates implements Renderer;
// care, followup and bots call it. It holds no logic beyond mapping a
// stored customer, so every peer may import it.
package render

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// Renderer renders the active version of template key in a locale (zh-CN
// or en; anything else is zh-CN). An unknown key is store.ENOTFOUND; a
// text that fails to render is an error, never a silent fallback.
type Renderer interface {
	Render(ctx context.Context, key, locale string, d Data) (Rendered, error)
}

// Rendered is a rendered text and the template version it came from.
type Rendered struct {
	Key, Locale string
	Version     int
	Text        string
}

// ReplyTo is the text as the answer to ev (store.ChatEvent.Reply), with
// the template version it came from.
func (r Rendered) ReplyTo(ev *store.ChatEvent, idempotencyKey string) store.Outbound {
	o := ev.Reply(r.Text, idempotencyKey)
	o.TemplateKey, o.TemplateVersion = r.Key, r.Version
	return o
}

// Pick is the variant of a text for locale: en for English ("en",
// "en-US", ...), zh for anything else (the default language).
func Pick(locale, zh, en string) string {
	if strings.HasPrefix(strings.ToLower(locale), "en") {
		return en
	}
	return zh
}

// Lines are the text's non-empty lines, trimmed: the labels of a
// keyboard rendered from a template of one line per button.
func (r Rendered) Lines() []string {
	var out []string
	for _, l := range strings.Split(r.Text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// WeChatFields maps the text onto the fields of a classic WeChat template
// message, one line per field: the first line is first, the last remark
// (when there are more than three), keyword1 and keyword2 the lines
// between, keyword2 with any overflow. It is what the WeChat adapter sends
// outside the 48-hour window (unless the message carries its own template
// data), and what a template preview shows.
func (r Rendered) WeChatFields() map[string]string {
	lines := r.Lines()
	out := map[string]string{"first": "", "keyword1": "", "keyword2": "", "remark": ""}
	if len(lines) > 0 {
		out["first"], lines = lines[0], lines[1:]
	}
	if len(lines) > 2 {
		out["remark"], lines = lines[len(lines)-1], lines[:len(lines)-1]
	}
	if len(lines) > 0 {
		out["keyword1"] = lines[0]
	}
	if len(lines) > 1 {
		out["keyword2"] = strings.Join(lines[1:], " ")
	}
	return out
}

// Labels renders key, a template of one line per button, and returns the
// labels of its n buttons. Another number of lines is an error (validation
// refuses to save such a text, so only a broken build gets there).
func Labels(ctx context.Context, r Renderer, key, locale string, d Data, n int) ([]string, error) {
	out, err := r.Render(ctx, key, locale, d)
	if err != nil {
		return nil, err
	}
	ls := out.Lines()
	if len(ls) != n {
		return nil, fmt.Errorf("%s (%s) v%d: %d lines for %d buttons", key, out.Locale, out.Version, len(ls), n)
	}
	return ls, nil
}

// Data is what a template is rendered from; templates/README.md documents
// every field for template authors, so names and meanings stay as they are.
type Data struct {
	Business string // filled by the renderer from its config if empty
	Customer Customer
	Asset    *Asset
	Survey   *Survey
	Staff    *Staff
	Task     *Task
	Holiday  *Holiday
	Points   *Points
	Voucher  *Voucher
	Extra    map[string]string // anything else ("code", "reason", "count", ...)
}

// Customer is the recipient (or, in staff notices, the subject).
type Customer struct {
	ID        int64
	Name      string
	Honorific string // computed from Gender and the locale when empty
	Gender    string
	Tier      string
	Points    int64
	Birthday  string // YYYY-MM-DD or MM-DD, "" when unknown
	Locale    string
	Phone     string
	// Salutation is how to address them (王先生, Mr. Smith, or the name);
	// computed when empty, "" when the name is unknown.
	Salutation string
}

// Asset is a serviced item; DueDate is midnight of the due day in the
// business zone.
type Asset struct {
	Name    string
	DueDate time.Time
}

// Survey is a satisfaction survey and, once answered, its answer;
// OrderDate is midnight of the order day in the business zone.
type Survey struct {
	Score     int
	Comment   string
	OrderDate time.Time
}

// Staff is a member of the team.
type Staff struct{ Name string }

// Task is a follow-up task.
type Task struct {
	ID                            int64
	Title, Kind, Priority, Detail string
	DueAt                         time.Time
	CustomerSummary               string
}

// Points is the customer's points: the balance, the next amount to
// expire and the last day it can be used (zero time: nothing expires),
// and the newest ledger entries as lines of text.
type Points struct {
	Balance    int64
	Expiring   int64
	ExpiringOn time.Time
	Recent     string
}

// Voucher is a voucher the customer holds: Value in yuan as text
// ("50.00"), ExpiresAt the instant it stops being usable.
type Voucher struct {
	Code, Name, Kind, Value string
	ExpiresAt               time.Time
}

// Holiday is the holiday a greeting is for; Name is localised by the
// renderer from Key when empty.
type Holiday struct{ Key, Name string }

// CustomerOf maps a stored customer onto the template data model (nil:
// the zero Customer).
func CustomerOf(c *store.Customer) Customer {
	if c == nil {
		return Customer{}
	}
	return Customer{
		ID: c.ID, Name: c.Name, Gender: c.Gender, Tier: string(c.Tier), Points: c.Points,
		Birthday: c.Birthday.String(), Locale: c.Locale, Phone: c.Phone,
	}
}

// TaskOf maps a stored task onto the template data model, with the
// customer's card as text.
func TaskOf(t *store.Task, customerSummary string) *Task {
	if t == nil {
		return nil
	}
	out := &Task{ID: t.ID, Title: t.Title, Kind: t.Kind, Priority: t.Priority, Detail: t.Detail, CustomerSummary: customerSummary}
	if t.DueAt != nil {
		out.DueAt = *t.DueAt
	}
	return out
}
