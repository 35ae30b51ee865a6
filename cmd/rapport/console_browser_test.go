package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rapport-crm/rapport/store"
)

// These tests drive the real console and the /chat page in headless
// Chromium (Debian's chromium package; scripts/ensure-chromium.sh installs
// it and `make test` runs that first). Without Chromium they fail: a
// browser test that skips tests nothing. Each screen is saved as a PNG in
// $RAPPORT_SCREENSHOTS (default testdata/screenshots) for people to look at.

const chromiumPath = "/usr/bin/chromium"

// browser is one headless Chromium for a test, and its first tab.
type browser struct {
	t    *testing.T
	ctx  context.Context // the first tab
	root context.Context // the browser: new tabs derive from it
	dir  string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath
	if p := os.Getenv("RAPPORT_CHROMIUM"); p != "" {
		path = p
	}
	if _, err := exec.LookPath(path); err != nil {
		t.Fatalf("Chromium not found at %s (%v): run scripts/ensure-chromium.sh (make test does)", path, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "zh-CN"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start Chromium: %v", err)
	}
	dir := os.Getenv("RAPPORT_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: ctx, root: ctx, dir: dir}
}

// tab opens another tab of the same browser (same cookies).
func (b *browser) tab() *browser {
	ctx, cancel := chromedp.NewContext(b.root)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatal(err)
	}
	return &browser{t: b.t, ctx: ctx, root: b.root, dir: b.dir}
}

// do runs steps with a deadline; a failure names what was being done and
// saves the screen as it was.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.shot("FAILED-" + strings.NewReplacer(" ", "-", "/", "-").Replace(what))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise).
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

// waitText waits until the page's text contains s.
func (b *browser) waitText(s string) {
	b.t.Helper()
	b.do("wait for "+s, waitJS(fmt.Sprintf("document.body.innerText.includes(%q)", s)))
}

func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))
}

// shot saves the whole page as NAME.png.
func (b *browser) shot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	// From the top: a full-page shot of a scrolled page paints the sticky
	// header where the view was.
	chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// signInByCode signs in on the console's page with a code that arrives
// at the fake Telegram in the staff member's chat (their nth message).
func (b *browser) signInByCode(e *e2e, base, name, chat string, nth int, shots string) {
	b.t.Helper()
	b.do("open the console", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#signin-who")))
	if shots != "" {
		b.shot(shots + "01-sign-in")
	}
	b.do("ask for a code", chromedp.SendKeys(chromedp.CSS("#signin-who"), name), chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#signin-code")))
	msg := e.await(chat, nth, "the sign-in code")
	code := sixDigits.FindString(msg.Text)
	if code == "" || !strings.Contains(msg.Text, "控制台登录验证码") {
		b.t.Fatalf("sign-in message = %q", msg.Text)
	}
	if shots != "" {
		b.shot(shots + "02-sign-in-code")
	}
	b.do("sign in", chromedp.SendKeys(chromedp.CSS("#signin-code"), code+"\r"), chromedp.WaitVisible(chromedp.CSS(".inbox, .dash-body")))
}

// TestConsoleInBrowser is the agent's day in a real browser on MariaDB:
// sign in with a code from their own Telegram, see who is waiting, take
// the conversation, answer on the customer's channel, watch the inbox
// update live, find a customer by name and read their page, and chat as a
// website visitor on a phone.
func TestConsoleInBrowser(t *testing.T) {
	start := time.Now()
	b := newBrowser(t)
	e := startE2E(t, store.MySQL)
	managerID := int64(e.bindStaff(manager, "王经理", "manager", 1))

	e.say(customer, "/start", 0)
	e.await(customer, 1, "welcome")
	e.say(customer, "你好，我想预约明天洗车", 0)
	cid := customerID(e, customer)
	// 55 more customers: the list must page past 50 (next_cursor).
	for i := 0; i < 55; i++ {
		e.api("POST", "/customers", map[string]any{"name": fmt.Sprintf("导入客户%02d", i)}, 201)
	}

	b.signInByCode(e, e.base, "王经理", manager, 2, "desktop-")
	// A manager starts on the dashboard; the inbox is one click away.
	b.do("inbox", chromedp.Click(chromedp.CSS(`.nav a[data-screen="inbox"]`)), chromedp.WaitVisible(chromedp.CSS(".inbox")))
	b.waitText("U1001")
	b.shot("desktop-03-inbox")

	// The conversation: the customer's words, then take it and answer.
	b.do("open the conversation", chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[data-customer="%d"]`, cid))),
		chromedp.WaitVisible(chromedp.CSS("#take")))
	b.waitText("我想预约明天洗车")
	b.do("take it", chromedp.Click(chromedp.CSS("#take")), chromedp.WaitNotPresent(chromedp.CSS("#take")))
	conv := e.api("GET", fmt.Sprintf("/customers/%d/conversation", cid), nil, 200)
	if conv["assignee_id"] != float64(managerID) {
		t.Errorf("after take: %v", conv)
	}
	reply := "您好！明天上午十点有空位，帮您约上？"
	b.do("reply", chromedp.SendKeys(chromedp.CSS(fmt.Sprintf("#reply-%d", cid)), reply+"\r"))
	if got := e.await(customer, 2, "the reply on Telegram").Text; got != reply {
		t.Errorf("customer received %q", got)
	}
	// Delivered: the bubble's status follows the outbox live.
	b.do("delivery status", waitJS(`document.querySelector('.msg.by-staff[data-status="sent"]') !== null`))
	b.shot("desktop-04-conversation")

	// A second customer writes while the inbox is open: it updates by itself.
	e.say("1002", "有人吗？我的车洗完了吗", 0)
	b.do("live inbox", waitJS(`document.querySelector('.inbox-list').innerText.includes('U1002')`))
	b.do("title badge", waitJS(`document.title.startsWith('(1)')`))
	b.shot("desktop-05-inbox-live")

	// Customers: the list pages on, a search finds the name, the page shows the story.
	b.do("customers", chromedp.Navigate(e.base+"/console/#/customers"), chromedp.WaitVisible(chromedp.CSS("#customers-more")))
	b.do("next page", chromedp.Click(chromedp.CSS("#customers-more")),
		waitJS(`document.querySelectorAll('.results tbody tr').length === 57`))
	b.do("search", chromedp.Evaluate[chromedp.Void](`document.querySelector('#customer-search').value = ''`), chromedp.SendKeys(chromedp.CSS("#customer-search"), "U1001\r"),
		waitJS(`document.querySelectorAll('.results tbody tr').length === 1`))
	b.shot("desktop-06-customers")
	// An order computes the figures at once; a pinned tier shows as pinned.
	asset := e.api("POST", fmt.Sprintf("/customers/%d/assets", cid), map[string]any{"name": "沪A·12345", "kind": "car", "model": "Model Y", "year": 2022, "next_service_due": "2027-03-01"}, 201)
	e.api("POST", "/orders", map[string]any{"customer_id": cid, "kind": "service", "amount": 1280.5, "order_ref": "SO-9",
		"asset_id": asset["id"], "items": []map[string]any{{"name": "保养", "quantity": 1, "amount": 1280.5}}}, 201)
	e.api("PATCH", fmt.Sprintf("/customers/%d", cid), map[string]any{"tier": "A"}, 200)
	b.do("customer page", chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-id="%d"]`, cid))), chromedp.WaitVisible(chromedp.CSS("#customer-name")))
	b.waitText(reply)
	b.waitText("我想预约明天洗车")
	b.do("customer figures", waitJS(`document.querySelector('#customer-figures') !== null && document.querySelector('[data-panel="stages"] .stage-line') !== null &&
		document.querySelector('[data-panel="orders"] .order-line') !== null && document.querySelector('[data-panel="assets"] .asset-line') !== null`))
	for sel, want := range map[string]string{
		"#customer-tier":                    "等级 A 📌",
		"#customer-stage":                   "新客",
		"#customer-figures":                 "¥1280.50",
		"#customer-clv":                     "¥",
		"#customer-risk":                    "0",
		`[data-panel="stages"] h2`:          "阶段变化",
		`[data-panel="stages"] .stage-line`: "潜在 → 新客",
		`[data-panel="orders"] .order-line`: "保养 × 1 ¥1280.50",
		`[data-panel="assets"] .asset-line`: "下次保养 2027-03-01",
		`[data-panel="surveys"]`:            "还没有评价",
	} {
		if got := eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, sel)); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want it to contain %q", sel, got, want)
		}
	}
	b.shot("desktop-07-customer")

	// The care tab's default date is today in the business zone.
	b.do("care", chromedp.Navigate(e.base+"/console/#/care"), chromedp.WaitVisible(chromedp.CSS("#care-date")))
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	if got := eval[string](b, `document.querySelector('#care-date').value`); got != time.Now().In(shanghai).Format(time.DateOnly) {
		t.Errorf("care date = %s", got)
	}

	// English, with the same screen.
	b.do("English", chromedp.Navigate(e.base+"/console/#/inbox"), chromedp.WaitVisible(chromedp.CSS(".inbox")),
		chromedp.KeyEvent("l"), waitJS(`document.body.innerText.includes('Waiting')`))
	b.shot("desktop-08-inbox-en")
	b.do("back to Chinese", chromedp.KeyEvent("l"), waitJS(`document.body.innerText.includes('待回复')`))

	// A phone: the web chat as a visitor, then the console at 390 px.
	p := b.tab()
	p.do("phone size", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	p.do("open /chat", chromedp.Navigate(e.base+"/chat"), chromedp.WaitVisible(chromedp.CSS("#text")))
	p.do("write", chromedp.SendKeys(chromedp.CSS("#text"), "网页上问一下：周末营业吗？\r"),
		waitJS(`document.querySelectorAll('.msg.in').length === 1 && !document.querySelector('.msg.in.pending')`))
	p.shot("phone-01-chat")
	telegramWait(t, "the web chat message stored", func() bool {
		items := e.api("GET", "/inbox?channel=webchat", nil, 200)["items"].([]any)
		return len(items) == 1 && items[0].(map[string]any)["last_preview"] == "网页上问一下：周末营业吗？"
	})
	p.do("console on a phone", chromedp.Navigate(e.base+"/console/#/inbox"), waitJS(`document.body.innerText.includes('周末营业吗')`))
	p.shot("phone-02-inbox")
	p.do("phone conversation", chromedp.Navigate(fmt.Sprintf("%s/console/#/inbox/%d", e.base, cid)), chromedp.WaitVisible(chromedp.CSS("#reply-"+fmt.Sprint(cid))))
	p.waitText(reply)
	p.shot("phone-03-conversation")
	if w := eval[int](p, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the console is %d px wide at a 390 px phone width", w)
	}
	p.do("phone customer page", chromedp.Navigate(fmt.Sprintf("%s/console/#/customers/%d", e.base, cid)), chromedp.WaitVisible(chromedp.CSS("#customer-name")))
	p.shot("phone-04-customer")

	// Web chat, too fast: the bubble says why it was not sent, in itself
	// (a phone has no hover).
	q := b.tab()
	q.do("phone size", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	q.do("open /chat again", chromedp.Navigate(e.base+"/chat"), chromedp.WaitVisible(chromedp.CSS("#text")))
	for i := 0; i < 8; i++ {
		q.do("write fast", chromedp.SendKeys(chromedp.CSS("#text"), fmt.Sprintf("第%d条\r", i+1)))
	}
	q.do("rate limited", waitJS(`[...document.querySelectorAll('.msg.failed .why')].some(w => w.innerText.includes('发送太频繁') && w.offsetHeight > 0)`))
	q.shot("phone-05-chat-rate-limited")

	// Signing out ends the session: the API refuses the cookie afterwards.
	b.do("sign out", chromedp.Navigate(e.base+"/console/#/account"), chromedp.WaitVisible(chromedp.CSS("#new-password")))
	b.shot("desktop-09-account")
	if status := eval[int](b, `fetch('/console/api/me').then(r => r.status)`); status != 200 {
		t.Fatalf("me before sign-out = %d", status)
	}
	b.do("sign out", chromedp.Click(chromedp.CSS(".top button:last-child")), chromedp.WaitVisible(chromedp.CSS("#signin-who")))
	if status := eval[int](b, `fetch('/console/api/me').then(r => r.status)`); status != 401 {
		t.Errorf("me after sign-out = %d", status)
	}
	t.Logf("browser test took %s", time.Since(start).Round(time.Millisecond))
}

// TestConsoleDatesAndSQLite signs in on SQLite and checks the console's
// human dates in the business zone against fixed instants.
func TestConsoleDatesAndSQLite(t *testing.T) {
	b := newBrowser(t)
	e := startE2E(t, store.SQLite)
	e.bindStaff(agent, "小李", "agent", 1)
	b.signInByCode(e, e.base, "小李", agent, 2, "")
	b.waitText("没有待回复的客户")
	b.shot("desktop-10-inbox-empty")

	// now = 2026-12-02 14:05 in Shanghai (06:05 UTC).
	for _, c := range []struct{ at, want string }{
		{"2026-12-02T06:04:30Z", "刚刚"},
		{"2026-12-02T05:50:00Z", "15分钟前"},
		{"2026-12-02T01:12:00Z", "今天 09:12"},
		{"2026-12-01T17:00:00Z", "今天 01:00"}, // UTC's yesterday, Shanghai's today
		{"2026-12-01T01:12:00Z", "昨天 09:12"},
		{"2026-11-29T03:00:00Z", "3天前"},
		{"2026-11-20T03:00:00Z", "2026-11-20"},
		{"2026-12-03T02:00:00Z", "明天 10:00"},
	} {
		got := eval[string](b, fmt.Sprintf(`import('/console/js/format.js').then(f => { f.setZone('Asia/Shanghai'); return f.when(%q, new Date('2026-12-02T06:05:00Z')); })`, c.at))
		if got != c.want {
			t.Errorf("when(%s) = %q, want %q", c.at, got, c.want)
		}
	}
	if got := eval[string](b, `import('/console/js/format.js').then(f => f.today(new Date('2026-12-01T23:30:00Z')))`); got != "2026-12-02" {
		t.Errorf("today at 07:30 Shanghai = %s, want 2026-12-02", got)
	}
}

// customerID is the customer of a Telegram user.
func customerID(e *e2e, tgUser string) int64 {
	e.t.Helper()
	found := e.api("GET", "/customers?channel=telegram&external_id="+tgUser, nil, 200)["items"].([]any)
	if len(found) != 1 {
		e.t.Fatalf("customer of %s: %v", tgUser, found)
	}
	return int64(found[0].(map[string]any)["id"].(float64))
}

func telegramWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
