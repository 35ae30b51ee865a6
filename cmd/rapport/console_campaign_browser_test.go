package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/rapport-crm/rapport/store"
)

// TestConsoleCampaignsInBrowser is a manager's campaign in a real browser:
// build "tier A in 上海" and see the count and sample, save it, look at its
// members, write the message, dry-run it with the rendered text, send it,
// see it arrive on the customers' Telegram and the results in the console.
func TestConsoleCampaignsInBrowser(t *testing.T) {
	b := newBrowser(t)
	e := startE2E(t, store.SQLite)
	e.bindStaff(manager, "王经理", "manager", 1)
	// Three Telegram customers; two of them tier A in 上海.
	for i, u := range []string{"1101", "1102", "1103"} {
		e.say(u, "/start", 0)
		e.await(u, 1, "welcome")
		city := []string{"上海", "上海", "北京"}[i]
		e.api("PATCH", fmt.Sprintf("/customers/%d", customerID(e, u)), map[string]any{"city": city, "tier": "A", "name": "车主" + u}, 200)
	}

	b.signInByCode(e, e.base, "王经理", manager, 2, "")
	b.do("segments", chromedp.Navigate(e.base+"/console/#/segments"), chromedp.WaitVisible(chromedp.CSS("#segment-form")))
	b.do("build", click(`input[name=tier][value=A]`), chromedp.SendKeys(chromedp.CSS("#segment-city"), "上海"), click("#segment-count"),
		waitJS(`(document.querySelector('#segment-total') || {}).innerText === '2 位客户'`))
	b.waitText("车主1101")
	b.do("save", chromedp.SendKeys(chromedp.CSS("#segment-name"), "上海A类车主"), click("#segment-save"),
		waitJS(`document.querySelector('#segment-list [data-segment]') !== null`))
	b.do("members", click(`#segment-list [data-segment] button`), waitJS(`((document.querySelector('#segment-members') || {}).innerText || '').includes('车主1102')`))
	b.shot("desktop-21-segments")

	b.do("campaigns", chromedp.Navigate(e.base+"/console/#/campaigns"), chromedp.WaitVisible(chromedp.CSS("#campaign-form")),
		waitJS(`document.querySelector('#campaign-segment option') !== null`))
	b.do("write", chromedp.SendKeys(chromedp.CSS("#campaign-name"), "周六爱车讲堂"),
		chromedp.SendKeys(chromedp.CSS("#campaign-body"), "{{.Customer.Name}}您好，本周六爱车讲堂，回复报名。"),
		click("#campaign-create"), chromedp.WaitVisible(chromedp.CSS("#campaign-dry")))
	b.do("dry run", click("#campaign-dry"), waitJS(`((document.querySelector('#campaign-dry-result') || {}).innerText || '').includes('车主1101您好，本周六爱车讲堂')`))
	b.waitText("将发送 2 条")
	b.shot("desktop-22-campaign-dry-run")
	b.do("send", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`), click("#campaign-send"))
	for _, u := range []string{"1101", "1102"} {
		if got := e.await(u, 2, "the campaign message").Text; !strings.Contains(got, "本周六爱车讲堂") {
			t.Errorf("%s got %q", u, got)
		}
	}
	b.do("results", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog[open]")),
		chromedp.Navigate(e.base+"/console/#/campaigns"), chromedp.WaitVisible(chromedp.CSS("#campaign-list [data-campaign]")),
		click("#campaign-list [data-campaign]"), waitJS(`(document.querySelector('#campaign-status') || {}).innerText === '已完成'`))
	b.shot("desktop-23-campaign-results")
	cs := e.api("GET", "/campaigns", nil, 200)["items"].([]any)
	if len(cs) != 1 {
		t.Fatalf("campaigns %v", cs)
	}
	c := e.api("GET", fmt.Sprintf("/campaigns/%v", cs[0].(map[string]any)["id"]), nil, 200)
	if r := c["results"].(map[string]any); r["queued"] != float64(2) {
		t.Errorf("results %v", r)
	}
	audit := e.api("GET", "/audit?action=campaign", nil, 200)["items"].([]any)
	if len(audit) < 2 {
		t.Errorf("audit %v", audit)
	}
}
