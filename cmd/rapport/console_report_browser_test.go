package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rapport-crm/rapport/store"
)

// TestDashboardInBrowser is a manager's first screen in a real browser on
// MariaDB, with data in it: the overview's charts render (a canvas, an
// ECharts instance with this period's and the previous period's series),
// a click on the "wechat" bar of new customers by source lands on exactly
// those customers, and each chart's CSV export answers. Then a campaign
// sent to two Telegram customers and a redemption show in the campaigns
// and points tabs.
func TestDashboardInBrowser(t *testing.T) {
	b := newBrowser(t)
	e := startE2E(t, store.MySQL)
	e.bindStaff(manager, "王店长", "manager", 1)
	names := map[string][]string{"wechat": {"微信一", "微信二", "微信三"}, "store": {"到店一", "到店二"}, "referral": {"转介绍一"}}
	var first float64
	for _, src := range []string{"wechat", "store", "referral"} {
		for _, n := range names[src] {
			id := e.api("POST", "/customers", map[string]any{"name": n, "source": src}, 201)["id"].(float64)
			if first == 0 {
				first = id
			}
			e.api("POST", "/orders", map[string]any{"customer_id": id, "kind": "purchase", "amount": "199.90",
				"occurred_at": time.Now().UTC().Format(time.RFC3339)}, 201)
		}
	}
	b.signInByCode(e, e.base, "王店长", manager, 2, "")
	// The refresh button is disabled from the click until the figures are
	// recomputed and the grid drawn again: charts seen before that are
	// about to be replaced.
	refreshed := chromedp.WaitVisible(chromedp.CSS("#dash-refresh:not([disabled])"))
	// Today's figures were computed when the server started, before the
	// data: the refresh button recomputes them.
	b.do("dashboard", chromedp.Navigate(e.base+"/console/#/dashboard"), chromedp.WaitVisible(chromedp.CSS(".dash-grid")),
		click("#dash-refresh"), refreshed, chromedp.WaitVisible(chromedp.CSS(`[data-section="customers.new_by_source"] canvas`)))
	series := eval[[]int](b, `(() => {
		const ch = echarts.getInstanceByDom(document.querySelector('[data-section="customers.new_by_source"] .chart'));
		const o = ch.getOption();
		return [o.series.length, ...o.series[0].data];
	})()`)
	if fmt.Sprint(series) != "[2 3 2 1]" {
		t.Errorf("new customers by source: series count and this period's data %v, want [2 3 2 1]", series)
	}
	b.waitText("¥1,199.40") // six orders of 199.90
	b.shot("desktop-20-dashboard")

	// Drill down: click the wechat bar where ECharts drew it.
	xy := eval[[]float64](b, `(() => {
		const box = document.querySelector('[data-section="customers.new_by_source"] .chart');
		const ch = echarts.getInstanceByDom(box);
		const l = ch.getModel().getSeriesByIndex(0).getData().getItemLayout(0);
		const r = box.getBoundingClientRect();
		return [r.left + l.x + l.width / 2, r.top + l.y + l.height / 2];
	})()`)
	b.do("drill down", chromedp.MouseClickXY(xy[0], xy[1]), chromedp.WaitVisible(chromedp.CSS("#customers-drill")),
		waitJS(`document.querySelectorAll('.results tbody tr').length === 3`))
	got := eval[[]string](b, `[...document.querySelectorAll('.results tbody tr td:first-child')].map(td => td.innerText).sort()`)
	if want := "[微信一 微信三 微信二]"; fmt.Sprint(got) != want {
		t.Errorf("drill-down customers %v, want %s", got, want)
	}
	if hash := eval[string](b, `location.hash`); !strings.Contains(hash, "source=wechat") || !strings.Contains(hash, "created_from=") {
		t.Errorf("drill-down hash %q", hash)
	}
	b.shot("desktop-21-dashboard-drill-down")

	// Each chart's export: the link answers CSV of its section.
	b.do("back to the dashboard", chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS(`a.csv[data-section="customers.new_by_source"]`)))
	link := eval[string](b, `document.querySelector('a.csv[data-section="customers.new_by_source"]').href`)
	req, _ := http.NewRequest("GET", link, nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(string(body), "customers.new_by_source,wechat,,3,0,count") {
		t.Errorf("CSV export: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	// A campaign to two Telegram customers in 上海; one of them is given
	// 150 points and redeems a 100-point voucher.
	for _, u := range []string{"2101", "2102"} {
		e.say(u, "/start", 0)
		e.await(u, 1, "welcome")
		e.api("PATCH", fmt.Sprintf("/customers/%d", customerID(e, u)), map[string]any{"city": "上海", "name": "车主" + u}, 200)
	}
	seg := e.api("POST", "/segments", map[string]any{"name": "上海车主", "filter": map[string]any{"city": []string{"上海"}}}, 201)["id"]
	camp := e.api("POST", "/campaigns", map[string]any{"name": "周末洗车节", "segment_id": seg, "body": "{{.Customer.Name}}，周末洗车八折"}, 201)["id"]
	e.api("POST", fmt.Sprintf("/campaigns/%v/send", camp), nil, 200)
	for _, u := range []string{"2101", "2102"} {
		e.await(u, 2, "the campaign message")
	}
	owner := customerID(e, "2101")
	e.api("POST", fmt.Sprintf("/customers/%d/points/adjustments", owner), map[string]any{"points": 150, "reason": "开业赠送"}, 201)
	reward := e.api("POST", "/rewards", map[string]any{"name": "精洗券", "points": 100, "value": "30.00"}, 201)["id"]
	e.api("POST", fmt.Sprintf("/customers/%d/redemptions", owner), map[string]any{"reward_id": reward}, 201)

	// A section of one to three rows is a figure card, more rows a chart.
	card := func(section string) string {
		return eval[string](b, `document.querySelector('[data-section="`+section+`"]').innerText`)
	}
	b.do("campaigns tab", click("#dash-refresh"), refreshed, chromedp.WaitVisible(chromedp.CSS(".dash-grid")),
		click(`[role=tab][data-report="campaigns"]`), chromedp.WaitVisible(chromedp.CSS(`[data-section="campaigns.totals"] canvas`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-section="campaigns.sent_by_day"] canvas`)))
	totals := eval[[]int](b, `echarts.getInstanceByDom(document.querySelector('[data-section="campaigns.totals"] .chart')).getOption().series[0].data`)
	if fmt.Sprint(totals) != "[2 2 0 0 0 0 0]" { // queued, sent, failed, skipped, replies, orders, opt-outs
		t.Errorf("campaigns.totals chart %v, want [2 2 0 0 0 0 0]", totals)
	}
	if txt := card("campaigns.sent"); !strings.Contains(txt, "周末洗车节") || !strings.Contains(txt, "\n2\n") {
		t.Errorf("campaigns.sent card %q", txt)
	}
	b.shot("desktop-24-dashboard-campaigns")
	b.do("points tab", click(`[role=tab][data-report="points"]`), chromedp.WaitVisible(chromedp.CSS(`[data-section="points.totals"] canvas`)))
	pts := eval[[]int](b, `echarts.getInstanceByDom(document.querySelector('[data-section="points.totals"] .chart')).getOption().series[0].data`)
	if len(pts) != 5 || pts[0] <= 150 || pts[1] != 100 { // issued (150 by hand and the orders'), redeemed, ...
		t.Errorf("points.totals chart %v, want issued > 150 and 100 redeemed", pts)
	}
	if txt := card("points.issued_by_reason"); !strings.Contains(txt, "人工调整") || !strings.Contains(txt, "150") {
		t.Errorf("points.issued_by_reason card %q", txt)
	}
	if txt := card("vouchers.issued"); !strings.Contains(txt, "精洗券") {
		t.Errorf("vouchers.issued card %q", txt)
	}
	// The expiring points are a current figure: no previous period.
	if txt := card("points.expiring"); !strings.Contains(txt, "当前数字") || strings.Contains(txt, "上期") {
		t.Errorf("points.expiring card %q", txt)
	}
	b.shot("desktop-25-dashboard-points")
}
