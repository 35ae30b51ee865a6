package main

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/rapport-crm/rapport/store"
)

// TestConsolePointsInBrowser: a manager adds a 维修券 on the rewards
// screen, tops a customer up on their page, redeems the voucher for them
// and marks it used; the card's balance and the API agree.
func TestConsolePointsInBrowser(t *testing.T) {
	b := newBrowser(t)
	e := startE2E(t, store.SQLite)
	e.bindStaff(manager, "王经理", "manager", 1)
	c := e.api("POST", "/customers", map[string]any{"name": "积分客户"}, 201)
	cid := int64(c["id"].(float64))
	b.signInByCode(e, e.base, "王经理", manager, 2, "")

	b.do("rewards", chromedp.Navigate(e.base+"/console/#/rewards"), chromedp.WaitVisible(chromedp.CSS("#reward-new")))
	b.do("new reward", chromedp.Click(chromedp.CSS("#reward-new")), chromedp.WaitVisible(chromedp.CSS("#reward-name")),
		chromedp.SendKeys(chromedp.CSS("#reward-name"), "维修券"), chromedp.SendKeys(chromedp.CSS("#reward-points"), "300"),
		chromedp.SendKeys(chromedp.CSS("#reward-value"), "50"), chromedp.Click(chromedp.CSS("#reward-save")),
		waitJS(`document.querySelectorAll('[data-reward]').length === 1`))
	b.shot("desktop-11-rewards")

	b.do("customer page", chromedp.Navigate(fmt.Sprintf("%s/console/#/customers/%d", e.base, cid)), chromedp.WaitVisible(chromedp.CSS("#points-adjust")))
	b.do("adjust", chromedp.Click(chromedp.CSS("#points-adjust")), chromedp.WaitVisible(chromedp.CSS("#adjust-points")),
		chromedp.SendKeys(chromedp.CSS("#adjust-points"), "500"), chromedp.SendKeys(chromedp.CSS("#adjust-reason"), "老客户迁移"),
		chromedp.Click(chromedp.CSS("#adjust-save")), waitJS(`document.querySelector('#points-balance') && document.querySelector('#points-balance').innerText.includes('500')`))
	b.do("redeem", chromedp.Click(chromedp.CSS("#points-redeem")), chromedp.WaitVisible(chromedp.CSS("#redeem-reward")),
		chromedp.Click(chromedp.CSS("#redeem-save")), waitJS(`document.querySelector('#points-balance') && document.querySelector('#points-balance').innerText.includes('200') && document.querySelectorAll('[data-code]').length === 1`))
	b.shot("desktop-12-customer-points")
	vs := e.api("GET", fmt.Sprintf("/customers/%d/vouchers", cid), nil, 200)["items"].([]any)
	code := vs[0].(map[string]any)["code"].(string)
	// Cancelling the confirm changes nothing: the panel keeps its voucher.
	b.do("use, cancelled", chromedp.Evaluate[chromedp.Void](`window.confirm = () => false`),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-code="%s"] button`, code))),
		waitJS(fmt.Sprintf(`!!document.querySelector('[data-code="%s"] button:not([disabled])') && !!document.querySelector('#points-balance')`, code)))
	b.do("use", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-code="%s"] button`, code))),
		waitJS(fmt.Sprintf(`!document.querySelector('[data-code="%s"] button') && !!document.querySelector('[data-code="%s"] .chip')`, code, code)))
	if v := e.api("GET", fmt.Sprintf("/customers/%d/vouchers", cid), nil, 200)["items"].([]any)[0].(map[string]any); v["status"] != "used" {
		t.Fatalf("voucher after Use: %v", v)
	}
	if p := e.api("GET", fmt.Sprintf("/customers/%d/points", cid), nil, 200); p["balance"] != 200.0 {
		t.Fatalf("points: %v", p)
	}
}
