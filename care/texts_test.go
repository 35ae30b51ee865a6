package care

import (
	"strings"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/templates"
)

// TestShippedTexts runs care through the real templates service: the
// dates care hands over come out as the calendar dates they are, in zones
// east and west of UTC, survey buttons are labelled in the customer's
// language, and a survey answer gets its thank-you.
func TestShippedTexts(t *testing.T) {
	for _, zone := range []string{"Asia/Shanghai", "America/New_York"} {
		loc := mustLoc(zone)
		t.Run(zone, func(t *testing.T) {
			each(t, at("2027-03-01 23:00"), func(t *testing.T, e *env) { // 03-01 in both zones
				e.opts.Location = loc
				e.opts.Templates = templates.New(e.s, templates.Config{Location: loc})
				e.rebuild()
				zh := e.customer("张伟")
				en := e.customer("Emma Wilson", locale("en"))
				ordered := time.Date(2027, 2, 28, 12, 0, 0, 0, loc)
				for _, c := range []*store.Customer{zh, en} {
					if _, err := e.s.CreateAsset(e.ctx, c.ID, store.AssetInput{Name: "热水器", NextServiceDue: "2027-03-04"}, shanghai); err != nil {
						t.Fatal(err)
					}
					if _, err := e.s.CreateOrder(e.ctx, store.OrderInput{CustomerID: c.ID, Kind: "purchase", Amount: store.Fen(1000), OccurredAt: &ordered}, shanghai); err != nil {
						t.Fatal(err)
					}
				}
				for _, wf := range []string{"maintenance", "survey"} {
					if r := e.run(wf, "2027-03-01", false); r.Queued != 2 || r.Failed != 0 {
						t.Fatalf("%s run = %+v", wf, r)
					}
				}
				want := map[*store.Customer][]string{
					zh: {"您的热水器将于2027年3月4日到了保养的时候", "感谢您2027年2月28日光临"},
					en: {"your 热水器 is due for service on March 4, 2027.", "Thank you for visiting us on February 28, 2027, Emma Wilson!"},
				}
				buttons := map[*store.Customer][2]string{zh: {"1 很不满意", "5 非常满意"}, en: {"1 Very poor", "5 Excellent"}}
				for c, texts := range want {
					ms := e.wantMessages(c, 2)
					for i, w := range texts {
						if !strings.Contains(ms[i].Text, w) || ms[i].TemplateVersion != 1 {
							t.Errorf("%s message %d = %q (v%d), want it to contain %q", c.Name, i, ms[i].Text, ms[i].TemplateVersion, w)
						}
					}
					full, _ := e.s.MessageByID(e.ctx, ms[1].ID)
					x, err := full.Extras()
					if err != nil || len(x.Keyboard) != 1 || len(x.Keyboard[0]) != 5 ||
						x.Keyboard[0][0].Text != buttons[c][0] || x.Keyboard[0][4].Text != buttons[c][1] || !strings.HasSuffix(x.Keyboard[0][4].Data, ":5") {
						t.Errorf("%s survey buttons = %+v (%v)", c.Name, x.Keyboard, err)
					}
				}
				if h, err := e.svc.HandleChat(e.ctx, e.inbound(zh, "2 太慢")); !h || err != nil {
					t.Fatal(h, err)
				}
				if ms := e.wantMessages(zh, 3); !strings.HasPrefix(ms[2].Text, "非常抱歉这次没能让您满意") || ms[2].TemplateKey != "survey_thanks" {
					t.Errorf("thanks = %q (%s)", ms[2].Text, ms[2].TemplateKey)
				}
			})
		})
	}
}
